package app

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go collector's default (GOGC=100) lets the heap grow to twice what is
// live before collecting, so a server with 40 MB live (the demo data, the
// bounded caches) sits at 100–110 MB resident under load. tuneGC adds a
// soft memory limit that follows the live heap: 1.5 × live + 16 MiB, never
// under 64 MiB, re-read every few seconds. Near the limit the collector
// runs earlier (more often, each cycle as cheap as before: its cost is the
// live heap, not the garbage); the limit is always above what is live, so
// it never forces back-to-back collections, and a heap that grows (an
// import, many writes) raises it at the next reading.
//
// Only the ehrsim binary tunes (Run, not Start: tests run many servers in
// one process), and not when GOGC or GOMEMLIMIT is set: the operator's
// setting wins.
const (
	gcTuneFloor    = 64 << 20
	gcTuneHeadroom = 16 << 20
	gcTuneEvery    = 5 * time.Second
)

func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		debug.SetMemoryLimit(gcMemoryLimit(sample[0].Value.Uint64()))
	}
	set()
	t := time.NewTicker(gcTuneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set()
		}
	}
}

// gcMemoryLimit is the soft limit for a live heap of live bytes.
func gcMemoryLimit(live uint64) int64 {
	return max(gcTuneFloor, int64(live+live/2)+gcTuneHeadroom)
}
