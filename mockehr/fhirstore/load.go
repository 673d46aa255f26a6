package fhirstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// loadFixtures decodes and indexes fixtures on every core, then publishes
// them in order (cold start is dominated by JSON decoding).
func (s *Store) loadFixtures(raws []json.RawMessage, loaded time.Time, skipped *int) error {
	var flat []json.RawMessage
	for _, raw := range raws {
		if err := expandBundles(raw, &flat); err != nil {
			return err
		}
	}
	out := make([]*Resource, len(flat))
	errs := make([]error, len(flat))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), len(flat)/64)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(flat) {
					return
				}
				out[i], errs[i] = prepareFixture(flat[i], loaded)
			}
		}()
	}
	wg.Wait()
	for i, r := range out {
		if errs[i] != nil {
			return fmt.Errorf("fixture resource %d: %w", i, errs[i])
		}
		if r == nil {
			*skipped++
			continue
		}
		r.resolveTargets(s.lookupPatientLocked)
		s.publish(r, nil)
	}
	return nil
}

// expandBundles appends raw, or the resources of a Bundle, to out.
func expandBundles(raw json.RawMessage, out *[]json.RawMessage) error {
	if !bytes.HasPrefix(raw, []byte(`{"resourceType":"Bundle"`)) && bytes.HasPrefix(raw, []byte(`{"resourceType":"`)) {
		*out = append(*out, raw)
		return nil
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("fixture is not JSON: %w", err)
	}
	if head.ResourceType != "Bundle" {
		*out = append(*out, raw)
		return nil
	}
	for _, e := range head.Entry {
		if len(e.Resource) > 0 {
			if err := expandBundles(e.Resource, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepareFixture parses and finishes one fixture resource as version 1;
// nil for an unsupported type.
func prepareFixture(raw []byte, loaded time.Time) (*Resource, error) {
	var typ string
	if rest, ok := bytes.CutPrefix(raw, []byte(`{"resourceType":"`)); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 {
			typ = string(rest[:i])
		}
	}
	if typ == "" {
		var head struct{ ResourceType string }
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, err
		}
		typ = head.ResourceType
	}
	if types[typ] == nil {
		return nil, nil
	}
	r, ok := parseSelected(typ, raw)
	if !ok {
		var err error
		if r, err = Parse(typ, raw); err != nil {
			return nil, err
		}
	}
	if r.ID == "" {
		return nil, fmt.Errorf("%s without id", r.Type)
	}
	r.Version, r.LastUpdated, r.fixture = 1, loaded, true
	if meta, ok := r.doc["meta"].(map[string]any); ok {
		if lu, _ := meta["lastUpdated"].(string); lu != "" {
			if t, err := time.Parse(time.RFC3339Nano, lu); err == nil {
				r.LastUpdated = t.UTC()
			}
		}
	}
	return r, r.finish(nil)
}

var errUnreadableVersion = errors.New("fhirstore: unreadable stored version")

// fromStored is the resource a persisted version stands for; prev is the
// version before it (for a deletion's tombstone).
func (s *Store) fromStored(v StoredVersion, prev *Resource) (*Resource, error) {
	var r *Resource
	if v.Deleted {
		r = tombstone(prev, v.Type, v.ID)
	} else {
		var err error
		if r, err = s.Parse(v.Type, v.Body); err != nil {
			return nil, fmt.Errorf("%w: %v", errUnreadableVersion, err)
		}
	}
	r.ID, r.Version, r.LastUpdated, r.persisted = v.ID, v.Version, v.LastUpdated, true
	if !v.Deleted {
		if err := r.finish(s.lookupPatientLocked); err != nil {
			return nil, err
		}
	} else {
		r.finishTombstone()
	}
	return r, nil
}

func (s *Store) overlay(ctx context.Context) error {
	n := 0
	err := s.be.Versions(ctx, func(v StoredVersion) error {
		prev, _ := s.Get(v.Type, v.ID)
		r, err := s.fromStored(v, prev)
		if errors.Is(err, errUnreadableVersion) {
			s.logger.Warn("fhirstore: skipping unreadable stored version", "type", v.Type, "id", v.ID, "version", v.Version, "err", err)
			return nil
		} else if err != nil {
			return err
		}
		s.publish(r, prev)
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("fhirstore: load writes: %w", err)
	}
	if n > 0 {
		s.logger.Info("fhirstore: overlaid stored writes", "versions", n)
	}
	return nil
}
