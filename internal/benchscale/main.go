// Command benchscale measures ehrsim's FHIR data at scale (go tool task
// bench-scale): for each size it generates a data set (fixtures generate,
// seed 7, cached in the work directory), imports it into a fresh data
// directory, restarts on it, and times FHIR reads and searches through the
// FHIR handler with a patient-scoped token (scope check included). Each
// phase runs in a child process, so resident memory is that phase's alone.
//
// It prints, per size: import time, restart time, database size, resident
// memory (peak during the import, after the restart, after the queries),
// and the latency of each query for one patient asked again and again
// ("warm": its records are in the cache) and for a random patient each
// time ("cold": read from the database). Latencies are also given as a
// ratio to the first size measured in the same run.
//
//	go run ./internal/benchscale [-sizes 100,10000,100000] [-work DIR] [-cache-mb 128]
//
// It is a measurement, not a test: it never fails on a figure.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
	"github.com/ehrsim/ehrsim/mockehr/fhir"
	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

const (
	seed    = "7"
	refDate = "2025-06-01"
	base    = "http://localhost:8080"
	warmPat = "pat-g00042"
)

func main() {
	sizes := flag.String("sizes", "100,10000,100000", "patient counts, comma-separated (the first is the baseline)")
	work := flag.String("work", filepath.Join(os.TempDir(), "ehrsim-bench-scale"), "work directory (generated sets are kept there for the next run)")
	cacheMB := flag.Int("cache-mb", 128, "decoded-resource cache (ehrsim's --fhir-cache-mb)")
	child := flag.String("child", "", "internal: run one phase (import or serve)")
	gen := flag.String("gen", "", "internal: generated data directory")
	data := flag.String("data", "", "internal: data directory")
	patients := flag.Int("patients", 0, "internal: patients in the set")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of each phase to FILE.<phase>.<patients>")
	keep := flag.Bool("keep", false, "keep the data directories; a kept one is not imported again (only restarted and queried)")
	flag.Parse()
	if *child != "" {
		if *cpuProfile != "" {
			f, err := os.Create(fmt.Sprintf("%s.%s.%d", *cpuProfile, *child, *patients))
			if err == nil {
				pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
		}
		res, err := runChild(*child, *gen, *data, *patients, int64(*cacheMB)<<20)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 {
			fmt.Fprintf(os.Stderr, "bad size %q (at least 100)\n", s)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("benchscale: %d cores, GOMAXPROCS %d, cache %d MB, work %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), *cacheMB, *work)
	syn, err := measureSynthea(*work, *cacheMB, *cpuProfile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "synthea-shaped record: %v\n", err)
		os.Exit(1)
	}
	var rows []row
	for _, n := range ns {
		r, err := measure(*work, n, *cacheMB, *cpuProfile, *keep)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%d patients: %v\n", n, err)
			os.Exit(1)
		}
		rows = append(rows, r)
		report(rows)
		fmt.Printf("\nSynthea-shaped record (one patient, urn:uuid and conditional references, claims skipped): %d resources read, %d imported in %.1f s: %.0f resources/s (generated %d patients: %.0f resources/s)\n",
			syn.resources, syn.imp.Resources, syn.imp.ImportSecs, float64(syn.resources)/syn.imp.ImportSecs, r.patients, float64(r.imp.Resources)/r.imp.ImportSecs)
	}
}

type synRow struct {
	resources int
	imp       result
}

// measureSynthea imports one Synthea-shaped record of 500 encounters.
func measureSynthea(work string, cacheMB int, profile string) (synRow, error) {
	var r synRow
	dir := filepath.Join(work, "synthea")
	os.RemoveAll(dir)
	_, n, err := fixtures.WriteSyntheaLike(dir, 1, 500)
	if err != nil {
		return r, err
	}
	r.resources = n
	data := filepath.Join(work, "data-synthea")
	os.RemoveAll(data)
	defer os.RemoveAll(data)
	r.imp, err = spawn("import", dir, data, 0, cacheMB, profile)
	return r, err
}

type row struct {
	patients int
	gen      time.Duration
	imp      result
	serve    result
}

// result is what a child phase reports.
type result struct {
	Resources   int                `json:"resources"`
	OpenSeconds float64            `json:"open_seconds"`
	ImportSecs  float64            `json:"import_seconds"` // inside the store: files read, parsed, written
	Skipped     bool               `json:"import_skipped"`
	CPUSeconds  float64            `json:"cpu_seconds"`
	PeakRSSMB   int                `json:"peak_rss_mb"`
	RSSMB       int                `json:"rss_mb"`       // after open
	ServeRSSMB  int                `json:"serve_rss_mb"` // after the queries
	HeapMB      int                `json:"heap_mb"`      // in use after GC, after open
	IndexMB     float64            `json:"index_mb"`
	DBMB        int                `json:"db_mb"`
	Warm        map[string]float64 `json:"warm_us"`
	Cold        map[string]float64 `json:"cold_us"`
	Matches     map[string]int     `json:"matches"`
}

func measure(work string, n, cacheMB int, profile string, keep bool) (row, error) {
	r := row{patients: n}
	gen := filepath.Join(work, fmt.Sprintf("gen-%d-seed%s", n, seed))
	if _, err := os.Stat(filepath.Join(gen, ".complete")); err != nil {
		os.RemoveAll(gen)
		t0 := time.Now()
		if err := fixtures.GenerateCommand(context.Background(), []string{"--patients", strconv.Itoa(n), "--seed", seed, "--out", gen, "--ref-date", refDate}, io.Discard, io.Discard); err != nil {
			return r, err
		}
		r.gen = time.Since(t0)
		os.WriteFile(filepath.Join(gen, ".complete"), nil, 0o644)
	}
	data := filepath.Join(work, fmt.Sprintf("data-%d", n))
	var err error
	_, statErr := os.Stat(filepath.Join(data, "bench-totals.json"))
	switch {
	case keep && statErr == nil:
		fmt.Printf("%d patients: kept data directory, not imported again\n", n)
	default:
		os.RemoveAll(data)
		if r.imp, err = spawn("import", gen, data, n, cacheMB, profile); err != nil {
			return r, err
		}
	}
	if !keep {
		defer os.RemoveAll(data)
	}
	if r.serve, err = spawn("serve", gen, data, n, cacheMB, profile); err != nil {
		return r, err
	}
	if !r.serve.Skipped {
		return r, fmt.Errorf("the restart imported again")
	}
	return r, nil
}

func spawn(phase, gen, data string, n, cacheMB int, profile string) (result, error) {
	var res result
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	cmd := exec.Command(self, "-child", phase, "-gen", gen, "-data", data, "-patients", strconv.Itoa(n), "-cache-mb", strconv.Itoa(cacheMB), "-cpuprofile", profile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("%s: %w", phase, err)
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return res, fmt.Errorf("%s: %w (%s)", phase, err, out.Bytes())
	}
	if ps := cmd.ProcessState; ps != nil {
		res.CPUSeconds = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	return res, nil
}

// queries are the FHIR requests timed for patient p (total: matches of the
// compartment search, for the last page).
func queries(p string, total int) [][2]string {
	num := strings.TrimPrefix(p, "pat-")
	last := max(0, (total-1)/10*10)
	return [][2]string{
		{"read", "/fhir/Observation/obs-" + num + "-1"},
		{"compartment", "/fhir/Observation?patient=" + p},
		{"category", "/fhir/Observation?patient=" + p + "&category=vital-signs"},
		{"date-range", "/fhir/Observation?patient=" + p + "&date=ge2024-01-01&date=lt2025-01-01"},
		{"include", "/fhir/Observation?patient=" + p + "&category=laboratory&_include=Observation:encounter"},
		{"sort", "/fhir/Encounter?patient=" + p + "&_sort=-date"},
		{"last-page", "/fhir/Observation?patient=" + p + "&_sort=date&_count=10&_offset=" + strconv.Itoa(last)},
	}
}

func runChild(phase, gen, data string, n int, cacheBytes int64) (result, error) {
	var res result
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if phase == "import" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)) // the progress lines
	}
	t0 := time.Now()
	// What ehrsim does at start-up (cmd/ehrsim/app/wire.go): the demo set
	// in memory, the generated set imported beside it.
	def, err := fixtures.Default(time.Now())
	if err != nil {
		return res, err
	}
	known := map[string]bool{}
	for _, raw := range def {
		var r struct{ ResourceType, ID string }
		json.Unmarshal(raw, &r)
		known[r.ResourceType+"/"+r.ID] = true
	}
	db, err := store.Open(ctx, data)
	if err != nil {
		return res, err
	}
	defer db.Close()
	dir, err := fixtures.OpenDir(gen, func(ref string) bool { return known[ref] })
	if err != nil {
		return res, err
	}
	st, err := fhirstore.Open(ctx, fhirstore.Options{DB: db, Fixtures: def, Import: dir, CacheBytes: cacheBytes, Logger: logger})
	if err != nil {
		return res, err
	}
	defer st.Close()
	res.OpenSeconds = time.Since(t0).Seconds()
	stats := st.Stats()
	res.Resources, res.Skipped, res.IndexMB = stats.Imported, stats.ImportSkipped, float64(stats.IndexBytes)/(1<<20)
	res.ImportSecs = stats.ImportTook.Seconds()
	if fi, err := os.Stat(filepath.Join(data, fhirstore.ImportedFileName)); err == nil {
		res.DBMB = int(fi.Size() >> 20)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapMB = int(ms.HeapInuse >> 20)
	res.RSSMB, res.PeakRSSMB = procStatusMB("VmRSS"), procStatusMB("VmHWM")

	srv, err := fhir.New(fhir.Options{Store: st, BaseURL: base, Logger: slog.New(slog.DiscardHandler),
		Grants: smart.GrantResolverFunc(func(_ context.Context, token string) (*smart.Grant, error) {
			return &smart.Grant{Scopes: []string{"launch/patient", "patient/*.rs"}, Patient: token, Audience: base + "/fhir"}, nil
		})})
	if err != nil {
		return res, err
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	get := func(path, patient string) (int, []byte) {
		req := httptest.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+patient)
		w := &recorder{h: http.Header{}}
		mux.ServeHTTP(w, req)
		return w.status, w.body.Bytes()
	}
	// The cold patients, and how many Observations each has (for the last
	// page): counted by the import phase, whose cache dies with it.
	pats := coldPatients(n)
	totalsFile := filepath.Join(data, "bench-totals.json")
	totals := map[string]int{}
	if phase == "import" && n == 0 {
		return res, nil // not a generated set
	}
	if phase == "import" {
		for _, p := range append(pats, warmPat) {
			_, body := get("/fhir/Observation?patient="+p+"&_summary=count", p)
			var b struct{ Total int }
			json.Unmarshal(body, &b)
			totals[p] = b.Total
		}
		b, _ := json.Marshal(totals)
		return res, os.WriteFile(totalsFile, b, 0o644)
	}
	b, err := os.ReadFile(totalsFile)
	if err != nil {
		return res, err
	}
	json.Unmarshal(b, &totals)
	total := func(p string) int { return totals[p] }
	res.Warm, res.Cold, res.Matches = map[string]float64{}, map[string]float64{}, map[string]int{}
	// Warm: one patient, again and again (its records stay in the cache).
	for _, q := range queries(warmPat, total(warmPat)) {
		status, body := get(q[1], warmPat)
		if status != 200 {
			return res, fmt.Errorf("%s: %d %s", q[1], status, body)
		}
		var b struct{ Total int }
		json.Unmarshal(body, &b)
		res.Matches[q[0]] = b.Total
		res.Warm[q[0]] = timeIt(func() { get(q[1], warmPat) }, 2000, time.Second)
	}
	// Cold: a patient not asked about before each time (read from the
	// database unless the cache holds it; with few patients it soon does).
	next := 0
	for qi, q := range queries(warmPat, 0) {
		res.Cold[q[0]] = timeIt(func() {
			p := pats[next%len(pats)]
			next++
			get(queries(p, total(p))[qi][1], p)
		}, coldPerQuery, 3*time.Second)
	}
	res.ServeRSSMB, res.PeakRSSMB = procStatusMB("VmRSS"), procStatusMB("VmHWM")
	return res, nil
}

const coldPerQuery = 200

// coldPatients lists distinct random patients, enough for every cold call.
func coldPatients(n int) []string {
	rng := rand.New(rand.NewPCG(7, 7))
	perm := rng.Perm(n)
	k := min(n, (coldPerQuery+1)*len(queries(warmPat, 0)))
	out := make([]string, 0, k)
	for _, i := range perm[:k] {
		if p := fmt.Sprintf("pat-g%05d", i+1); p != warmPat {
			out = append(out, p)
		}
	}
	return out
}

// timeIt returns the median latency of fn in µs over up to n calls or d.
func timeIt(fn func(), n int, d time.Duration) float64 {
	fn() // first call outside the measure
	var ts []time.Duration
	start := time.Now()
	for len(ts) < n && time.Since(start) < d {
		t0 := time.Now()
		fn()
		ts = append(ts, time.Since(t0))
	}
	slices.Sort(ts)
	return float64(ts[len(ts)/2].Nanoseconds()) / 1e3
}

type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header         { return w.h }
func (w *recorder) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *recorder) WriteHeader(s int)           { w.status = s }

