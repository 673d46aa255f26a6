// Small progressive enhancements; every page works without this file.
// Copy buttons: <button data-copy="#target-id">.
document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("[data-copy]");
  if (!btn) return;
  const el = document.querySelector(btn.getAttribute("data-copy"));
  if (!el) return;
  const text = "value" in el && el.value !== undefined ? el.value : el.textContent;
  navigator.clipboard?.writeText(text.trim()).then(() => {
    const old = btn.textContent;
    btn.textContent = "Copied";
    setTimeout(() => (btn.textContent = old), 1200);
  });
});
