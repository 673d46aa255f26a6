package inspect

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Store persists events: SQLiteStore (sqlite.go) in the instance's data
// directory, or PostgresStore (postgres.go) in the database several
// instances share; NewStore picks one. Both pass one contract test
// (store_contract_test.go). Implementations must be safe for concurrent use.
type Store interface {
	// Append saves events (already numbered) in one batch.
	Append(ctx context.Context, events []Event) error
	// Events returns a launch's events, oldest first.
	Events(ctx context.Context, launchID string) ([]Event, error)
	// ClientLaunches returns the ids of the client's most recent launches,
	// newest first.
	ClientLaunches(ctx context.Context, clientID string, limit int) ([]string, error)
	// Recent lists the most recent launches, newest first.
	Recent(ctx context.Context, limit int) ([]LaunchSummary, error)
	// Prune keeps the events of the newest keep launches.
	Prune(ctx context.Context, keep int) error
}

// LaunchSummary is one line of the list of recent launches.
type LaunchSummary struct {
	LaunchID string    `json:"launch_id"`
	ClientID string    `json:"client_id,omitempty"`
	Started  time.Time `json:"started"`
	Events   int       `json:"events"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
}

// Options configure a Recorder.
type Options struct {
	Store       Store // nil: memory only
	MaxLaunches int   // launches kept (memory and store); 0 = 1,000
	Now         func() time.Time
	Logger      *slog.Logger
}

// Recorder records events: in memory per launch (bounded), written behind
// to the Store, and fanned out to subscribers. Safe for concurrent use;
// Record never blocks on the database.
type Recorder struct {
	o Options

	mu       sync.Mutex
	launches map[string]*launchLog
	order    []string // launch ids, oldest first (bounded by MaxLaunches)
	loose    []Event  // recent unattributed discovery events (claimed by authorize)
	subs     map[string]map[chan Event]struct{}
	pending  []Event // to persist
	dropped  int     // events dropped from a full pending queue, not yet logged
	wake     chan struct{}

	// flushMu lets one Flush write at a time, so a read that flushes first
	// (Events, Recent, ClientLaunches) waits for a batch the background
	// writer took but has not saved yet, and sees every event recorded
	// before it.
	flushMu sync.Mutex
}

// launchLog is what memory holds of one launch. Without a store, every
// event. With one, the store holds the timeline and memory only what the
// request path consults: the first event's time, the count (for Seq and
// the cap) and the authorize events (Seen), so memory per launch stays a
// few hundred bytes however many FHIR requests the app makes.
type launchLog struct {
	clientID string
	started  time.Time
	count    int
	routine  int // routine events offered (SkipRoutine)
	events   []Event
}

// maxEventsPerLaunch bounds one launch's timeline (an app that polls FHIR
// for hours would otherwise grow it without end).
const maxEventsPerLaunch = 2000

// maxRoutine is how many routine events (a FHIR request or an
// introspection that succeeded and broke no rule) a launch records; beyond
// it they are counted, not recorded (SkipRoutine). An app polling FHIR
// makes thousands, each alike, and recording them would cost every request.
const maxRoutine = 200

// maxPending bounds the events waiting for the background writer.
const maxPending = 20_000

// looseWindow is how long an unattributed discovery event waits to be
// claimed by an authorize request; looseMax bounds how many wait.
const (
	looseWindow = time.Minute
	looseMax    = 256
)

// NewRecorder builds a Recorder; call Run to persist (without Run, or
// without a Store, events live in memory only).
func NewRecorder(o Options) *Recorder {
	if o.MaxLaunches <= 0 {
		o.MaxLaunches = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{o: o, launches: map[string]*launchLog{}, subs: map[string]map[chan Event]struct{}{}, wake: make(chan struct{}, 1)}
}

// Record adds an event. An event with a launch id is appended to that
// launch; a discovery event without one waits to be claimed (Claim); other
// events without a launch are dropped (nothing could show them).
func (r *Recorder) Record(e Event) {
	if r == nil {
		return
	}
	if e.At.IsZero() {
		e.At = r.o.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.LaunchID == "" {
		if e.Kind == KindDiscovery {
			r.pruneLooseLocked(e.At)
			if len(r.loose) >= looseMax {
				r.loose = r.loose[1:]
			}
			r.loose = append(r.loose, e)
		}
		return
	}
	r.appendLocked(e)
}

func (r *Recorder) appendLocked(e Event) {
	l := r.launches[e.LaunchID]
	if l == nil {
		l = &launchLog{}
		r.launches[e.LaunchID] = l
		r.order = append(r.order, e.LaunchID)
		for len(r.order) > r.o.MaxLaunches {
			old := r.order[0]
			r.order = r.order[1:]
			delete(r.launches, old)
		}
	}
	if l.clientID == "" {
		l.clientID = e.ClientID
	}
	switch n := l.count; {
	case n > maxEventsPerLaunch:
		return // the marker below was recorded
	case n == maxEventsPerLaunch:
		e = Event{LaunchID: e.LaunchID, At: e.At, Kind: e.Kind,
			Summary: fmt.Sprintf("this launch reached %d recorded events; further events are not recorded", maxEventsPerLaunch)}
	}
	if e.ClientID == "" {
		e.ClientID = l.clientID
	}
	l.count++
	e.Seq = int64(l.count)
	if l.count == 1 {
		l.started = e.At
	}
	if r.o.Store == nil || e.Kind == KindAuthorize {
		l.events = append(l.events, e)
	}
	if r.o.Store != nil {
		if len(r.pending) >= maxPending {
			// The database is far behind: drop the oldest unsaved event
			// rather than grow without bound.
			r.pending = r.pending[1:]
			r.dropped++
		}
		r.pending = append(r.pending, e)
	}
	for ch := range r.subs[e.LaunchID] {
		select {
		case ch <- e:
		default: // a slow subscriber misses live events; a reload shows them
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Recorder) pruneLooseLocked(now time.Time) {
	i := 0
	for i < len(r.loose) && now.Sub(r.loose[i].At) > looseWindow {
		i++
	}
	r.loose = r.loose[i:]
}

// Claim attributes the unattributed discovery events of the last minute
// from the same remote address and Origin, made since the launch was
// minted, to launch (called at authorize, before the authorize event is
// recorded), oldest first.
func (r *Recorder) Claim(launchID, clientID, remote, origin string) {
	if r == nil || launchID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLooseLocked(r.o.Now())
	var since time.Time // discovery before the launch was minted is not its
	if l := r.launches[launchID]; l != nil {
		since = l.started
	}
	keep := r.loose[:0]
	for _, e := range r.loose {
		if e.remote == remote && e.origin == origin && !e.At.Before(since) {
			e.LaunchID, e.ClientID = launchID, clientID
			r.appendLocked(e)
			continue
		}
		keep = append(keep, e)
	}
	r.loose = keep
}

// RecentLaunchOf returns the id of the client's most recent launch that
// started within the last within ("" when none), to attribute a request
// that names no launch (an EHR app that forgot the launch parameter).
func (r *Recorder) RecentLaunchOf(clientID string, within time.Duration) string {
	if r == nil || clientID == "" {
		return ""
	}
	now := r.o.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.order) - 1; i >= 0; i-- {
		l := r.launches[r.order[i]]
		if now.Sub(l.started) > within {
			return ""
		}
		if l.clientID == clientID {
			return r.order[i]
		}
	}
	return ""
}

// Events returns a launch's events, oldest first. With a store they come
// from it (after writing what is pending), so every instance sharing the
// database, and a restarted one, shows the same timeline; else from memory.
func (r *Recorder) Events(ctx context.Context, launchID string) ([]Event, error) {
	if r.o.Store != nil {
		r.Flush(ctx)
		evs, err := r.o.Store.Events(ctx, launchID)
		for i := range evs {
			evs[i].Seq = int64(i) + 1
		}
		return evs, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.launches[launchID]; l != nil {
		return append([]Event(nil), l.events...), nil
	}
	return nil, nil
}

// SkipRoutine is asked before a routine event of the launch is built (a
// FHIR request or an introspection that succeeded and broke no rule): it
// returns false for the launch's first maxRoutine ones, which the caller
// records, and true after that, when the caller skips building it. The
// first one skipped records a marker saying so.
func (r *Recorder) SkipRoutine(launchID string, kind Kind) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.launches[launchID]
	if l == nil {
		return false
	}
	l.routine++
	if l.routine <= maxRoutine {
		return false
	}
	if l.routine == maxRoutine+1 {
		r.appendLocked(Event{LaunchID: launchID, At: r.o.Now(), Kind: kind,
			Summary: fmt.Sprintf("this launch made %d successful FHIR requests and introspections; further successful ones are not recorded (errors still are)", maxRoutine)})
	}
	return true
}

// SeenAuthorize reports whether an authorize event of the launch already
// recorded on this instance satisfies match (memory only: no database
// round trip, for the request path; e.g. a reused state). Memory keeps a
// launch's authorize events even when a store holds the rest.
func (r *Recorder) SeenAuthorize(launchID string, match func(*Event) bool) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.launches[launchID]; l != nil {
		for i := range l.events {
			if l.events[i].Kind == KindAuthorize && match(&l.events[i]) {
				return true
			}
		}
	}
	return false
}

// Subscribe delivers the launch's events recorded from now on until cancel.
func (r *Recorder) Subscribe(launchID string) (<-chan Event, func()) {
	ch := make(chan Event, 64)
	r.mu.Lock()
	if r.subs[launchID] == nil {
		r.subs[launchID] = map[chan Event]struct{}{}
	}
	r.subs[launchID][ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs[launchID], ch)
		if len(r.subs[launchID]) == 0 {
			delete(r.subs, launchID)
		}
		r.mu.Unlock()
	}
}

// Recent lists the most recent launches, newest first.
func (r *Recorder) Recent(ctx context.Context, limit int) ([]LaunchSummary, error) {
	if r.o.Store != nil {
		r.Flush(ctx)
		return r.o.Store.Recent(ctx, limit)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []LaunchSummary
	for i := len(r.order) - 1; i >= 0 && len(out) < limit; i-- {
		l := r.launches[r.order[i]]
		out = append(out, summarize(r.order[i], l.clientID, l.events))
	}
	return out, nil
}

func summarize(id, client string, events []Event) LaunchSummary {
	s := LaunchSummary{LaunchID: id, ClientID: client, Events: len(events)}
	if len(events) > 0 {
		s.Started = events[0].At
	}
	s.Errors, s.Warnings = Count(events)
	return s
}

// ClientLaunches returns the events of the client's most recent launches
// (at most limit), newest launch first.
func (r *Recorder) ClientLaunches(ctx context.Context, clientID string, limit int) ([][]Event, error) {
	var ids []string
	if r.o.Store != nil {
		r.Flush(ctx)
		var err error
		if ids, err = r.o.Store.ClientLaunches(ctx, clientID, limit); err != nil {
			return nil, err
		}
	} else {
		r.mu.Lock()
		for i := len(r.order) - 1; i >= 0 && len(ids) < limit; i-- {
			if r.launches[r.order[i]].clientID == clientID {
				ids = append(ids, r.order[i])
			}
		}
		r.mu.Unlock()
	}
	var out [][]Event
	for _, id := range ids {
		evs, err := r.Events(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, evs)
	}
	return out, nil
}

// Run writes recorded events to the store in batches until ctx ends,
// pruning to MaxLaunches now and then.
func (r *Recorder) Run(ctx context.Context) {
	if r.o.Store == nil {
		return
	}
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return
		case <-r.wake:
			// Let a burst of one request's events gather into one batch.
			t := time.NewTimer(20 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			r.Flush(context.WithoutCancel(ctx))
		case <-prune.C:
			if err := r.o.Store.Prune(ctx, r.o.MaxLaunches); err != nil {
				r.o.Logger.WarnContext(ctx, "inspector: prune failed", "err", err)
			}
		}
	}
}

// Flush writes the events recorded so far to the store now, after any
// batch another Flush is writing.
func (r *Recorder) Flush(ctx context.Context) {
	if r.o.Store == nil {
		return
	}
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	dropped := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	if dropped > 0 {
		r.o.Logger.WarnContext(ctx, "inspector: the database fell behind; events dropped", "events", dropped)
	}
	if len(batch) == 0 {
		return
	}
	sort.SliceStable(batch, func(i, j int) bool { return batch[i].At.Before(batch[j].At) })
	if err := r.o.Store.Append(ctx, batch); err != nil {
		r.o.Logger.WarnContext(ctx, "inspector: events not saved", "events", len(batch), "err", err)
	}
}
