// ehrsim sample SMART app — plain JavaScript, no library, meant to be read.
//
// The SMART App Launch flow (https://hl7.org/fhir/smart-app-launch/app-launch.html):
//   launch.html  1. read iss (+ launch for an EHR launch) from the URL
//                2. discovery: GET {iss}/.well-known/smart-configuration
//                   (the scopes: the launch URL's own scope parameter, which
//                   the ehrsim launcher sets from its scope presets, or the
//                   defaults below)
//                3. PKCE: make a code_verifier and its S256 code_challenge
//                4. remember verifier + endpoints under a random state, redirect to authorize
//   index.html   5. come back with ?code&state (or ?error&state), check state
//                6. exchange the code at the token endpoint (public client: no secret)
//                7. read Patient, Encounter and vital signs from the FHIR server
//   "Refresh token" button: the refresh_token grant.
"use strict";

const CLIENT_ID = "sample-app";
const REDIRECT_URI = new URL("index.html", location.href).href.split("?")[0];
const EHR_SCOPE = "launch openid fhirUser offline_access patient/*.rs user/*.rs";
const STANDALONE_SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs";
const SESSION_KEY = "sample-app:session"; // the token response after a successful launch

document.addEventListener("DOMContentLoaded", () => {
  const run = document.body.dataset.page === "launch" ? startLaunch : completeLaunch;
  run().catch((err) => showError("Unexpected error", String(err && err.message ? err.message : err)));
});

// ---------------------------------------------------------------- launch.html

async function startLaunch() {
  const params = new URLSearchParams(location.search);
  const iss = params.get("iss");
  const launch = params.get("launch"); // present only for EHR launches
  if (!iss) {
    setStatus("No iss in the URL: enter a FHIR base URL to do a standalone launch.");
    document.getElementById("standalone").hidden = false;
    return;
  }

  if (!window.crypto || !crypto.subtle) {
    // PKCE needs crypto.subtle, which browsers give only to secure contexts.
    showError("No Web Crypto", "crypto.subtle is unavailable: open the app over https or on localhost.");
    return;
  }
  setStatus("Discovering the authorization server of " + iss + " …");
  const config = await discover(iss);
  if (!config) return;

  // PKCE (RFC 7636): a random verifier, and its SHA-256 as the challenge.
  const verifier = randomString(32);
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));

  // state protects the redirect back (CSRF); it also keys what we must remember.
  const state = randomString(16);
  const scope = params.get("scope") || (launch ? EHR_SCOPE : STANDALONE_SCOPE);
  sessionStorage.setItem("sample-app:state:" + state, JSON.stringify({
    iss: iss,
    launch: launch,
    scope: scope,
    tokenEndpoint: config.token_endpoint,
    managementEndpoint: config.management_endpoint || "",
    verifier: verifier,
  }));

  const authorize = new URL(config.authorization_endpoint);
  const q = authorize.searchParams;
  q.set("response_type", "code");
  q.set("client_id", CLIENT_ID);
  q.set("redirect_uri", REDIRECT_URI);
  q.set("scope", scope);
  q.set("state", state);
  q.set("aud", iss); // the FHIR server the token is for (SMART requires it)
  q.set("code_challenge", challenge);
  q.set("code_challenge_method", "S256");
  if (launch) q.set("launch", launch);

  setStatus("Redirecting to " + authorize.origin + authorize.pathname + " …");
  location.assign(authorize.href);
}

