package authz

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/httpx"
)

// corsPolicy is the one CORS policy (mockehr/httpx) for the authorization
// server's routes, which serve GET and POST.
var corsPolicy = httpx.NewCORS(http.MethodGet, http.MethodPost)

// cors answers browser apps (SMART 2.2 app-launch §CORS; DISC-14, SAP-06,
// X-02) on a route of the authorization server.
func cors(next http.Handler) http.Handler { return corsPolicy.Handler(next) }

// usedBasic reports whether the request authenticated with HTTP Basic.
func usedBasic(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	return len(a) > 6 && strings.EqualFold(a[:6], "basic ")
}

// oauthErrorBody is the RFC 6749 §5.2 error body.
type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError is the one place OAuth errors become JSON (token,
// revocation, introspection): the status of the code, Cache-Control:
// no-store and Pragma: no-cache (RFC 6749 §5.1; ERR-08), and on a 401 the
// error's challenge, or a Basic one when the client used Basic (§5.2).
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	e := asOAuthError(err)
	status := e.status()
	if e.cause != nil || status >= 500 {
		s.log.ErrorContext(r.Context(), "oauth error", "path", r.URL.Path, "error", e.Code, "description", e.Description, "cause", e.cause)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if status == http.StatusUnauthorized {
		switch {
		case e.Challenge != "":
			h.Set("WWW-Authenticate", e.Challenge)
		case usedBasic(r):
			h.Set("WWW-Authenticate", `Basic realm="ehrsim", error="`+e.Code+`"`)
		}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(oauthErrorBody{Error: e.Code, Description: e.Description})
}
