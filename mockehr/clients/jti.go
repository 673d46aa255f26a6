package clients

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// jtiStore remembers used (iss, jti) pairs until their assertion expires
// (checklist BES-11). The table client_jtis (through ClientStore, SQLite
// or PostgreSQL) is the truth, so replay
// protection survives restarts and holds across instances sharing the
// database; the map in front answers replays without a round trip.
// Entries live at most exp + leeway (≤ about 6 minutes), so both stay small.
type jtiStore struct {
	st ClientStore

	mu        sync.Mutex
	mem       map[string]int64 // iss NUL jti → keep-until (unix seconds)
	lastPrune int64
}

const jtiPruneEvery = 60 // seconds between prunes

func newJTIStore(db *store.DB) *jtiStore {
	return &jtiStore{st: newClientStore(db), mem: map[string]int64{}}
}

// use records (iss, jti) as used until keepUntil. It reports false when the
// pair was already used and is still remembered.
func (s *jtiStore) use(ctx context.Context, iss, jti string, keepUntil, now time.Time) (bool, error) {
	key := iss + "\x00" + jti
	n, until := now.Unix(), keepUntil.Unix()
	s.mu.Lock()
	if e, ok := s.mem[key]; ok && e >= n {
		s.mu.Unlock()
		return false, nil
	}
	prune := n-s.lastPrune >= jtiPruneEvery
	if prune {
		s.lastPrune = n
		for k, e := range s.mem {
			if e < n {
				delete(s.mem, k)
			}
		}
	}
	s.mu.Unlock()

	if prune {
		if err := s.st.PruneJTIs(ctx, n); err != nil {
			return false, fmt.Errorf("prune jtis: %w", err)
		}
	}
	// Insert, or take over an entry that has expired; a live entry leaves
	// the row untouched and RowsAffected at 0, which is the replay signal.
	fresh, err := s.st.UseJTI(ctx, iss, jti, until, n)
	if err != nil {
		return false, fmt.Errorf("record jti: %w", err)
	}
	s.mu.Lock()
	if e := s.mem[key]; e < until {
		s.mem[key] = until
	}
	s.mu.Unlock()
	return fresh, nil
}
