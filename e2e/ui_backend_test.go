package e2e

import (
	"html"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The launcher's ready-made backend-service commands (client assertion
// signed with the public demo key, client_credentials token for the
// scenario's FHIR base, a FHIR search) run as shown and return data.
func TestUIBackendServiceCommandsWork(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	requireWired(t, s)
	backendCommandsWork(t, s.URL)
}

func backendCommandsWork(t *testing.T, base string) {
	for _, tool := range []string{"bash", "curl", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	res, err := http.Get(base + "/?launch_type=backend-service&client_id=demo-backend&mint=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`(?s)data-testid="result-backend-curl">(.*?)</pre>`).FindSubmatch(b)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("launcher: %d, no backend commands", res.StatusCode)
	}
	cmd := exec.Command("bash", "-c", "set -eo pipefail\n"+html.UnescapeString(string(m[1])))
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"resourceType":"Bundle"`) || !strings.Contains(string(out), `"token_type":"Bearer"`) {
		t.Fatalf("commands failed (%v):\n%s", err, out)
	}
}
