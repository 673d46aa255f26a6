package clients

import (
	"context"
	"testing"
	"time"
)

func TestLaunchDefinedClientsLiveWhileTheirLaunchOrTokensLive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := newClock()
	base := "http://127.0.0.1:4000"
	r := newRegistry(t, dir, base, clk)

	if got, err := r.LaunchClients(ctx, "adhoc-x"); err != nil || len(got) != 0 {
		t.Fatalf("unknown id: %v %v, want none", got, err)
	}
	pub := Client{ID: "adhoc-x", Type: TypePublic, RedirectURIs: []string{base + "/cb"}}
	if err := r.DefineLaunchClient(ctx, pub, "", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The same definition again only extends its row.
	if err := r.DefineLaunchClient(ctx, pub, "", clk.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	sym := Client{ID: "adhoc-x", Type: TypeSymmetric}
	if err := r.DefineLaunchClient(ctx, sym, "s3cret", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := r.DefineLaunchClient(ctx, sym, "", clk.Now().Add(time.Hour)); err == nil {
		t.Fatal("a confidential-symmetric definition without a secret was accepted")
	}

	// A restart keeps them (same data dir).
	r = newRegistry(t, dir, base, clk)
	got, err := r.LaunchClients(ctx, "adhoc-x")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != TypeSymmetric || got[1].Type != TypePublic {
		t.Fatalf("definitions = %+v, want the symmetric (newest) then the public one", got)
	}
	if got[1].RedirectURIs[0] != base+"/cb" || !got[1].ExpiresAt.Equal(clk.Now().Add(-time.Second).Add(2*time.Hour).Truncate(time.Second)) {
		t.Errorf("public definition = %+v", got[1])
	}
	if !got[0].CheckSecret("s3cret") || got[0].CheckSecret("s3creT") || got[0].CheckSecret("") || got[1].CheckSecret("s3cret") {
		t.Error("CheckSecret gave a wrong answer")
	}

	// After the launch expired only the extended definitions live on.
	clk.Add(90 * time.Minute)
	if got, _ := r.LaunchClients(ctx, "adhoc-x"); len(got) != 1 || got[0].Type != TypePublic {
		t.Fatalf("after 90 min: %+v, want only the public definition (2 h)", got)
	}
	if err := r.ExtendLaunchClient(ctx, "adhoc-x", clk.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	clk.Add(12 * time.Hour)
	if got, _ := r.LaunchClients(ctx, "adhoc-x"); len(got) != 1 {
		t.Fatalf("after extension: %+v, want the public definition", got)
	}
	clk.Add(13 * time.Hour)
	if got, _ := r.LaunchClients(ctx, "adhoc-x"); len(got) != 0 {
		t.Fatalf("after everything expired: %+v, want none", got)
	}
	// A registered lookup never sees launch-defined clients.
	if _, err := r.Get(ctx, "adhoc-x"); err == nil {
		t.Fatal("Get found a launch-defined client")
	}
}
