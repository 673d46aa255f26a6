package fhirstore

import (
	"context"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/fixtures"
)

// countingSource counts how often the store reads the fixture files.
type countingSource struct {
	*fixtures.Dir
	checks, eaches int
}

func (c *countingSource) Check(ctx context.Context) (int, error) {
	c.checks++
	return c.Dir.Check(ctx)
}

func (c *countingSource) Each(ctx context.Context, fn func([]byte, string) error) error {
	c.eaches++
	return c.Dir.Each(ctx, fn)
}

// TestScaleSmoke is CI's data-at-scale check on 1,000 generated patients
// (go tool task scale-smoke; EHRSIM_SCALE_PATIENTS changes the count): the
// import keeps memory bounded (heap in use after a collection, and resident
// memory, both against generous limits), and a restart on the same data
// directory reads no fixture file (the import is skipped) yet answers the
// same. It measures no time: ehrsim bench-scale does (internal/benchscale).
func TestScaleSmoke(t *testing.T) {
	if os.Getenv("EHRSIM_SCALE_SMOKE") == "" {
		t.Skip("set EHRSIM_SCALE_SMOKE=1 to run (go tool task scale-smoke); too slow under the race detector")
	}
	patients := 1000
	if v := os.Getenv("EHRSIM_SCALE_PATIENTS"); v != "" {
		patients, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	gen := t.TempDir()
	if err := fixtures.GenerateCommand(ctx, []string{"--patients", strconv.Itoa(patients), "--seed", "7", "--out", gen, "--ref-date", "2025-06-01"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	const cache = 32 << 20
	open := func() (*Store, *countingSource) {
		t.Helper()
		d, err := fixtures.OpenDir(gen, nil)
		if err != nil {
			t.Fatal(err)
		}
		src := &countingSource{Dir: d}
		db := openDB(t, dataDir)
		s, err := Open(ctx, Options{DB: db, Import: src, CacheBytes: cache, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return s, src
	}
	probe := func(s *Store) []string {
		var out []string
		for _, q := range [][2]string{
			{"Observation", "patient=pat-g00042&category=vital-signs&_sort=-date"},
			{"Encounter", "patient=pat-g00500&status=finished"},
			{"Patient", "_id=pat-g00001,pat-g01000"},
			{"Condition", "clinical-status=active"},
		} {
			out = append(out, strings.Join(keys(s.Search(query(t, q[0], q[1], ""))), ","))
		}
		return out
	}

	s, src := open()
	st := s.Stats()
	if st.ImportSkipped || st.Imported < patients*100 || src.eaches != 1 {
		t.Fatalf("first start: %+v, files read %d times", st, src.eaches)
	}
	want := probe(s)
	if slices.Contains(want, "") {
		t.Fatalf("a probe query found nothing: %q", want)
	}
	// Memory: the index is about 50 bytes a resource and the cache is
	// bounded; the resources themselves are not in memory. The limits are
	// loose on purpose (about 5x what it takes), never a timing.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapLimit := uint64(cache + 64<<20 + st.Imported*200)
	if ms.HeapInuse > heapLimit {
		t.Errorf("heap in use after the import: %d MB, limit %d MB", ms.HeapInuse>>20, heapLimit>>20)
	}
	if rss := residentKB(t); rss > 1<<20 {
		t.Errorf("resident memory %d MB, limit 1024 MB", rss>>10)
	}
	t.Logf("%d resources; heap in use %d MB; index %d KB; resident %d MB", st.Imported, ms.HeapInuse>>20, st.IndexBytes>>10, residentKB(t)>>10)
	s.Close()

	// Restart: the import is skipped, the files are not even read.
	s2, src2 := open()
	defer s2.Close()
	if st2 := s2.Stats(); !st2.ImportSkipped || st2.Imported != st.Imported || src2.checks != 0 || src2.eaches != 0 {
		t.Fatalf("restart: %+v; files checked %d and read %d times", st2, src2.checks, src2.eaches)
	}
	if got := probe(s2); !slices.Equal(got, want) {
		t.Fatalf("after the restart the answers differ")
	}
}

// residentKB reads VmRSS from /proc/self/status (0 where there is none).
func residentKB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}
