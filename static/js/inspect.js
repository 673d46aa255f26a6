// The launch inspector's timeline follows its launch live. Progressive
// enhancement: without this script a reload shows the same page.
//
// It listens to the launch's server-sent events (GET /api/launches/{id}/events
// with Accept: text/event-stream: every event so far, then each new one).
// When more events have arrived than the page shows, it fetches the page
// again and swaps in its timeline and summary, so the live view is the
// server's own rendering; open <details> stay open.
"use strict";

(() => {
  const list = document.querySelector("[data-stream]");
  if (!list || !window.EventSource) return;
  const live = document.querySelector("[data-live-label]");
  let shown = list.children.length;
  let received = 0;
  let pending = false;

  const refresh = async () => {
    pending = false;
    const res = await fetch(location.pathname, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const next = doc.querySelector("[data-stream]");
    if (!next) return;
    const open = new Set([...list.querySelectorAll("details[open]")].map((d) => d.dataset.testid));
    for (const d of next.querySelectorAll("details")) if (open.has(d.dataset.testid)) d.open = true;
    list.replaceChildren(...next.children);
    shown = list.children.length;
    for (const id of ["timeline-counts", "timeline-steps"]) {
      const el = document.querySelector(`[data-testid="${id}"]`);
      const src = doc.querySelector(`[data-testid="${id}"]`);
      if (el && src) el.textContent = src.textContent;
    }
    if (received > shown) schedule();
  };
  const schedule = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => refresh().catch(() => { pending = false; }), 150);
  };

  const source = new EventSource(list.dataset.stream);
  source.addEventListener("open", () => {
    received = 0; // the stream starts again from the first event
    if (live) live.textContent = "Following this launch live: new steps appear as they happen.";
  });
  source.addEventListener("inspect", () => {
    received++;
    if (received > shown) schedule();
  });
  source.addEventListener("error", () => {
    if (live) live.textContent = "Live updates paused (reconnecting); reload the page to see new steps.";
  });
})();
