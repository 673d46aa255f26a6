package app

import (
	"context"
	"io"
	"testing"
)

// BenchmarkStart measures cold start to ready with the default fixtures on an
// existing data directory (docs/architecture.md target: < 300 ms).
func BenchmarkStart(b *testing.B) {
	dir := b.TempDir()
	s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "error"}, env(nil), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	s.Shutdown(context.Background()) // first start creates keys and demo clients
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "error"}, env(nil), io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Shutdown(context.Background())
		b.StartTimer()
	}
}
