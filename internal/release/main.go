// Command release cross-compiles ehrsim for every release target and packs
// each binary into an archive beside a SHA256SUMS file (`go tool task
// release`; CI runs it into a temporary directory). Pure Go, so it needs
// neither goreleaser nor zip on the machine.
//
// Every binary is static (CGO_ENABLED=0: modernc SQLite is pure Go), built
// with -trimpath and without symbol tables (-s -w), and stamped with the
// module version and VCS revision (-buildvcs=auto, whatever GOFLAGS says).
// -version (or $VERSION) sets the version `ehrsim version` reports through
// -X; without it the binary reports the version Go derives from the VCS.
package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Targets are the release platforms: linux, macOS and Windows on amd64 and arm64.
var Targets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"}

// versionVar is the variable -X sets (cmd/ehrsim/app/version.go).
const versionVar = "github.com/ehrsim/ehrsim/cmd/ehrsim/app.version"

func main() {
	out := flag.String("out", "dist", "directory for the archives and SHA256SUMS")
	version := flag.String("version", os.Getenv("VERSION"), "version the binaries report (default $VERSION, else the version Go stamps from the VCS)")
	targets := flag.String("targets", strings.Join(Targets, ","), "comma-separated GOOS/GOARCH list")
	check := flag.Bool("check", false, "build and pack into a temporary directory, then delete it (what `go tool task test` runs)")
	flag.Parse()
	if *check {
		tmp, err := os.MkdirTemp("", "ehrsim-release-check-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "release:", err)
			os.Exit(1)
		}
		*out = tmp
	}
	err := run(context.Background(), *out, *version, strings.Split(*targets, ","))
	if *check {
		os.RemoveAll(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, version string, targets []string) error {
	started := time.Now()
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("run from the module root (where go.mod is)")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := removeOld(out); err != nil {
		return err
	}
	build, err := os.MkdirTemp(out, ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(build)

	readme, err := os.ReadFile("README.md")
	if err != nil {
		return err
	}
	var arts []artifact
	for _, t := range targets {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(t), "/")
		if !ok || goos == "" || goarch == "" {
			return fmt.Errorf("target %q: want GOOS/GOARCH", t)
		}
		bin := filepath.Join(build, goos+"_"+goarch, exeName(goos))
		t0 := time.Now()
		if err := goBuild(ctx, goos, goarch, version, bin); err != nil {
			return err
		}
		fmt.Printf("built %s/%s in %s\n", goos, goarch, time.Since(t0).Round(100*time.Millisecond))
		arts = append(arts, artifact{goos: goos, goarch: goarch, bin: bin})
	}

	// Every binary must be static, trimmed and report one version.
	want := version
	for _, a := range arts {
		bi, err := buildinfo.ReadFile(a.bin)
		if err != nil {
			return fmt.Errorf("%s: %w", a.bin, err)
		}
		if err := checkSettings(bi.Settings); err != nil {
			return fmt.Errorf("%s/%s: %w", a.goos, a.goarch, err)
		}
		if want == "" {
			want = bi.Main.Version
		}
		if version == "" && bi.Main.Version != want {
			return fmt.Errorf("%s/%s reports %s, %s/%s %s", a.goos, a.goarch, bi.Main.Version, arts[0].goos, arts[0].goarch, want)
		}
		if a.goos == runtime.GOOS && a.goarch == runtime.GOARCH {
			if err := checkRuns(ctx, a.bin, want); err != nil {
				return err
			}
		}
	}

	name := fileVersion(want)
	var sums []string
	for _, a := range arts {
		base := fmt.Sprintf("ehrsim_%s_%s_%s", name, a.goos, a.goarch)
		files := []archiveFile{{name: exeName(a.goos), path: a.bin, mode: 0o755}, {name: "README.md", data: readme, mode: 0o644}}
		archive, err := writeArchive(out, base, a.goos == "windows", files)
		if err != nil {
			return err
		}
		sum, size, err := sha256File(archive)
		if err != nil {
			return err
		}
		sums = append(sums, sum+"  "+filepath.Base(archive))
		fmt.Printf("%s  %.1f MB\n", archive, float64(size)/1e6)
	}
	if err := os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(strings.Join(sums, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d archives and SHA256SUMS in %s (%s)\n", want, len(arts), out, time.Since(started).Round(100*time.Millisecond))
	return nil
}

type artifact struct{ goos, goarch, bin string }

func exeName(goos string) string {
	if goos == "windows" {
		return "ehrsim.exe"
	}
	return "ehrsim"
}

func goBuild(ctx context.Context, goos, goarch, version, bin string) error {
	ldflags := "-s -w"
	if version != "" {
		ldflags += " -X " + versionVar + "=" + version
	}
	// -buildvcs=auto on the command line beats a GOFLAGS=-buildvcs=false.
	cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=auto", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/ehrsim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s/%s: %w", goos, goarch, err)
	}
	return nil
}

// checkSettings refuses a binary that is not static or carries build paths.
func checkSettings(settings []debug.BuildSetting) error {
	have := map[string]string{}
	for _, s := range settings {
		have[s.Key] = s.Value
	}
	if have["CGO_ENABLED"] != "0" {
		return fmt.Errorf("built with CGO_ENABLED=%q, want 0 (a static binary)", have["CGO_ENABLED"])
	}
	if have["-trimpath"] != "true" {
		return errors.New("built without -trimpath")
	}
	return nil
}

// checkRuns runs the host's binary: `ehrsim version` must report want.
func checkRuns(ctx context.Context, bin, want string) error {
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", bin, err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if first != "ehrsim "+want {
		return fmt.Errorf("%s version printed %q, want %q", bin, first, "ehrsim "+want)
	}
	return nil
}

// fileVersion is the version as it appears in archive names: no leading v,
// nothing a URL or a shell would need to quote.
func fileVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	if v == "" || v == "(devel)" {
		return "devel"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '-'
	}, v)
}

// removeOld deletes what an earlier run left in out, and nothing else.
func removeOld(out string) error {
	old, err := filepath.Glob(filepath.Join(out, "ehrsim_*"))
	if err != nil {
		return err
	}
	for _, f := range append(old, filepath.Join(out, "SHA256SUMS")) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