func procStatusMB(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb >> 10
		}
	}
	return 0
}

func report(rows []row) {
	fmt.Println()
	fmt.Printf("%-9s %10s %9s %9s %9s %8s %10s %10s %10s %9s\n", "patients", "resources", "import s", "import cpu", "restart s", "db MB", "import RSS", "restart RSS", "serve RSS", "index MB")
	for _, r := range rows {
		fmt.Printf("%-9d %10d %9.1f %9.1f %9.2f %8d %10d %10d %10d %9.1f\n", r.patients, r.imp.Resources, r.imp.OpenSeconds, r.imp.CPUSeconds,
			r.serve.OpenSeconds, r.imp.DBMB, r.imp.PeakRSSMB, r.serve.RSSMB, r.serve.ServeRSSMB, r.imp.IndexMB)
	}
	base := rows[0]
	fmt.Println()
	fmt.Printf("%-12s %-8s", "query (µs)", "matches")
	for _, r := range rows {
		fmt.Printf(" %14s", fmt.Sprintf("warm %d", r.patients))
	}
	for _, r := range rows {
		fmt.Printf(" %14s", fmt.Sprintf("cold %d", r.patients))
	}
	fmt.Println()
	for _, q := range queries(warmPat, 0) {
		name := q[0]
		fmt.Printf("%-12s %-8d", name, base.serve.Matches[name])
		for _, r := range rows {
			fmt.Printf(" %14s", fmt.Sprintf("%.0f (%.1fx)", r.serve.Warm[name], r.serve.Warm[name]/base.serve.Warm[name]))
		}
		for _, r := range rows {
			fmt.Printf(" %14s", fmt.Sprintf("%.0f (%.1fx)", r.serve.Cold[name], r.serve.Cold[name]/base.serve.Cold[name]))
		}
		fmt.Println()
	}
}
