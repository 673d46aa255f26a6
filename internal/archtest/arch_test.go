package archtest

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ehrsim/ehrsim"

// A layer is a group of packages that share one import rule.
type layer string

const (
	layerCmd      layer = "cmd"      // cmd/...: wires everything
	layerUI       layer = "ui"       // ui/...: renders; may use the domain packages
	layerDomain   layer = "domain"   // launcher, mockehr/..., fixtures
	layerStatic   layer = "static"   // static: embedded assets, a leaf
	layerInternal layer = "internal" // internal/...: project tooling
	layerE2E      layer = "e2e"      // e2e/...: browser tests and the users' test kit
)

// layerOf places a package (path relative to the module root) in its layer.
func layerOf(rel string) (layer, bool) {
	first, _, _ := strings.Cut(rel, "/")
	switch first {
	case "cmd":
		return layerCmd, true
	case "ui":
		return layerUI, true
	case "launcher", "mockehr", "fixtures":
		return layerDomain, true
	case "static":
		return layerStatic, true
	case "internal":
		return layerInternal, true
	case "e2e":
		return layerE2E, true
	}
	return "", false
}

// forbidden lists, per layer, the layers its packages must not import
// (docs/architecture.md, "Dependency direction"). Only production code is
// checked: tests may import anything, e2e's test kit included.
var forbidden = map[layer][]layer{
	layerDomain:   {layerUI, layerCmd, layerE2E}, // the domain never knows who renders or wires it
	layerStatic:   {layerUI, layerCmd, layerE2E},
	layerInternal: {layerUI, layerCmd, layerE2E},
	layerUI:       {layerCmd, layerE2E}, // ui renders; cmd wires it
	layerCmd:      {layerE2E},           // nothing but tests imports e2e
	layerE2E:      nil,
}

var why = map[layer]string{
	layerUI:  "ui is the presentation layer: only cmd wires it in",
	layerCmd: "cmd wires everything and nothing imports it",
	layerE2E: "nothing but tests imports e2e",
}

// An edge is one direct import, both ends relative to the module root.
type edge struct{ from, to string }

func (e edge) String() string { return e.from + " → " + e.to }

// knownViolations are the imports that break the rules today and are being
// removed. Nothing may be added here: a new violation is fixed, not listed.
// Each entry must still exist, so the list shrinks as they are fixed (the
// test fails and asks for the entry to be removed).
var knownViolations = []edge{}

func TestDependencyDirection(t *testing.T) {
	g := loadGraph(t)
	problems := check(g, knownViolations)
	for _, p := range problems {
		t.Error(p)
	}
}

// loadGraph returns every package of the module with its direct,
// non-test imports inside the module.
func loadGraph(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		from := rel(fields[0])
		g[from] = nil
		for _, imp := range fields[1:] {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				g[from] = append(g[from], rel(imp))
			}
		}
	}
	if len(g) < 10 {
		t.Fatalf("go list found only %d packages; is the test running inside the module?\n%s", len(g), out)
	}
	return g
}

