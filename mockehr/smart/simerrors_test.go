package smart

import (
	"os"
	"strings"
	"testing"
)

func TestSimulatedErrorCatalogue(t *testing.T) {
	names, labels := map[SimulatedError]bool{}, map[string]bool{}
	for _, e := range SimulatedErrors {
		if names[e.Name] || labels[e.Label] {
			t.Errorf("%s: name or label %q used twice", e.Name, e.Label)
		}
		names[e.Name], labels[e.Label] = true, true
		if e.Label == "" || len(e.Label) > 40 || e.Applies == "" || !strings.HasSuffix(e.Explanation, ".") {
			t.Errorf("%s: needs a short label, where it applies and one full sentence of explanation", e.Name)
		}
		prefix, _, _ := strings.Cut(string(e.Name), "_")
		switch {
		case e.Phase != PhaseAuthorize && e.Phase != PhaseToken && e.Phase != PhaseRequest:
			t.Errorf("%s: unknown phase %q", e.Name, e.Phase)
		case prefix == "auth" && (e.Backend || e.Phase == PhaseRequest), // backend services have no authorize step
			prefix == "token" && e.Phase != PhaseToken,
			prefix == "request" && (!e.Backend || e.Phase != PhaseRequest):
			t.Errorf("%s: phase %s, backend %v do not fit its name", e.Name, e.Phase, e.Backend)
		}
		if got, ok := LookupSimulatedError(string(e.Name)); !ok || got != e {
			t.Errorf("LookupSimulatedError(%s) = %v, %v", e.Name, got, ok)
		}
	}
	if _, ok := LookupSimulatedError("nope"); ok {
		t.Error("LookupSimulatedError found an unknown name")
	}
	if n := SimulatedErrorNames(); len(n) != len(SimulatedErrors) || n[0] != string(SimulatedErrors[0].Name) {
		t.Errorf("SimulatedErrorNames() = %v", n)
	}
}

// docs/simulated-errors.md's table is the catalogue: same names, same
// order, same "Applies to" and "What happens".
func TestSimulatedErrorsDocMatchesCatalogue(t *testing.T) {
	b, err := os.ReadFile("../../docs/simulated-errors.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) != len(SimulatedErrors) {
		t.Fatalf("doc has %d rows, smart.SimulatedErrors %d", len(rows), len(SimulatedErrors))
	}
	for i, e := range SimulatedErrors {
		want := []string{"`" + string(e.Name) + "`", e.Applies, e.Explanation}
		if strings.Join(rows[i], "\x00") != strings.Join(want, "\x00") {
			t.Errorf("doc row %d\n got %q\nwant %q", i, rows[i], want)
		}
	}
}