// discover fetches the SMART configuration document of a FHIR base URL.
async function discover(iss) {
  const url = iss.replace(/\/$/, "") + "/.well-known/smart-configuration";
  let res;
  try {
    res = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (err) {
    showError("Discovery failed", "GET " + url + ": " + err.message + " (is the URL right, and does the server allow CORS?)");
    return null;
  }
  if (!res.ok) {
    showError("Discovery failed", "GET " + url + " answered " + res.status);
    return null;
  }
  const config = await res.json();
  if (!config.authorization_endpoint || !config.token_endpoint) {
    showError("Discovery failed", url + " has no authorization_endpoint or token_endpoint");
    return null;
  }
  return config;
}

// ---------------------------------------------------------------- index.html

async function completeLaunch() {
  const params = new URLSearchParams(location.search);
  if (params.has("code") || params.has("error")) {
    const session = await finishAuthorization(params);
    // Drop code and state from the address bar: a reload must not reuse them.
    history.replaceState(null, "", REDIRECT_URI);
    if (!session) return;
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  }
  const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  if (!session) {
    setStatus("Not launched yet. Start from the ehrsim launcher, or open launch.html.");
    return;
  }
  showSession(session);
  showUser(session);
  await loadPatientData(session);
  document.getElementById("refresh").addEventListener("click", () => refresh(session));
}

// finishAuthorization checks state and exchanges the code for tokens.
async function finishAuthorization(params) {
  const state = params.get("state");
  const saved = state && sessionStorage.getItem("sample-app:state:" + state);
  if (params.has("error")) {
    // The authorization server said no (or a simulated error): show what it sent.
    showError("Authorization failed: " + params.get("error"),
      (params.get("error_description") || "(no error_description)") + (saved ? "" : " — state did not match a launch of this app"));
    setStatus("Authorization failed.");
    return null;
  }
  if (!saved) {
    showError("Unknown state", "The state " + JSON.stringify(state) + " was not issued by this app in this tab; refusing the code (CSRF protection).");
    return null;
  }
  sessionStorage.removeItem("sample-app:state:" + state); // each state is used once
  const launch = JSON.parse(saved);

  setStatus("Exchanging the authorization code …");
  const token = await tokenRequest(launch.tokenEndpoint, {
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: REDIRECT_URI,
    client_id: CLIENT_ID,
    code_verifier: launch.verifier,
  });
  if (!token) {
    setStatus("The token request failed.");
    return null;
  }
  return { iss: launch.iss, launch: launch.launch, scope: launch.scope, tokenEndpoint: launch.tokenEndpoint,
    managementEndpoint: launch.managementEndpoint, token: token };
}

// tokenRequest POSTs a form to the token endpoint; it returns the JSON body,
// or null after showing the OAuth error.
async function tokenRequest(endpoint, form) {
  let res;
  try {
    res = await fetch(endpoint, {
      method: "POST",
      // No cookies: the token endpoint authenticates the client, not a
      // browser session. This also keeps the browser from popping up a
      // password dialog when an error answer carries WWW-Authenticate: Basic.
      credentials: "omit",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams(form),
    });
  } catch (err) {
    showError("Token request failed", "POST " + endpoint + ": " + err.message);
    return null;
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    showError("Token request failed: " + res.status + " " + (body.error || ""),
      body.error_description || JSON.stringify(body));
    return null;
  }
  return body;
}

// showSession renders the token response (tokens redacted) and the context.
function showSession(session) {
  const t = session.token;
  const redacted = {};
  for (const [k, v] of Object.entries(t)) {
    redacted[k] = /_token$/.test(k) && typeof v === "string" ? "<redacted, " + v.length + " characters>" : v;
  }
  text("token-response", JSON.stringify(redacted, null, 2));
  showTokens(t);
  text("scope-requested", session.scope || "(not recorded)");
  text("scope-granted", t.scope || "(absent)");
  text("id-token-claims", t.id_token ? JSON.stringify(decodeJWT(t.id_token), null, 2) : "(no id_token: openid was not granted)");
  text("need-patient-banner", "need_patient_banner" in t ? String(t.need_patient_banner) : "(absent)");
  text("fhir-context", t.fhirContext ? JSON.stringify(t.fhirContext, null, 2) : "(absent)");
  text("iss", session.iss);
  showInspectLink(session);
  // The server's management_endpoint (SMART discovery): where the user sees
  // and revokes the access this app holds.
  const manage = document.getElementById("manage-link");
  if (manage && session.managementEndpoint) {
    manage.href = session.managementEndpoint;
    manage.hidden = false;
  }
  document.getElementById("refresh").disabled = !t.refresh_token;
}

// showInspectLink points "Inspect this launch" at ehrsim's launch inspector
// (an ehrsim feature, not SMART): it finds the launch by the launch code of
// an EHR launch, or by the scenario in a standalone launch's /sim/…/fhir base.
function showInspectLink(session) {
  const iss = new URL(session.iss);
  const scenario = (iss.pathname.match(/\/sim\/([^/]+)\/fhir\/?$/) || [])[1];
  const key = session.launch || (scenario && decodeURIComponent(scenario));
  if (!key) return;
  const link = document.getElementById("inspect-link");
  link.href = new URL("/inspect?launch=" + encodeURIComponent(key), iss.origin).href;
  link.hidden = false;
}

// loadPatientData reads the patient, the encounter and recent vital signs.
async function loadPatientData(session) {
  const t = session.token;
  if (!t.patient) {
    setStatus("Signed in as " + (decodeJWT(t.id_token || "").fhirUser || "an unknown user") + "; no patient in context.");
    return;
  }
  setStatus("Reading patient " + t.patient + " …");
  const patient = await fhirGet(session, "Patient/" + encodeURIComponent(t.patient));
  if (patient) {
    text("patient-name", patientName(patient));
    text("patient-details", [patient.gender, patient.birthDate && "born " + patient.birthDate].filter(Boolean).join(", "));
  }

  if (t.encounter) {
    const enc = await fhirGet(session, "Encounter/" + encodeURIComponent(t.encounter));
    if (enc) text("encounter", describeEncounter(enc));
  } else if (session.launch || /(^| )launch\/encounter( |$)/.test(session.scope || "")) {
    text("encounter", "None in the launch context: the patient has no current encounter, or the launch chose NONE.");
  } else {
    text("encounter", "None: a standalone launch gets an encounter only when the app asks for launch/encounter (on the launcher: Scopes the sample app asks for).");
  }

  const bundle = await fhirGet(session, "Observation?patient=" + encodeURIComponent(t.patient) +
    "&category=vital-signs&_sort=-date&_count=20");
  if (bundle) showVitals((bundle.entry || []).map((e) => e.resource));
  setStatus(document.getElementById("error-panel").hidden ? "Done." : "Done, with errors (listed below).");
}

// showUser names the signed-in user: the fhirUser claim of the id_token,
// read from the FHIR server when the granted scopes allow it.
async function showUser(session) {
  const claims = decodeJWT(session.token.id_token || "");
  const ref = claims.fhirUser;
  if (!ref) {
    text("signed-in-user", session.token.id_token ? "Signed in (no fhirUser claim)" : "Signed-in user unknown: openid and fhirUser were not granted");
    return;
  }
  const path = ref.replace(/^.*\/((Patient|Practitioner|RelatedPerson|Person)\/[^/]+)$/, "$1");
  let name = "";
  try {
    const res = await fetch(session.iss.replace(/\/$/, "") + "/" + path, {
      credentials: "omit",
      headers: { Accept: "application/fhir+json", Authorization: "Bearer " + session.token.access_token },
    });
    if (res.ok) name = patientName(await res.json());
  } catch (err) {
    // The name is a nicety: the reference below still says who it is.
  }
  text("signed-in-user", "Signed in as " + (name ? name + " (" + path + ")" : path));
}

// showTokens lists each token hidden, with a button to show it and one to
// copy it (the token response above stays redacted).
function showTokens(t) {
  const list = document.getElementById("tokens");
  if (!list) return;
  list.replaceChildren();
  for (const [k, v] of Object.entries(t)) {
    if (!/_token$/.test(k) || typeof v !== "string") continue;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    const code = document.createElement("code");
    code.className = "token";
    code.dataset.testid = "token-" + k;
    code.textContent = "•".repeat(12) + " (" + v.length + " characters)";
    const show = document.createElement("button");
    show.type = "button";
    show.textContent = "Show";
    show.setAttribute("aria-label", "Show " + k);
    show.setAttribute("aria-pressed", "false");
    show.addEventListener("click", () => {
      const shown = show.getAttribute("aria-pressed") === "true";
      code.textContent = shown ? "•".repeat(12) + " (" + v.length + " characters)" : v;
      show.textContent = shown ? "Show" : "Hide";
      show.setAttribute("aria-label", (shown ? "Show " : "Hide ") + k);
      show.setAttribute("aria-pressed", String(!shown));
    });
    const copy = document.createElement("button");
    copy.type = "button";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", "Copy " + k);
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(v);
        copy.textContent = "Copied";
      } catch (err) {
        copy.textContent = "Copy failed: " + err.message;
      }
      setTimeout(() => (copy.textContent = "Copy"), 1500);
    });
    dd.append(code, " ", show, " ", copy);
    list.append(dt, dd);
  }
}

