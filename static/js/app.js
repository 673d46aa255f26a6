// Small progressive enhancements; every page works without this file.
document.documentElement.classList.add("js");

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

// Forms with data-confirm ask before submitting (delete buttons).
document.addEventListener("submit", (ev) => {
  const msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("launch-form");
  if (form) enhanceLauncher(form);
  const result = document.getElementById("launch-result");
  if (result) result.focus();
});

// enhanceLauncher: show only the groups that apply to the launch type,
// explain the chosen simulated error, add fhirContext rows, refresh the
// encounter chooser when the patient changes, and keep the script preview
// and the bookmark link in step with the form.
function enhanceLauncher(form) {
  const clientID = form.querySelector("#client_id");
  const applyType = () => {
    const type = form.querySelector('input[name="launch_type"]:checked')?.value;
    for (const el of form.querySelectorAll("[data-applies]")) {
      const types = el.getAttribute("data-applies");
      const on = types === "all" || types.split(" ").includes(type);
      el.hidden = !on;
      for (const input of el.querySelectorAll("input, select, textarea")) {
        input.disabled = !on || input.dataset.blocked === "true";
      }
    }
    // A backend service launch works from its defaults with the demo
    // backend client; leaving backend takes it back (it can only do
    // client_credentials, so no other launch type could use it).
    const backend = type === "backend-service";
    if (clientID) {
      if (backend && clientID.value === "") clientID.value = "demo-backend";
      else if (!backend && clientID.value === "demo-backend") clientID.value = "";
      const note = form.querySelector('[data-testid="backend-client-id"]');
      if (note) note.textContent = clientID.value || "demo-backend";
    }
    // Simulated errors that cannot happen without a browser are not offered
    // to a backend service.
    for (const opt of sim.querySelectorAll("option[data-backend]")) {
      opt.disabled = backend && opt.dataset.backend === "false";
    }
    if (sim.selectedOptions[0]?.disabled) {
      sim.value = "";
      explainSim();
    }
  };

  // Skip login: the server says whether it can take effect (a patient
  // launch needs one chosen patient) and explains it either way.
  const skipLogin = form.querySelector("#skip_login");
  const skipHint = document.getElementById("skip-login-hint");
  const applySkipLogin = (p) => {
    if (!skipLogin || !skipLogin.closest("[data-applies]") || skipLogin.closest("[data-applies]").hidden) return;
    const blocked = p.skip_login_reason !== "";
    if (blocked && skipLogin.checked) skipLogin.dataset.wanted = "1";
    if (!blocked && skipLogin.dataset.wanted) {
      skipLogin.checked = true;
      delete skipLogin.dataset.wanted;
    }
    if (blocked) skipLogin.checked = false;
    skipLogin.disabled = blocked;
    skipLogin.dataset.blocked = String(blocked);
    if (skipHint) skipHint.textContent = p.skip_login_hint;
  };

  const advanced = form.querySelector("#advanced");
  const advancedState = form.querySelector("#advanced-state");
  if (advanced && advancedState) {
    advanced.addEventListener("toggle", () => {
      advancedState.disabled = !advanced.open;
      preview();
    });
  }

  const sim = form.querySelector("#simulate_error");
  const explainSim = () => {
    const opt = sim.selectedOptions[0];
    document.getElementById("sim-error-explanation").textContent = opt?.dataset.explanation || "";
  };

  const addRow = form.querySelector("[data-add-row]");
  if (addRow) {
    addRow.hidden = false;
    addRow.addEventListener("click", () => {
      const body = form.querySelector(addRow.getAttribute("data-add-row"));
      const last = body.lastElementChild;
      const row = last.cloneNode(true);
      const n = body.children.length;
      for (const input of row.querySelectorAll("input")) {
        input.value = "";
        input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(n + 1)));
        input.dataset.testid = input.dataset.testid.replace(/\d+$/, String(n));
      }
      body.append(row);
      row.querySelector("input").focus();
    });
  }

  const encounter = form.querySelector("#encounter");
  const refreshEncounters = async (patient) => {
    const url = encounter.dataset.encounters + "?" + new URLSearchParams({ patient, encounter: encounter.value });
    const res = await fetch(url);
    if (res.ok) encounter.innerHTML = await res.text();
  };

  let timer;
  const preview = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const data = new FormData(form);
      data.delete("client_secret"); // never in a URL
      const res = await fetch(form.dataset.preview + "?" + new URLSearchParams(data));
      if (!res.ok) return;
      const p = await res.json();
      document.getElementById("preview-curl").textContent = p.curl;
      document.getElementById("permalink").href = p.permalink;
      history.replaceState(null, "", p.permalink);
      applySkipLogin(p);
    }, 200);
  };

  form.addEventListener("change", (ev) => {
    if (ev.target === skipLogin) delete skipLogin.dataset.wanted;
    if (ev.target.name === "launch_type") applyType();
    if (ev.target === sim) explainSim();
    if (ev.target.name === "patient") refreshEncounters(ev.target.value);
    preview();
  });
  form.addEventListener("input", preview);
  applyType();
}
