package ui

import (
	"os"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// The launcher's table, DESIGN.md's list (smart.SimulatedErrors) and
// docs/simulated-errors.md say the same thing.
func TestSimErrorsMatchContractAndDoc(t *testing.T) {
	if len(SimErrors) != len(smart.SimulatedErrors) {
		t.Fatalf("%d explanations for %d simulated errors", len(SimErrors), len(smart.SimulatedErrors))
	}
	for i, e := range SimErrors {
		if e.Name != smart.SimulatedErrors[i] {
			t.Errorf("row %d is %s, smart.SimulatedErrors has %s", i, e.Name, smart.SimulatedErrors[i])
		}
		if e.Explanation == "" || !strings.HasSuffix(e.Explanation, ".") || e.Applies == "" {
			t.Errorf("%s: explanation must be one full sentence and say where it applies", e.Name)
		}
	}

	b, err := os.ReadFile("../docs/simulated-errors.md")
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
	if len(rows) != len(SimErrors) {
		t.Fatalf("doc has %d rows, ui.SimErrors %d", len(rows), len(SimErrors))
	}
	for i, e := range SimErrors {
		want := []string{"`" + e.Name + "`", e.Applies, e.Explanation}
		if strings.Join(rows[i], "\x00") != strings.Join(want, "\x00") {
			t.Errorf("doc row %d\n got %q\nwant %q", i, rows[i], want)
		}
	}
}
