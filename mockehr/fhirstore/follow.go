package fhirstore

import (
	"context"
	"sync"
	"time"
)

// Following other instances' writes. When the versions live in a database
// several instances share (PostgreSQL), each instance polls it for versions
// with a sequence number above the highest it has seen, every followEvery,
// and publishes those newer than its own current version of the resource,
// exactly as the start-up overlay does. Its own writes come back too and
// are skipped by that version check. A poll is one indexed range query, so
// an idle sandbox costs a few queries a second.
//
// Sequence numbers are assigned when a write starts, not when it commits,
// so a poll may see number 11 before 10 has committed. The follower keeps
// such gaps open (re-reading from the oldest) until the missing number
// shows up or followGapWait has passed (a failed write never fills it).
const (
	followEvery   = 250 * time.Millisecond
	followGapWait = 10 * time.Second
	followBatch   = 1000
	followMaxGaps = 10_000
)

type follower struct {
	s  *Store
	vs VersionStore

	mu   sync.Mutex // one poll at a time
	hw   int64      // every number at or below it was seen or given up
	gaps map[int64]time.Time

	cancel context.CancelFunc
	ctx    context.Context
	done   chan struct{}
}

func newFollower(s *Store, vs VersionStore, from int64) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	return &follower{s: s, vs: vs, hw: from, gaps: map[int64]time.Time{}, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

func (f *follower) run() {
	defer close(f.done)
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
			if err := f.poll(f.ctx); err != nil && f.ctx.Err() == nil {
				f.s.logger.Warn("fhirstore: following other instances' writes", "err", err)
			}
		}
	}
}

func (f *follower) stop() {
	f.cancel()
	<-f.done
}

// poll reads the versions above the high-water mark and publishes the new
// ones.
func (f *follower) poll(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	expected := f.hw + 1
	err := f.vs.Since(ctx, f.hw, followBatch, func(seq int64, v StoredVersion) error {
		if seq > expected && seq-expected <= followMaxGaps {
			for g := expected; g < seq; g++ {
				if _, ok := f.gaps[g]; !ok {
					f.gaps[g] = now
				}
			}
		}
		delete(f.gaps, seq)
		if seq >= expected {
			expected = seq + 1
		}
		f.s.applyRemote(v)
		return nil
	})
	if err != nil {
		return err
	}
	hw := expected - 1
	for g, at := range f.gaps {
		if now.Sub(at) > followGapWait || g <= f.hw {
			delete(f.gaps, g)
			continue
		}
		if g-1 < hw {
			hw = g - 1
		}
	}
	f.hw = hw
	return nil
}

// applyRemote publishes v when it is newer than the current version of its
// resource (a version this instance wrote, or already has, is skipped).
func (s *Store) applyRemote(v StoredVersion) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	prev, _ := s.Get(v.Type, v.ID)
	if prev != nil && prev.Version >= v.Version {
		return
	}
	r, err := s.fromStored(v, prev)
	if err != nil {
		s.logger.Warn("fhirstore: skipping a version another instance wrote", "type", v.Type, "id", v.ID, "version", v.Version, "err", err)
		return
	}
	s.publish(r, prev)
}
