package fhirstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Create stores r (from Parse) under a new server-assigned id, version 1.
func (s *Store) Create(ctx context.Context, r *Resource) (*Resource, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		r.ID = hex.EncodeToString(b)
		if _, taken := s.Get(r.Type, r.ID); !taken {
			break
		}
	}
	return r, s.commit(ctx, r, nil)
}

// Update stores r (from Parse, with its id) as the next version, creating
// it when absent (update-as-create). ifMatch > 0 requires the current
// version to be ifMatch (ErrConflict otherwise).
func (s *Store) Update(ctx context.Context, r *Resource, ifMatch int) (res *Resource, created bool, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	prev, _ := s.Get(r.Type, r.ID)
	if ifMatch > 0 && (prev == nil || prev.Deleted || prev.Version != ifMatch) {
		return nil, false, ErrConflict
	}
	return r, prev == nil || prev.Deleted, s.commit(ctx, r, prev)
}

// Delete records a deletion of typ/id.
func (s *Store) Delete(ctx context.Context, typ, id string, ifMatch int) (*Resource, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	prev, _ := s.Get(typ, id)
	if prev == nil {
		return nil, ErrNotFound
	}
	if ifMatch > 0 && (prev.Deleted || prev.Version != ifMatch) {
		return nil, ErrConflict
	}
	if prev.Deleted {
		return prev, nil // already deleted: idempotent (FHIR R4 http §delete)
	}
	r := tombstone(prev, typ, id)
	return r, s.commit(ctx, r, prev)
}

// commit versions r after prev, persists it and publishes it. Callers
// hold writeMu.
func (s *Store) commit(ctx context.Context, r, prev *Resource) error {
	r.Version = 1
	if prev != nil {
		r.Version = prev.Version + 1
	}
	r.LastUpdated = s.now().UTC().Truncate(time.Microsecond)
	if prev != nil && !r.LastUpdated.After(prev.LastUpdated) {
		r.LastUpdated = prev.LastUpdated.Add(time.Microsecond) // keep history ordered under a frozen test clock
	}
	if r.Deleted {
		r.finishTombstone()
	} else if err := r.finish(s.lookupPatientLocked); err != nil {
		return err
	}
	if s.be != nil {
		var body []byte
		if !r.Deleted {
			body = bytes.Clone(r.Raw)
		}
		if err := s.be.AppendVersion(ctx, StoredVersion{Type: r.Type, ID: r.ID, Version: r.Version, LastUpdated: r.LastUpdated, Deleted: r.Deleted, Body: body}); err != nil {
			return fmt.Errorf("fhirstore: persist %s/%s: %w", r.Type, r.ID, err)
		}
	}
	r.persisted = s.be != nil
	s.publish(r, prev)
	return nil
}
