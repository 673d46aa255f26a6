package app

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version overrides the module version from the build info. Release builds
// set it (`go tool task release`):
//
//	-ldflags "-X github.com/ehrsim/ehrsim/cmd/ehrsim/app.version=v1.2.3"
//
// Left empty, `go install …@v1.2.3` reports v1.2.3 and `go build` in a
// checkout reports the pseudo-version Go derives from the VCS (Go ≥ 1.24;
// "(devel)" when VCS stamping is off).
var version string

// BuildInfo says which ehrsim this is: what `ehrsim version` prints and the
// start-up line ends with.
type BuildInfo struct {
	Version   string // v1.2.3, a pseudo-version, or (devel)
	Revision  string // VCS commit the binary was built from, if stamped
	Time      string // that commit's time (RFC 3339), if stamped
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string // toolchain, e.g. go1.26.8
	Platform  string // GOOS/GOARCH
}

// ReadBuildInfo reads the binary's own build information.
func ReadBuildInfo() BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfoFrom(bi, version)
}

// buildInfoFrom is ReadBuildInfo on given inputs (bi may be nil: a binary
// built without module support).
func buildInfoFrom(bi *debug.BuildInfo, override string) BuildInfo {
	b := BuildInfo{Version: override, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if b.Version == "" {
			b.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			b.GoVersion = bi.GoVersion
		}
		var goos, goarch string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
		if goos != "" && goarch != "" {
			b.Platform = goos + "/" + goarch
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

// Short is the version plus the short revision when the version does not
// already carry it (a pseudo-version does): "v1.2.3", "(devel) 395afb0c1234+dirty".
func (b BuildInfo) Short() string {
	rev := b.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" || strings.Contains(b.Version, rev) {
		return b.Version
	}
	if b.Modified {
		rev += "+dirty"
	}
	return b.Version + " " + rev
}

// String is the full report of `ehrsim version`.
func (b BuildInfo) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "ehrsim %s\n", b.Version)
	if b.Revision != "" {
		fmt.Fprintf(&s, "revision %s", b.Revision)
		if b.Modified {
			s.WriteString(" (modified)")
		}
		s.WriteString("\n")
	}
	if b.Time != "" {
		fmt.Fprintf(&s, "committed %s\n", b.Time)
	}
	fmt.Fprintf(&s, "built with %s for %s\n", b.GoVersion, b.Platform)
	return s.String()
}

func versionCommand(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return &ConfigError{Problems: []string{"version: takes no arguments"}}
	}
	fmt.Fprint(stdout, ReadBuildInfo())
	return nil
}
