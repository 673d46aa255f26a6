package inspect

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smarttest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func TestRecorderBoundsLaunchesAndClaimsDiscovery(t *testing.T) {
	clk := smarttest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	r := NewRecorder(Options{MaxLaunches: 3, Now: clk.Now})
	ctx := context.Background()

	// A discovery made before the launch was minted is not the launch's.
	early := Event{Kind: KindDiscovery, Summary: "early"}
	early.From("127.0.0.1", "")
	r.Record(early)
	clk.Add(time.Second)
	r.Record(Event{LaunchID: "L1", ClientID: "app", Kind: KindLaunchMinted})
	clk.Add(time.Second)
	for _, c := range []struct{ remote, origin, summary string }{
		{"127.0.0.1", "", "mine"}, {"10.0.0.9", "", "other browser"}, {"127.0.0.1", "https://other.example", "other origin"},
	} {
		e := Event{Kind: KindDiscovery, Summary: c.summary}
		e.From(c.remote, c.origin)
		r.Record(e)
	}
	r.Claim("L1", "app", "127.0.0.1", "")
	evs, _ := r.Events(ctx, "L1")
	if len(evs) != 2 || evs[1].Summary != "mine" || evs[1].ClientID != "app" || evs[1].Seq != 2 {
		t.Fatalf("claimed %+v, want only the discovery from the same browser after the mint", evs)
	}
	// Unclaimed discovery expires after a minute.
	clk.Add(2 * time.Minute)
	r.Claim("L1", "app", "10.0.0.9", "")
	if evs, _ := r.Events(ctx, "L1"); len(evs) != 2 {
		t.Fatalf("an old discovery was claimed: %+v", evs)
	}

	for i := 2; i <= 5; i++ {
		r.Record(Event{LaunchID: fmt.Sprintf("L%d", i), ClientID: "app", Kind: KindLaunchMinted})
	}
	if evs, _ := r.Events(ctx, "L1"); len(evs) != 0 {
		t.Fatal("the oldest launch was kept past MaxLaunches")
	}
	list, _ := r.Recent(ctx, 10)
	if len(list) != 3 || list[0].LaunchID != "L5" {
		t.Fatalf("recent %+v, want L5, L4, L3", list)
	}
	if got := r.RecentLaunchOf("app", time.Hour); got != "L5" {
		t.Fatalf("RecentLaunchOf = %q", got)
	}
}

func TestRecorderConcurrentRecordAndSubscribe(t *testing.T) {
	r := NewRecorder(Options{})
	live, cancel := r.Subscribe("L")
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				r.Record(Event{LaunchID: "L", Kind: KindFHIR})
			}
		}()
	}
	wg.Wait()
	evs, _ := r.Events(context.Background(), "L")
	if len(evs) != 400 {
		t.Fatalf("%d events, want 400", len(evs))
	}
	seen := map[int64]bool{}
	for _, e := range evs {
		if seen[e.Seq] {
			t.Fatalf("sequence number %d given twice", e.Seq)
		}
		seen[e.Seq] = true
	}
	if n := len(live); n == 0 {
		t.Fatal("the subscriber got no live event")
	}
}