func rel(importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

// check applies the rules to graph g and returns one message per problem:
// a package in no layer, a forbidden import (with every chain of imports
// through which a package reaches it), or an allow-listed violation that no
// longer exists.
func check(g map[string][]string, allowed []edge) []string {
	var problems []string
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)

	layers := map[string]layer{}
	for _, p := range pkgs {
		l, ok := layerOf(p)
		if !ok {
			problems = append(problems, fmt.Sprintf("package %s is in no layer: add its top directory to layerOf in internal/archtest/arch_test.go and to docs/architecture.md", p))
			continue
		}
		layers[p] = l
	}

	isAllowed := map[edge]bool{}
	for _, e := range allowed {
		isAllowed[e] = true
	}

	// For every package P, walk its imports breadth-first, never through an
	// allow-listed edge and never past a package P's layer must not import.
	// Each such package reached ends a chain; chains are grouped by their
	// last edge, the import that breaks the rule.
	chains := map[edge][]string{}
	for _, p := range pkgs {
		from, ok := layers[p]
		if !ok {
			continue
		}
		parent := map[string]string{p: ""}
		queue := []string{p}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			for _, next := range g[cur] {
				if _, seen := parent[next]; seen || isAllowed[edge{cur, next}] {
					continue
				}
				parent[next] = cur
				to, ok := layers[next]
				if ok && slices.Contains(forbidden[from], to) {
					var path []string
					for n := next; n != ""; n = parent[n] {
						path = append(path, n)
					}
					slices.Reverse(path)
					e := edge{cur, next}
					chains[e] = append(chains[e], strings.Join(path, " → "))
					continue
				}
				queue = append(queue, next)
			}
		}
	}

	bad := make([]edge, 0, len(chains))
	for e := range chains {
		bad = append(bad, e)
	}
	slices.SortFunc(bad, func(a, b edge) int { return strings.Compare(a.String(), b.String()) })
	for _, e := range bad {
		cs := chains[e]
		slices.SortFunc(cs, func(a, b string) int {
			if d := len(a) - len(b); d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		var b strings.Builder
		fmt.Fprintf(&b, "forbidden import %s: %s packages must not import %s (%s)\n  import chains that reach it:",
			e, layers[e.from], layers[e.to], why[layers[e.to]])
		for _, c := range cs {
			fmt.Fprintf(&b, "\n    %s", c)
		}
		problems = append(problems, b.String())
	}

	for _, e := range allowed {
		fromL, toL := layers[e.from], layers[e.to]
		switch {
		case !slices.Contains(g[e.from], e.to):
			problems = append(problems, fmt.Sprintf("allow-listed violation %s no longer exists: remove it from the allow-list (knownViolations in internal/archtest/arch_test.go)", e))
		case !slices.Contains(forbidden[fromL], toL):
			problems = append(problems, fmt.Sprintf("allow-listed import %s breaks no rule: remove it from the allow-list (knownViolations in internal/archtest/arch_test.go)", e))
		}
	}
	return problems
}

// The checker itself: it finds a violation reached through other packages,
// names every chain, honours the allow-list and reports stale entries.
func TestCheck(t *testing.T) {
	g := map[string][]string{
		"cmd/ehrsim":     {"cmd/ehrsim/app"},
		"cmd/ehrsim/app": {"launcher", "ui", "mockehr/authz", "e2e/loadgen"},
		"e2e/loadgen":    {"fixtures"},
		"e2e/ehrsimtest": {"cmd/ehrsim/app"},
		"launcher":       {"mockehr/smart"},
		"mockehr/authz":  {"launcher", "ui/authui"},
		"mockehr/smart":  {"ui/layout"}, // the new violation
		"fixtures":       nil,
		"ui":             {"launcher", "ui/layout"},
		"ui/authui":      {"ui/layout"},
		"ui/layout":      {"static"},
		"static":         nil,
	}
	allowed := []edge{
		{"mockehr/authz", "ui/authui"},
		{"cmd/ehrsim/app", "e2e/loadgen"},
		{"mockehr/fhir", "ui"}, // stale
	}
	got := check(g, allowed)
	want := []string{
		"forbidden import mockehr/smart → ui/layout: domain packages must not import ui (ui is the presentation layer: only cmd wires it in)\n" +
			"  import chains that reach it:\n" +
			"    mockehr/smart → ui/layout\n" +
			"    launcher → mockehr/smart → ui/layout\n" +
			"    mockehr/authz → launcher → mockehr/smart → ui/layout",
		"allow-listed violation mockehr/fhir → ui no longer exists: remove it from the allow-list (knownViolations in internal/archtest/arch_test.go)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if got := check(map[string][]string{"tools/gen": nil}, nil); len(got) != 1 || !strings.Contains(got[0], "package tools/gen is in no layer") {
		t.Errorf("unclassified package: %q", got)
	}
}
