package authz

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// cors answers browser apps (SMART 2.2 app-launch §CORS; DISC-14, X-02):
// any origin, no credentials, preflights allowed for the headers asked.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if origin := r.Header.Get("Origin"); origin != "" {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
				h.Set("Access-Control-Allow-Headers", rh)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenEndpointGuard wraps zitadel's router for the token and revocation
// endpoints: POST only (ERR-06), Cache-Control: no-store and Pragma:
// no-cache on every answer including errors (RFC 6749 §5.1, TOK-02, ERR-08),
// and invalid_client answered 401 with WWW-Authenticate (RFC 6749 §5.2,
// ERR-01, TOK-18/19) — zitadel's Server path answers it 400.
func tokenEndpointGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p != "/auth/oauth/token" && p != "/auth/revoke" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST with application/x-www-form-urlencoded")
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded (RFC 6749 §3.2)")
			return
		}
		ew := &errorRewriter{ResponseWriter: w, challenge: challengeFor(r)}
		next.ServeHTTP(ew, r)
		if ew.status != 0 && !ew.written {
			w.WriteHeader(ew.status)
		}
	})
}

// errorRewriter holds back an error status until it has seen the JSON body,
// so invalid_client can be turned into 401 + WWW-Authenticate.
type errorRewriter struct {
	http.ResponseWriter
	status    int
	written   bool
	challenge string
}

// challengeFor picks the WWW-Authenticate challenge of a 401 invalid_client.
// RFC 6749 §5.2 asks for the scheme the client used when it authenticated
// with the Authorization header (Basic). Clients that sent credentials in
// the body or a client assertion get a Bearer challenge instead: HTTP needs
// some challenge on a 401, and a Basic one makes browsers pop a password
// dialog over a same-origin app's fetch.
func challengeFor(r *http.Request) string {
	if a := r.Header.Get("Authorization"); len(a) > 6 && strings.EqualFold(a[:6], "basic ") {
		return `Basic realm="ehrsim", error="invalid_client"`
	}
	return `Bearer realm="ehrsim", error="invalid_client"`
}

func (e *errorRewriter) WriteHeader(code int) {
	if code == http.StatusBadRequest && !e.written {
		e.status = code
		return
	}
	if code == http.StatusUnauthorized && e.Header().Get("WWW-Authenticate") == "" {
		e.Header().Set("WWW-Authenticate", e.challenge)
	}
	e.written = true
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.status != 0 && !e.written {
		code := e.status
		if bytes.Contains(b, []byte(`"error":"invalid_client"`)) {
			code = http.StatusUnauthorized
			e.Header().Set("WWW-Authenticate", e.challenge)
		}
		e.written = true
		e.ResponseWriter.WriteHeader(code)
	}
	e.written = true
	return e.ResponseWriter.Write(b)
}

// oauthError is the RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", `Bearer realm="ehrsim", error="`+code+`"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(oauthError{Error: code, Description: desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
