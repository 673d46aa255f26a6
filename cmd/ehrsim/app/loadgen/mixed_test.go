package loadgen_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app/loadgen"
)

// The soak workload (ehrsim load --mixed): launches, FHIR reads, searches
// and writes, introspections and refreshes, all succeeding.
func TestMixedWorkloadSucceeds(t *testing.T) {
	s := start(t)
	r, err := loadgen.Run(context.Background(), loadgen.Options{BaseURL: s.URL, Concurrency: 4, Launches: 20, Duration: time.Minute, Mixed: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Launches < 20 || !strings.Contains(r.String(), "mixed iterations") {
		t.Fatalf("%v", r)
	}
}