// fhirGet reads from the FHIR server with the access token. On failure it
// shows the status, the OperationOutcome diagnostics and WWW-Authenticate.
async function fhirGet(session, path) {
  const url = session.iss.replace(/\/$/, "") + "/" + path;
  let res;
  try {
    res = await fetch(url, {
      credentials: "omit", // the bearer token is the only credential
      headers: { Accept: "application/fhir+json", Authorization: "Bearer " + session.token.access_token },
    });
  } catch (err) {
    showError("FHIR request failed", "GET " + url + ": " + err.message);
    return null;
  }
  if (res.ok) return res.json();

  const body = await res.json().catch(() => null);
  const issues = body && body.resourceType === "OperationOutcome"
    ? body.issue.map((i) => i.diagnostics || (i.details && i.details.text) || i.code).join("; ")
    : "(no OperationOutcome)";
  const details = [issues];
  const wwwAuth = res.headers.get("WWW-Authenticate");
  if (wwwAuth) details.push("WWW-Authenticate: " + wwwAuth);
  const retry = res.headers.get("Retry-After");
  if (retry) details.push("Retry-After: " + retry);
  showError("FHIR " + res.status + " on GET " + path, details.join(" — "));
  return null;
}

// refresh uses the refresh token (offline_access) to get a new access token.
async function refresh(session) {
  const out = document.getElementById("refresh-result");
  out.textContent = "Refreshing …";
  const token = await tokenRequest(session.tokenEndpoint, {
    grant_type: "refresh_token",
    refresh_token: session.token.refresh_token,
    client_id: CLIENT_ID,
  });
  if (!token) {
    out.textContent = "Refresh failed (see errors).";
    return;
  }
  // Context parameters may be absent on refresh; keep the ones we had.
  session.token = Object.assign({}, session.token, token);
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  showSession(session);
  out.textContent = "New access token received at " + new Date().toLocaleTimeString() + ".";
}

