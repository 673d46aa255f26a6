package launcher

import (
	"testing"
)

// BenchmarkMint is the full POST path minus HTTP: validation against the
// Directory, sealing and the SQLite record.
func BenchmarkMint(b *testing.B) {
	e := newEnv(b, "")
	req := Request{LaunchType: "provider-ehr", Patient: "pt-1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := e.svc.Mint(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMintParallel: 16-way concurrent minting (the full-launch target
// runs 16 clients).
func BenchmarkMintParallel(b *testing.B) {
	e := newEnv(b, "")
	req := Request{LaunchType: "provider-ehr", Patient: "pt-1"}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := e.svc.Mint(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOpen is what the authorization server pays per authorize.
func BenchmarkOpen(b *testing.B) {
	e := newEnv(b, "")
	res, _, err := e.svc.Mint(ctx, fullRequest())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ReportMetric(float64(len(res.Launch)), "code-bytes")
	for b.Loop() {
		if _, err := e.svc.Open(ctx, res.Launch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFHIRBaseReseal: the deterministic re-derivation of a scenario
// base for a launch that does not remember its scenario string.
func BenchmarkFHIRBaseReseal(b *testing.B) {
	e := newEnv(b, "")
	_, l, err := e.svc.Mint(ctx, Request{LaunchType: "patient-standalone", Patient: "pt-1"})
	if err != nil {
		b.Fatal(err)
	}
	cp := *l
	cp.scenario = ""
	b.ReportAllocs()
	for b.Loop() {
		if e.svc.FHIRBase(&cp) == "" {
			b.Fatal("empty base")
		}
	}
}
