package main

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// maxBinaryModules bounds the modules the ehrsim binary is built from: a
// first `go run ./cmd/ehrsim` downloads each of them (the README says how
// long that takes), so a new one is a decision, not an accident.
const maxBinaryModules = 40

// The binary's dependency graph stays its own: the go.mod tool lines
// (templ's generator, the task runner) bring in their dependencies for
// `go tool`, but nothing the binary imports may come from a tool's module,
// but for templ's small runtime package that the pages render with.
func TestBinaryDependenciesExcludeTools(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var mods []string
	for _, m := range strings.Fields(string(out)) {
		if !slices.Contains(mods, m) {
			mods = append(mods, m)
		}
	}
	edit, err := exec.Command(gobin, "mod", "edit", "-json").Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var gomod struct{ Tool []struct{ Path string } }
	if err := json.Unmarshal(edit, &gomod); err != nil {
		t.Fatal(err)
	}
	shared := map[string]bool{"github.com/a-h/templ": true} // templ's runtime, not its generator
	for _, tool := range gomod.Tool {
		toolMods, err := exec.Command(gobin, "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}", tool.Path).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tool.Path, err)
		}
		own, _, _ := strings.Cut(tool.Path, "/cmd/")
		for _, m := range strings.Fields(string(toolMods)) {
			if m == own && !shared[m] && slices.Contains(mods, m) {
				t.Errorf("the binary imports the module of the tool %s (%s)", tool.Path, m)
			}
		}
	}
	if len(mods) > maxBinaryModules {
		slices.Sort(mods)
		t.Errorf("the binary is built from %d modules (budget %d):\n%s", len(mods), maxBinaryModules, strings.Join(mods, "\n"))
	}
}
