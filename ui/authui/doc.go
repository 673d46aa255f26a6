// Package authui holds the templ views of the authorization server's pages:
// login (pick who you are), patient picker, encounter picker, consent and
// the error page. One file per page, a view model struct per page, no logic
// beyond loops and conditionals; mockehr/authz owns the handlers, sessions
// and CSRF. Every form works without JavaScript; every interactive element
// has a data-testid and an accessible label.
package authui
