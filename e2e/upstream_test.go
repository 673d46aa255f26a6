package e2e

import (
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/upstream/upstreamtest"
)

// Upstream mode in a browser: ehrsim in front of an upstream FHIR server
// started here (fhirtest.World: Amy Shaw and Bob Jones, behind a bearer
// credential of its own). The launcher, login page, picker, simulated EHR
// banner and the sample app all show upstream patients, read through
// ehrsim; the credential shows up in no page and no log line.
func TestUpstreamBrowserLaunches(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T) string {
		up := upstreamtest.Start(t, fhirtest.World())
		s := startServer(t, "--fhir-upstream", up.URL, "--fhir-upstream-header", "Authorization: Bearer "+upstreamtest.Token, "--log-level", "debug")
		requireWired(t, s)
		t.Cleanup(func() {
			if strings.Contains(s.Log(), upstreamtest.Token) {
				t.Error("the upstream credential is in ehrsim's log")
			}
		})
		return s.URL
	}
	t.Run("provider-ehr", func(t *testing.T) {
		t.Parallel()
		base := start(t)
		page := newPage(t)
		goto_(t, page, base+"/")
		html, err := page.Content()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(html, "Amy Shaw") || strings.Contains(html, "pat-amy-shaw") || strings.Contains(html, upstreamtest.Token) {
			t.Errorf("the launcher does not list the upstream's patients only")
		}
		providerEHRLaunchInSimulatedEHR(t, base)
	})
	t.Run("standalone", func(t *testing.T) { standaloneLaunches(t, start) })
}
