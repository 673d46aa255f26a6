// Package ui renders ehrsim's own pages with templ: the launcher page, the
// simulated EHR, the clients page, the docs page, the launch inspector's
// pages (/inspect, /inspect/{launch id}, /clients/{id}/report) and the
// site-wide error pages. Each page has a view-model struct and a templ
// component; handlers build the view model and render. The authorization server's pages
// (login, pickers, consent) live in ui/authui; the frame in ui/layout.
//
// Pages work without JavaScript (forms post and re-render); static/js adds
// small enhancements only (copy buttons, hiding field groups that do not
// apply to the launch type, live script preview, encounter refresh). Every
// interactive element has a data-testid and an accessible label, which the
// e2e suite relies on. Validation errors from the launcher and the client
// registry are shown next to the named field (aria-describedby).
//
// ui owns presentation only: it calls the launcher, the directory and the
// client registry through the interfaces in Handler (Launches, Clients,
// smart.Directory, optional Allergies) and never touches storage or tokens.
//
// Design choices:
//   - The launcher form's state is the launch API's JSON names flattened
//     into the query string (client.client_id → client_id), so a configured
//     launch is a bookmarkable URL; GET /?…&mint=1 mints from a link. The
//     client secret is never put in a link.
//   - Fields that do not apply to the chosen launch type are not sent (the
//     launcher refuses, e.g., a patient on a backend-service launch).
//   - /ehr must give the app need_patient_banner=false (the EHR draws the
//     banner). It asks the launcher for the framed variant of the launch
//     (launcher.Service.Framed): the same launch (id, expiry, single use)
//     sealed with need_patient_banner false, and the app URL for the frame
//     with the app's own query parameters kept.
//   - Every HTML answer goes through Handler.render, which also sends
//     Content-Security-Policy: frame-ancestors 'self' and X-Frame-Options:
//     SAMEORIGIN (as the authorization pages do): same-origin framing
//     only. The sample app is served by package static, not here.
//   - The inspector pages read the launch inspector (mockehr/inspect)
//     through the Inspector interface. The timeline follows a running
//     launch with static/js/inspect.js: it listens to the launch's
//     server-sent events and, when more events arrived than the page shows,
//     fetches the page again and swaps the timeline in, so the live view is
//     the server's rendering and a reload without JavaScript shows the same.
//     /inspect?launch= accepts a launch id, a launch code or a /sim scenario
//     id (what an app knows) and redirects to the launch's timeline.
//   - The simulated errors the launcher offers and explains, and the
//     simulated EHR's badge, come from the catalogue smart.SimulatedErrors.
package ui
