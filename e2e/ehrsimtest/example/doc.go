// Package example is a user's test suite written only against ehrsimtest's
// public API, as a SMART app's own repository would have it: one ehrsim
// shared by every test from TestMain, a small SMART app served by
// httptest, its EHR launch end to end with golang.org/x/oauth2, a simulated
// error the app must handle, and an API test with a directly issued token.
// The app is in app_test.go, the tests in example_test.go.
package example
