package clients

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/smarttest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func newClock() *smarttest.Clock {
	return smarttest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
}

func openDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newRegistry(t testing.TB, dir, base string, clk *smarttest.Clock) *Registry {
	t.Helper()
	r, err := NewRegistry(context.Background(), openDB(t, dir), RegistryOptions{BaseURL: base, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegistryCRUDPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := newClock()
	r := newRegistry(t, dir, "http://127.0.0.1:4000", clk)

	c := Client{ID: "app-1", Type: TypeSymmetric, RedirectURIs: []string{"https://app.example/cb"}, Scope: "launch openid  "}
	got, err := r.Create(ctx, c, "s3cret-value")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "app-1" || got.PKCE != PKCERequired || got.Scope != "launch openid" || !got.HasSecret || !got.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("created = %+v", got)
	}
	if _, err := r.Create(ctx, c, "x"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate create: %v, want ErrExists", err)
	}
	if !r.CheckSecret(ctx, "app-1", "s3cret-value") || r.CheckSecret(ctx, "app-1", "s3cret-valuE") || r.CheckSecret(ctx, "nope", "s3cret-value") {
		t.Fatal("CheckSecret gave a wrong answer")
	}

	clk.Add(time.Hour)
	got.Scope = "launch"
	got.PKCE = PKCEOptional
	upd, err := r.Update(ctx, *got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Scope != "launch" || upd.PKCE != PKCEOptional || !upd.UpdatedAt.Equal(clk.Now()) || !upd.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("updated = %+v", upd)
	}
	if !r.CheckSecret(ctx, "app-1", "s3cret-value") {
		t.Fatal("secret lost by an update with nil secret")
	}
	ns := "new-secret"
	if _, err := r.Update(ctx, *upd, &ns); err != nil {
		t.Fatal(err)
	}
	if r.CheckSecret(ctx, "app-1", "s3cret-value") || !r.CheckSecret(ctx, "app-1", "new-secret") {
		t.Fatal("secret not replaced")
	}
	if _, err := r.Update(ctx, Client{ID: "ghost", Type: TypePublic, RedirectURIs: []string{"https://a/cb"}}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}

	// Reopen the same directory with another base URL: data survives, no
	// duplicate demo clients, demo URLs follow the new base.
	r2 := newRegistry(t, dir, "http://127.0.0.1:5000/", clk)
	again, err := r2.Get(ctx, "app-1")
	if err != nil || again.Scope != "launch" || !r2.CheckSecret(ctx, "app-1", "new-secret") {
		t.Fatalf("after reopen: %+v %v", again, err)
	}
	list, err := r2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, c := range list {
		ids[c.ID]++
	}
	for _, id := range []string{"app-1", DemoSampleApp, DemoPublic, DemoConfidential, DemoAsymmetric, DemoBackend} {
		if ids[id] != 1 {
			t.Fatalf("client %s present %d times in %v", id, ids[id], ids)
		}
	}
	if len(list) != 6 {
		t.Fatalf("list has %d clients", len(list))
	}
	sa, _ := r2.Get(ctx, DemoSampleApp)
	if sa.RedirectURIs[0] != "http://127.0.0.1:5000/sample-app/index.html" || sa.LaunchURL != "http://127.0.0.1:5000/sample-app/launch.html" {
		t.Fatalf("sample-app urls = %v %s", sa.RedirectURIs, sa.LaunchURL)
	}

	if err := r2.Delete(ctx, "app-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Get(ctx, "app-1"); !errors.Is(err, ErrNotFound) || !errors.Is(err, smart.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := r2.Delete(ctx, "app-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestRegistryDemoClients(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, t.TempDir(), "http://localhost:8080", newClock())
	if !r.CheckSecret(ctx, DemoConfidential, DemoSecret) {
		t.Fatal("demo-confidential secret is not demo-secret")
	}
	b, err := r.Get(ctx, DemoBackend)
	if err != nil {
		t.Fatal(err)
	}
	if b.Type != TypeBackend || b.Scope != DemoBackendScope || len(b.GrantTypes()) != 1 || b.GrantTypes()[0] != GrantClientCredentials {
		t.Fatalf("demo-backend = %+v", b)
	}
	set, err := ParseJWKS(b.JWKS)
	if err != nil || len(set.Keys) != 2 || len(set.Key(DemoKeyRS384)) != 1 || len(set.Key(DemoKeyES384)) != 1 {
		t.Fatalf("demo-backend keys: %v %v", set, err)
	}
	p, _ := r.Get(ctx, DemoPublic)
	if !p.HasRedirectURI("http://localhost:8080/sample-app/index.html") || !p.HasRedirectURI("http://localhost:9000/callback") || p.HasRedirectURI("http://localhost:9000/callback/") {
		t.Fatalf("demo-public redirects = %v", p.RedirectURIs)
	}
	if a, _ := r.Get(ctx, DemoAsymmetric); a.AuthMethod() != AuthPrivateKeyJWT || a.HasSecret {
		t.Fatalf("demo-asymmetric = %+v", a)
	}
}

// The authorization server answers these with 401 invalid_client; the
// registry's part is to tell them apart from a good secret.
func TestTOK19_WrongSecretAndTOK18_UnknownClientFailCheckSecret(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, t.TempDir(), "http://localhost:8080", newClock())
	for _, tc := range []struct {
		id, secret string
		want       bool
	}{
		{DemoConfidential, DemoSecret, true},
		{DemoConfidential, "demo-secret ", false},
		{DemoConfidential, "", false},
		{"BAD_CLIENT_ID", DemoSecret, false},
		{DemoPublic, "", false},             // public clients have no secret
		{DemoAsymmetric, DemoSecret, false}, // neither do asymmetric ones
	} {
		if got := r.CheckSecret(ctx, tc.id, tc.secret); got != tc.want {
			t.Errorf("CheckSecret(%q, %q) = %v, want %v", tc.id, tc.secret, got, tc.want)
		}
	}
	if _, err := r.Get(ctx, "BAD_CLIENT_ID"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(BAD_CLIENT_ID) = %v", err)
	}
}

// Two clients with the same secret store different hashes (per-client salt).
func TestSecretsAreSaltedPerClient(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, t.TempDir(), "http://localhost:8080", newClock())
	for _, id := range []string{"a", "b"} {
		if _, err := r.Create(ctx, Client{ID: id, Type: TypeSymmetric, RedirectURIs: []string{"https://x.example/cb"}}, "same-secret"); err != nil {
			t.Fatal(err)
		}
	}
	var ha, hb []byte
	r.db.SQL.QueryRow(`SELECT secret_hash FROM clients WHERE id = 'a'`).Scan(&ha)
	r.db.SQL.QueryRow(`SELECT secret_hash FROM clients WHERE id = 'b'`).Scan(&hb)
	if len(ha) != 32 || string(ha) == string(hb) {
		t.Fatalf("hashes %x and %x: not salted per client", ha, hb)
	}
	var plain int
	r.db.SQL.QueryRow(`SELECT count(*) FROM clients WHERE data LIKE '%same-secret%'`).Scan(&plain)
	if plain != 0 {
		t.Fatal("secret stored in clear")
	}
}

// Get is cached; a write through the Registry is seen at once, including a
// create after a cached miss, and callers cannot change the cached value.
func TestRegistryCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg, err := NewRegistry(ctx, db, RegistryOptions{BaseURL: "http://ehr.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get(ctx, "cache-me"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before create: %v", err)
	}
	c := Client{ID: "cache-me", Name: "one", Type: TypePublic, RedirectURIs: []string{"https://app.test/cb"}}
	if _, err := reg.Create(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Get(ctx, "cache-me")
	if err != nil || got.Name != "one" {
		t.Fatalf("after create: %v %+v", err, got)
	}
	got.RedirectURIs[0] = "https://evil.test/cb" // must not reach the cache
	c.Name = "two"
	if _, err := reg.Update(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = reg.Get(ctx, "cache-me")
	if got.Name != "two" || got.RedirectURIs[0] != "https://app.test/cb" {
		t.Fatalf("after update: %+v", got)
	}
	if err := reg.Delete(ctx, "cache-me"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Get(ctx, "cache-me"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}
