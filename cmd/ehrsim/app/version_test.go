package app

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildInfoFromEachKindOfBuild(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-05-01T10:00:00Z"}, {Key: "vcs.modified", Value: modified},
		}
	}
	const rev = "395afb0c1d2e3f405162738495a6b7c8d9e0f1a2"
	for _, tc := range []struct {
		name      string
		bi        *debug.BuildInfo
		override  string
		wantShort string
		wantLines []string
	}{
		{
			name:      "go install …@v1.2.3 (module version, no VCS stamp)",
			bi:        &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/ehrsim/ehrsim", Version: "v1.2.3"}},
			wantShort: "v1.2.3",
			wantLines: []string{"ehrsim v1.2.3\n", "built with go1.26.8 for " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
		},
		{
			name: "go build in a dirty checkout (pseudo-version carries the revision)",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs(rev, "true"),
				Main: debug.Module{Version: "v0.0.0-20260501100000-395afb0c1d2e+dirty"}},
			wantShort: "v0.0.0-20260501100000-395afb0c1d2e+dirty",
			wantLines: []string{"revision " + rev + " (modified)\n", "committed 2026-05-01T10:00:00Z\n", "built with go1.26.8 for linux/arm64\n"},
		},
		{
			name:      "VCS stamp without a module version",
			bi:        &debug.BuildInfo{Settings: vcs(rev, "true"), Main: debug.Module{Version: "(devel)"}},
			wantShort: "(devel) 395afb0c1d2e+dirty",
			wantLines: []string{"ehrsim (devel)\n", "revision " + rev + " (modified)\n"},
		},
		{
			name:      "release build: -X app.version wins",
			bi:        &debug.BuildInfo{Settings: vcs(rev, "false"), Main: debug.Module{Version: "(devel)"}},
			override:  "v2.0.0",
			wantShort: "v2.0.0 395afb0c1d2e",
			wantLines: []string{"ehrsim v2.0.0\n", "revision " + rev + "\n"},
		},
		{
			name:      "no build info at all",
			wantShort: "(devel)",
			wantLines: []string{"ehrsim (devel)\n", "built with " + runtime.Version() + " for " + runtime.GOOS + "/" + runtime.GOARCH + "\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := buildInfoFrom(tc.bi, tc.override)
			if got := b.Short(); got != tc.wantShort {
				t.Errorf("Short() = %q, want %q", got, tc.wantShort)
			}
			for _, l := range tc.wantLines {
				if !strings.Contains(b.String(), l) {
					t.Errorf("String() lacks %q:\n%s", l, b)
				}
			}
			if b.Revision == "" && strings.Contains(b.String(), "revision") {
				t.Errorf("String() names a revision it was not given:\n%s", b)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"version"}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	want := ReadBuildInfo()
	if !strings.HasPrefix(out.String(), "ehrsim "+want.Version+"\n") || !strings.HasSuffix(out.String(), "built with "+want.GoVersion+" for "+want.Platform+"\n") {
		t.Errorf("ehrsim version printed:\n%s", out.String())
	}
	out.Reset()
	if err := Run(context.Background(), []string{"--version"}, env(nil), &out); err != nil || !strings.HasPrefix(out.String(), "ehrsim ") {
		t.Errorf("ehrsim --version: %v, %q", err, out.String())
	}
	if err := Run(context.Background(), []string{"version", "extra"}, env(nil), &out); !IsUsage(err) {
		t.Errorf("ehrsim version extra: err = %v, want a usage error (exit 2)", err)
	}
}

func TestStartupLineEndsWithTheVersion(t *testing.T) {
	var out bytes.Buffer
	s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn"}, env(nil), &out)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	// The line's start is parsed by test runners (docs/testing-with-ehrsim.md): it must not move.
	line := out.String()
	if !strings.HasPrefix(line, "ehrsim ready in ") || !strings.Contains(line, ": launcher "+s.URL+"/  FHIR base ") ||
		!strings.HasSuffix(line, ", version "+ReadBuildInfo().Short()+")\n") {
		t.Errorf("startup line = %q", line)
	}
}
