// Package ui renders ehrsim's own pages with templ: the launcher page, the
// simulated EHR, the clients page, the docs page and the site-wide error
// pages. Each page has a view-model struct and a templ component; handlers
// build the view model and render. The authorization server's pages
// (login, pickers, consent) live in ui/authui; the frame in ui/layout.
//
// Pages work without JavaScript (forms post and re-render); static/js adds
// small enhancements only. Every interactive element has a data-testid and
// an accessible label, which the e2e suite relies on.
//
// ui owns presentation only: it calls the launcher, the directory and the
// client registry through the interfaces in Handler and never touches
// storage or tokens itself.
package ui
