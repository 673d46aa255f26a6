package app

import "testing"

// The limit stays above the live heap with room to allocate (so it never
// forces back-to-back collections) and never drops under the floor.
func TestGCMemoryLimit(t *testing.T) {
	for _, live := range []uint64{0, 10 << 20, 40 << 20, 300 << 20, 4 << 30} {
		got := gcMemoryLimit(live)
		if got < gcTuneFloor || got < int64(live)+gcTuneHeadroom || got < int64(live)*3/2 {
			t.Errorf("live %d MiB: limit %d MiB", live>>20, got>>20)
		}
	}
	if got := gcMemoryLimit(40 << 20); got != 76<<20 {
		t.Errorf("live 40 MiB: limit %d MiB, want 76", got>>20)
	}
}
