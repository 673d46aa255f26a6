package loadgen_test

import (
	"context"
	"io"
	"testing"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/cmd/ehrsim/app/loadgen"
)

// BenchmarkFullEHRLaunchInspector compares the full EHR launch rate with the
// launch inspector recording (the default) and switched off
// (--inspector-launches 0), in one run: the budget is that
// recording costs at most 10% of the rate. Read the two launches/s figures
// side by side.
func BenchmarkFullEHRLaunchInspector(b *testing.B) {
	for _, c := range []struct{ name, launches string }{{"on", "1000"}, {"off", "0"}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := app.Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", b.TempDir(), "--log-level", "error",
				"--inspector-launches", c.launches}, func(string) string { return "" }, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Shutdown(context.Background()) })
			cl := loadgen.NewClient(s.URL, 16, "", "")
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := cl.Launch(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "launches/s")
		})
	}
}
