package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCORSPreflight(t *testing.T) {
	var reached bool
	h := NewCORS("GET", "POST", "PUT", "PATCH", "DELETE").Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	for _, asked := range [][]string{
		{"content-type,authorization"}, // not sorted: rs/cors refuses this one
		{"authorization, content-type"},
		{"Authorization"},
		{"authorization", "content-type"}, // split over two fields
		{"if-none-exist,prefer,x-request-id"},
		nil,
	} {
		r := httptest.NewRequest("OPTIONS", "/fhir/Observation/1", nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "PATCH")
		for _, v := range asked {
			r.Header.Add("Access-Control-Request-Headers", v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header()
		if w.Code != 204 || got.Get("Access-Control-Allow-Origin") != "https://app.example" || got.Get("Access-Control-Max-Age") != "600" ||
			got.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%q: %d %v", asked, w.Code, got)
		}
		if m := got.Get("Access-Control-Allow-Methods"); m != "GET, POST, PUT, PATCH, DELETE, OPTIONS" {
			t.Errorf("%q: Allow-Methods %q", asked, m)
		}
		allowed := strings.ToLower(got.Get("Access-Control-Allow-Headers"))
		for _, want := range append([]string{"authorization", "content-type", "accept", "prefer", "if-match", "if-none-match", "if-none-exist"}, strings.Split(strings.ToLower(strings.Join(asked, ",")), ",")...) {
			if want = strings.TrimSpace(want); want != "" && !strings.Contains(allowed, want) {
				t.Errorf("%q: Allow-Headers %q lacks %s", asked, allowed, want)
			}
		}
		if strings.Count(allowed, "authorization") != 1 {
			t.Errorf("%q: Allow-Headers %q repeats a header", asked, allowed)
		}
		if !strings.Contains(got.Get("Vary"), "Origin") {
			t.Errorf("%q: Vary %q", asked, got.Get("Vary"))
		}
	}
	if reached {
		t.Error("a preflight reached the handler")
	}
	// Nothing but header names is echoed.
	r := httptest.NewRequest("OPTIONS", "/x", nil)
	r.Header.Set("Origin", "https://app.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "a b, c\"d, "+strings.Repeat("x,", 1000))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if a := w.Header().Get("Access-Control-Allow-Headers"); strings.Contains(a, " b") || strings.Contains(a, `"`) || len(a) > 500 {
		t.Errorf("Allow-Headers %q", a)
	}
}

func TestCORSActualRequests(t *testing.T) {
	h := NewCORS("GET", "POST").Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for _, method := range []string{"GET", "POST", "TRACE", "OPTIONS"} { // any method's answer is readable
		r := httptest.NewRequest(method, "/x", nil)
		r.Header.Set("Origin", "https://app.example")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header()
		if w.Code != 401 || got.Get("Access-Control-Allow-Origin") != "https://app.example" || got.Get("Vary") != "Origin" {
			t.Errorf("%s: %d %v", method, w.Code, got)
		}
		for _, e := range CORSExposedHeaders {
			if !strings.Contains(got.Get("Access-Control-Expose-Headers"), e) {
				t.Errorf("%s: Expose-Headers %q lacks %s", method, got.Get("Access-Control-Expose-Headers"), e)
			}
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" {
		t.Errorf("no Origin: %v", w.Header())
	}
}
