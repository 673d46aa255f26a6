package authz

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

const sessionCookie = "ehrsim_auth"

// newSessionStore builds the login cookie store with keys kept in the
// database (so sessions survive a restart): HttpOnly, SameSite=Lax, Secure
// when the base URL is https.
func newSessionStore(ctx context.Context, db *store.DB, base string, life time.Duration) (*sessions.CookieStore, error) {
	hashKey, err := db.Secret(ctx, "authz-session-hash", func() ([]byte, error) { return []byte(randomHandle(48)), nil })
	if err != nil {
		return nil, err
	}
	blockKey, err := db.Secret(ctx, "authz-session-block", nil) // 32 random bytes: AES-256
	if err != nil {
		return nil, err
	}
	cs := sessions.NewCookieStore(hashKey, blockKey)
	cs.Options = &sessions.Options{
		Path:     "/auth",
		MaxAge:   int(life / time.Second),
		HttpOnly: true,
		Secure:   strings.HasPrefix(base, "https://"),
		SameSite: http.SameSiteLaxMode,
	}
	return cs, nil
}

// browserSession wraps the login cookie: a browser id (binds auth requests
// to the browser that started them), a CSRF token, and the signed-in user.
type browserSession struct {
	s     *sessions.Session
	dirty bool
}

func (s *Server) session(r *http.Request) *browserSession {
	sess, _ := s.sessions.Get(r, sessionCookie) // a bad cookie yields a fresh session
	bs := &browserSession{s: sess}
	if bs.str("bid") == "" {
		sess.Values["bid"] = randomHandle(16)
		bs.dirty = true
	}
	if bs.str("csrf") == "" {
		sess.Values["csrf"] = randomHandle(24)
		bs.dirty = true
	}
	return bs
}

func (b *browserSession) str(k string) string { v, _ := b.s.Values[k].(string); return v }
func (b *browserSession) isNew() bool         { return b.dirty }
func (b *browserSession) browserID() string   { return b.str("bid") }
func (b *browserSession) sessionID() string   { return b.str("sid") }
func (b *browserSession) user() string        { return b.str("user") }
func (b *browserSession) csrf() string        { return b.str("csrf") }

func (b *browserSession) checkCSRF(token string) bool {
	want := b.csrf()
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

// signIn records the user; a new login session id is started when the user
// changes (online_access tokens are bound to it).
func (b *browserSession) signIn(ref string) {
	if b.user() != ref || b.sessionID() == "" {
		b.s.Values["sid"] = randomHandle(16)
	}
	b.s.Values["user"] = ref
	b.dirty = true
}

func (b *browserSession) signOut() {
	delete(b.s.Values, "user")
	delete(b.s.Values, "sid")
	b.dirty = true
}

func (b *browserSession) save(w http.ResponseWriter, r *http.Request) error {
	b.dirty = false
	return b.s.Save(r, w)
}
