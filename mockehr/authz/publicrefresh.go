package authz

import (
	"net/http"

	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// publicRefreshClient lets a public client refresh without sending its
// client_id, as SMART App Launch 2.2 §refresh lists only grant_type,
// refresh_token and scope for public apps (and fhirclient sends just those).
// zitadel refuses a token request naming no client before our VerifyClient
// runs, so when a refresh request carries no client credentials at all and
// its refresh token belongs to a public client, the client_id is filled in
// from the token. A confidential client's refresh token presented without
// credentials is answered invalid_client.
func (s *Server) publicRefreshClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/auth/oauth/token" && r.Header.Get("Authorization") == "" {
			// ParseForm reads the body once; zitadel's own ParseForm is then a no-op.
			if err := r.ParseForm(); err == nil &&
				r.PostForm.Get("grant_type") == "refresh_token" &&
				r.PostForm.Get("client_id") == "" && r.PostForm.Get("client_assertion") == "" {
				if e, ok := s.tokens.lookup(r.PostForm.Get("refresh_token")); ok && e.kind == kindRefresh {
					if e.fam.Client.Client.Type != clients.TypePublic {
						// RFC 6749 §5.2: no client authentication included → invalid_client.
						writeOAuthError(w, http.StatusUnauthorized, "invalid_client",
							"this refresh token belongs to a confidential client: authenticate it (client_secret_basic, client_secret_post or private_key_jwt)")
						return
					}
					r.PostForm.Set("client_id", e.fam.Client.Client.ID)
					r.Form.Set("client_id", e.fam.Client.Client.ID)
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
