package authz

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzClientCreds: token-endpoint client credentials (an arbitrary
// Authorization header beside an arbitrary form) give credentials or an
// OAuth error, never a panic; and Basic credentials round-trip: id and
// secret form-urlencoded and base64-encoded as RFC 6749 §2.3.1 says come
// back unchanged.
func FuzzClientCreds(f *testing.F) {
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("conf:secret")), "grant_type=client_credentials", "conf", "s3cr:et")
	f.Add("Basic !!!", "client_id=a&client_secret=b", "a", "")
	f.Add("Basic "+base64.StdEncoding.EncodeToString([]byte("%zz:x")), "", "%", "%zz")
	f.Add("Bearer x", "client_assertion=a.b.c&client_secret=s", "", "\x00")
	f.Fuzz(func(t *testing.T, header, form, id, secret string) {
		r := httptest.NewRequest(http.MethodPost, "/auth/oauth/token", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", header)
		if r.ParseForm() != nil {
			return
		}
		if _, err := parseClientCreds(r); err != nil {
			var oe *oauthError
			if !errors.As(err, &oe) || oe.Code == "" || oe.Description == "" {
				t.Fatalf("%q / %q: error %T %v is not an OAuth error", header, form, err, err)
			}
		}

		r = httptest.NewRequest(http.MethodPost, "/auth/oauth/token", strings.NewReader(""))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		r.ParseForm()
		cc, err := parseClientCreds(r)
		if err != nil || cc.ID != id || cc.Secret != secret {
			t.Fatalf("Basic %q:%q came back as %q:%q (%v)", id, secret, cc.ID, cc.Secret, err)
		}
	})
}
