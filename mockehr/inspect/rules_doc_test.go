package inspect

import (
	"os"
	"strings"
	"testing"
)

// docRow is a rule's row in docs/diagnostics.md's table.
func docRow(r Rule) []string {
	return []string{"`" + r.ID + "`", string(r.Severity), r.Title, r.Fix, "[" + r.Spec + "](" + r.SpecURL + ")"}
}

// docs/diagnostics.md's table is the rule catalogue: every rule of Rules,
// in the same order, with the same severity, check, fix and citation, and
// no rule that does not exist (the table of the "## Rules" section).
func TestDiagnosticsDocMatchesRules(t *testing.T) {
	b, err := os.ReadFile("../../docs/diagnostics.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\n## Rules\n")
	if !ok {
		t.Fatal(`docs/diagnostics.md has no "## Rules" section`)
	}
	var rows [][]string
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	documented := map[string]bool{}
	for _, row := range rows {
		id := strings.Trim(row[0], "`")
		documented[id] = true
		if _, ok := LookupRule(id); !ok {
			t.Errorf("docs/diagnostics.md lists %s, which is not a rule", id)
		}
	}
	for _, r := range Rules {
		if !documented[r.ID] {
			t.Errorf("docs/diagnostics.md lacks the rule %s; its row:\n| %s |", r.ID, strings.Join(docRow(r), " | "))
		}
	}
	if t.Failed() {
		return
	}
	for i, r := range Rules {
		if want := docRow(r); strings.Join(rows[i], "\x00") != strings.Join(want, "\x00") {
			t.Errorf("docs/diagnostics.md row %d\n got | %s |\nwant | %s |", i+1, strings.Join(rows[i], " | "), strings.Join(want, " | "))
		}
	}
}
