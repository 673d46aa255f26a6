// Package authui holds the authorization server's pages: login (pick who
// you are), patient picker, encounter picker, consent, access management
// (SMART management_endpoint) and the error page. Handler owns their routes
// under /auth and their presentation (templ views, one file per page, a
// view model struct per page, no logic beyond loops and conditionals);
// mockehr/authz owns the authorization requests, sessions, CSRF and every
// decision, reached through the small Flow interface (*authz.Server
// implements it; the contract types are in mockehr/smart). Every form works
// without JavaScript; every interactive element has a data-testid and an
// accessible label.
package authui
