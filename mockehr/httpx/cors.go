package httpx

import (
	"net/http"
	"strings"
)

// CORSAllowedHeaders are the request headers every preflight allows,
// besides any others it asks for.
var CORSAllowedHeaders = []string{"Authorization", "Content-Type", "Accept", "Prefer", "If-Match", "If-None-Match", "If-None-Exist"}

// CORSExposedHeaders are the response headers a browser app may read.
var CORSExposedHeaders = []string{"Location", "ETag", "Content-Location", "Last-Modified", "WWW-Authenticate", "Retry-After"}

// CORSMaxAge is how long, in seconds, a browser may reuse a preflight.
const CORSMaxAge = "600"

var (
	allowedHeaders = strings.Join(CORSAllowedHeaders, ", ")
	exposedHeaders = strings.Join(CORSExposedHeaders, ", ")
)

// CORS is the policy for routes serving a set of methods.
type CORS struct {
	methods string // Access-Control-Allow-Methods
}

// NewCORS is the policy for routes that serve methods (OPTIONS is added).
func NewCORS(methods ...string) CORS {
	return CORS{methods: strings.Join(append(methods, http.MethodOptions), ", ")}
}

// IsPreflight reports whether r is a CORS preflight request.
func IsPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// Handler answers preflights itself and adds the CORS headers to every
// other answer of next.
func (c CORS) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsPreflight(r) {
			c.Preflight(w, r)
			return
		}
		SetCORSHeaders(w, r)
		next.ServeHTTP(w, r)
	})
}

// Preflight answers r as a preflight: 204 with the policy's methods and
// headers. Every method and the usual headers are listed whatever the
// preflight asked, so one cached preflight covers the app's later
// requests to the same URL.
func (c CORS) Preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
	}
	h.Set("Access-Control-Allow-Methods", c.methods)
	h.Set("Access-Control-Allow-Headers", allowHeaders(r.Header.Values("Access-Control-Request-Headers")))
	h.Set("Access-Control-Max-Age", CORSMaxAge)
	w.WriteHeader(http.StatusNoContent)
}

// SetCORSHeaders adds the headers of an answer that is not a preflight:
// the request's origin is allowed and the headers a FHIR or OAuth client
// reads are exposed. A request without Origin gets only Vary.
func SetCORSHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Expose-Headers", exposedHeaders)
	}
}

// allowHeaders is CORSAllowedHeaders plus every other header the
// preflight asked for (a comma-separated list, possibly split over several
// fields, in any order and case), at most maxExtraHeaders of them.
func allowHeaders(requested []string) string {
	seen := map[string]bool{}
	for _, h := range CORSAllowedHeaders {
		seen[strings.ToLower(h)] = true
	}
	out := allowedHeaders
	for _, field := range requested {
		for name := range strings.SplitSeq(field, ",") {
			name = strings.TrimSpace(name)
			key := strings.ToLower(name)
			if seen[key] || !validToken(name) || len(seen) >= len(CORSAllowedHeaders)+maxExtraHeaders {
				continue
			}
			seen[key] = true
			out += ", " + name
		}
	}
	return out
}

// maxExtraHeaders bounds what a preflight can make the answer repeat.
const maxExtraHeaders = 64

// validToken reports whether s is an RFC 9110 token (a header name), so
// nothing else is echoed into a response header.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