func TestSQLiteStoreSharesTimelinesAndPrunes(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := NewSQLiteStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	clk := smarttest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	a := NewRecorder(Options{Store: st, MaxLaunches: 2, Now: clk.Now})
	b := NewRecorder(Options{Store: st, MaxLaunches: 2, Now: clk.Now}) // another instance
	for i, id := range []string{"L1", "L2", "L3"} {
		e := Event{LaunchID: id, ClientID: "app", Kind: KindAuthorize, Request: map[string]string{"state": id}}
		e.Check(RuleStateMissing, i == 2, "no state")
		a.Record(e)
		clk.Add(time.Second)
	}
	a.Flush(ctx) // what Run does in the background
	evs, err := b.Events(ctx, "L3")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Diagnostics[0].Rule != RuleStateMissing || evs[0].Seq != 1 {
		t.Fatalf("another instance reads %+v", evs)
	}
	ids, _ := st.ClientLaunches(ctx, "app", 10)
	if len(ids) != 3 || ids[0] != "L3" {
		t.Fatalf("client launches %v", ids)
	}
	if err := st.Prune(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if evs, _ := st.Events(ctx, "L1"); len(evs) != 0 {
		t.Fatal("prune kept the oldest launch")
	}
	list, _ := b.Recent(ctx, 10)
	if len(list) != 2 || list[0].LaunchID != "L3" || list[0].Errors != 1 {
		t.Fatalf("recent %+v", list)
	}
}

func TestReportOutcomes(t *testing.T) {
	now := time.Now()
	bad := Event{LaunchID: "L1", Kind: KindAuthorize, Seq: 2, Request: map[string]string{"client_id": "app"}}
	bad.Check(RuleStateMissing, true, "no state")
	bad.Check(RulePKCEMissing, false, "")
	warn := Event{LaunchID: "L1", Kind: KindAuthorize, Seq: 3}
	warn.Check(RuleScopeV1, true, "v1 scope")
	rep := BuildReport("app", [][]Event{{bad, warn}}, now)
	out := map[string]Outcome{}
	for _, r := range rep.Rules {
		out[r.Rule] = r.Outcome
	}
	if out[RuleStateMissing] != Fail || out[RulePKCEMissing] != Pass || out[RuleScopeV1] != Fail || out[RuleCodeReused] != NotExercised {
		t.Fatalf("outcomes %v", out)
	}
	if rep.Errors != 1 || rep.Warnings != 1 || !rep.Failed() || len(rep.Rules) != len(Rules) {
		t.Fatalf("report %+v", rep)
	}
	x, err := rep.JUnit()
	if err != nil || len(x) == 0 {
		t.Fatal(err)
	}
	clean := BuildReport("app", nil, now)
	if clean.Failed() || clean.Errors != 0 {
		t.Fatal("a report without launches failed")
	}
}

func TestRedactHidesSecrets(t *testing.T) {
	got := Redact(map[string][]string{"client_secret": {"s3cret"}, "code": {"abcdefghijklmnop"}, "state": {"st"}, "code_verifier": {"vvvv"}})
	if got["client_secret"] == "s3cret" || got["code_verifier"] == "vvvv" || got["code"] != "abcdef…" || got["state"] != "st" {
		t.Fatalf("redacted %v", got)
	}
}

func TestRecorderBoundsOneLaunch(t *testing.T) {
	r := NewRecorder(Options{})
	for i := 0; i < maxEventsPerLaunch+50; i++ {
		r.Record(Event{LaunchID: "L", Kind: KindFHIR})
	}
	evs, _ := r.Events(context.Background(), "L")
	if len(evs) != maxEventsPerLaunch+1 || evs[len(evs)-1].Summary == "" {
		t.Fatalf("%d events, want %d and a closing marker", len(evs), maxEventsPerLaunch+1)
	}
}

// With a store, memory does not grow with a launch's FHIR traffic: the
// timeline lives in the database and memory keeps only the count, the start
// and the authorize events the request path consults; the timeline read
// back is complete and in order.
func TestRecorderWithStoreKeepsTimelinesOutOfMemory(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := NewSQLiteStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	clk := smarttest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	r := NewRecorder(Options{Store: st, Now: clk.Now})
	r.Record(Event{LaunchID: "L1", ClientID: "app", Kind: KindAuthorize, Request: map[string]string{"state": "s-1"}})
	const reads = 500
	for i := 0; i < reads; i++ {
		clk.Add(time.Millisecond)
		r.Record(Event{LaunchID: "L1", Kind: KindFHIR, Summary: fmt.Sprint("GET Patient ", i), Status: 200})
	}
	r.mu.Lock()
	held := len(r.launches["L1"].events)
	r.mu.Unlock()
	if held != 1 {
		t.Errorf("%d events held in memory for the launch, want 1 (its authorize)", held)
	}
	if !r.SeenAuthorize("L1", func(e *Event) bool { return e.Request["state"] == "s-1" }) {
		t.Error("the authorize event is not seen from memory")
	}
	evs, err := r.Events(ctx, "L1")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != reads+1 || evs[0].Kind != KindAuthorize || evs[reads].Summary != fmt.Sprint("GET Patient ", reads-1) || evs[0].ClientID != "app" {
		t.Fatalf("timeline read back: %d events, first %+v", len(evs), evs[0])
	}
	if got := r.RecentLaunchOf("app", time.Minute); got != "L1" {
		t.Errorf("RecentLaunchOf = %q", got)
	}
}

// A launch records its first maxRoutine routine events, then one marker,
// then skips routine ones (the caller does not even build them) while
// errors are still recorded.
func TestRecorderCountsRoutineEventsBeyondTheLimit(t *testing.T) {
	r := NewRecorder(Options{})
	r.Record(Event{LaunchID: "L1", ClientID: "app", Kind: KindAuthorize})
	recorded := 0
	for i := 0; i < maxRoutine+50; i++ {
		if !r.SkipRoutine("L1", KindFHIR) {
			r.Record(Event{LaunchID: "L1", Kind: KindFHIR, Status: 200})
			recorded++
		}
	}
	r.Record(Event{LaunchID: "L1", Kind: KindFHIR, Status: 403, Error: "forbidden"})
	if recorded != maxRoutine {
		t.Fatalf("%d routine events recorded, want %d", recorded, maxRoutine)
	}
	evs, _ := r.Events(context.Background(), "L1")
	if len(evs) != 1+maxRoutine+1+1 {
		t.Fatalf("%d events, want authorize + %d routine + marker + error", len(evs), maxRoutine)
	}
	if marker := evs[1+maxRoutine]; !strings.Contains(marker.Summary, "not recorded") {
		t.Errorf("no marker after the routine limit: %+v", marker)
	}
	if last := evs[len(evs)-1]; last.Status != 403 {
		t.Errorf("the error after the limit was not recorded: %+v", last)
	}
	if r.SkipRoutine("unknown-launch", KindFHIR) {
		t.Error("a launch the recorder does not know is skipped")
	}
}
