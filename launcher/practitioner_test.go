package launcher

import (
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// A provider launch that names no practitioner gets the directory's first.
// The choice is cached for a second, but a practitioner deleted meanwhile
// is never chosen, and after the second a new first practitioner is.
func TestDefaultPractitionerFollowsTheDirectory(t *testing.T) {
	e := newEnv(t, "")
	dir := fakeDir()
	svc, err := New(ctx, Options{BaseURL: testBase, DB: e.db, Directory: dir, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mint := func() string {
		t.Helper()
		_, l, err := svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1"})
		if err != nil {
			t.Fatal(err)
		}
		return l.Practitioner
	}
	if got := mint(); got != "pr-1" {
		t.Fatalf("default practitioner %q, want pr-1", got)
	}
	dir.PractitionerList = []smart.PersonSummary{{ResourceType: "Practitioner", ID: "pr-2"}} // pr-1 deleted
	if got := mint(); got != "pr-2" {
		t.Fatalf("after pr-1 was deleted: %q, want pr-2", got)
	}
	dir.PractitionerList = []smart.PersonSummary{{ResourceType: "Practitioner", ID: "pr-0"}, {ResourceType: "Practitioner", ID: "pr-2"}}
	e.clock.Add(defaultPractitionerTTL + time.Millisecond)
	if got := mint(); got != "pr-0" {
		t.Fatalf("a second after a new first practitioner: %q, want pr-0", got)
	}
	dir.PractitionerList = nil
	if got := mint(); got != "" {
		t.Fatalf("no practitioners: %q, want none", got)
	}
}