// ---------------------------------------------------------------- rendering

function showVitals(observations) {
  const tbody = document.querySelector('[data-testid="vitals"] tbody');
  tbody.replaceChildren();
  if (observations.length === 0) {
    const row = tbody.insertRow();
    const cell = row.insertCell();
    cell.colSpan = 3;
    cell.textContent = "No vital signs recorded.";
    return;
  }
  for (const obs of observations) {
    const row = tbody.insertRow();
    row.insertCell().textContent = (obs.effectiveDateTime || (obs.effectivePeriod && obs.effectivePeriod.start) || "").slice(0, 10);
    row.insertCell().textContent = codeText(obs.code);
    row.insertCell().textContent = observationValue(obs);
  }
}

function patientName(p) {
  const n = (p.name || [])[0];
  if (!n) return "(no name)";
  return n.text || [].concat(n.prefix || [], n.given || [], n.family || []).join(" ");
}

function describeEncounter(e) {
  const type = (e.type || []).map(codeText).join(", ") || (e["class"] && (e["class"].display || e["class"].code)) || "Encounter";
  const start = e.period && e.period.start ? " since " + e.period.start.slice(0, 10) : "";
  return type + " (" + e.status + ")" + start;
}

// codeText is the text a clinician reads for a CodeableConcept: its text,
// else its first coding's display without terminology housekeeping — the
// SNOMED CT semantic tag ("Allergy to tree pollen (finding)") and LOINC's
// panel wording ("Blood pressure panel with all children optional").
// The codes stay in the data; only the display changes.
function codeText(cc) {
  if (!cc) return "";
  const raw = cc.text || ((cc.coding || [])[0] || {}).display || ((cc.coding || [])[0] || {}).code || "";
  return clinicalText(raw);
}

const SEMANTIC_TAG = /\s+\((finding|disorder|procedure|situation|regime\/therapy|observable entity|substance|event|qualifier value|body structure|morphologic abnormality|physical object|environment|record artifact|organism|product|medicinal product|specimen|assessment scale|social concept|person)\)$/;

function clinicalText(s) {
  return s.replace(SEMANTIC_TAG, "").replace(/ panel with all children optional$/, "");
}

// observationValue formats a valueQuantity, or the components of a blood
// pressure panel as "120/80 mmHg".
function observationValue(obs) {
  const q = (v) => (v ? round(v.value) + " " + (v.unit || v.code || "") : "");
  if (obs.valueQuantity) return q(obs.valueQuantity).trim();
  if (obs.component && obs.component.length) {
    const vals = obs.component.map((c) => c.valueQuantity).filter(Boolean);
    if (vals.length) return vals.map((v) => round(v.value)).join("/") + " " + (vals[0].unit || "");
  }
  if (obs.valueString) return obs.valueString;
  if (obs.valueCodeableConcept) return codeText(obs.valueCodeableConcept);
  return "";
}

function round(x) {
  return typeof x === "number" ? Math.round(x * 10) / 10 : x;
}

// ---------------------------------------------------------------- helpers

function setStatus(msg) {
  text("status", msg);
}

function text(id, value) {
  const el = document.getElementById(id) || document.querySelector('[data-testid="' + id + '"]');
  if (el) el.textContent = value;
}

// showError adds a line to the visible error panel.
function showError(title, detail) {
  const panel = document.getElementById("error-panel");
  panel.hidden = false;
  const li = document.createElement("li");
  const strong = document.createElement("strong");
  strong.textContent = title;
  li.append(strong, ": " + detail);
  document.getElementById("errors").append(li);
}

function randomString(bytes) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(buf) {
  const bin = String.fromCharCode(...new Uint8Array(buf));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// decodeJWT returns a JWT's claims WITHOUT verifying the signature: fine for
// display; a real app verifies the id_token against the issuer's JWKS.
function decodeJWT(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    return {};
  }
}
