package loadgen_test

import (
	"context"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/cmd/ehrsim/app/loadgen"
	"github.com/ehrsim/ehrsim/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// startPostgres starts an ehrsim whose shared state is in a fresh
// PostgreSQL database (--database-url).
func startPostgres(tb testing.TB) *app.Server {
	tb.Helper()
	return start(tb, "--database-url", pgtest.URL(tb))
}

// Full launches against an instance on PostgreSQL: every step succeeds.
func TestFullLaunchesSucceedOnPostgres(t *testing.T) {
	s := startPostgres(t)
	r, err := loadgen.Run(context.Background(), loadgen.Options{BaseURL: s.URL, Concurrency: 4, Launches: 40, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Launches < 40 {
		t.Fatalf("%v", r)
	}
}

// BenchmarkFullEHRLaunchPostgres is BenchmarkFullEHRLaunch with the
// shared state in PostgreSQL (the private test server: fsync off), to read
// beside it. Report: launches/s.
func BenchmarkFullEHRLaunchPostgres(b *testing.B) {
	benchLaunches(b, startPostgres(b), "")
}
