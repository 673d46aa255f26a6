package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestArchivesHoldTheBinaryAndAreReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ehrsim")
	os.WriteFile(bin, []byte("\x7fELF not really"), 0o755)
	files := []archiveFile{{name: "ehrsim", path: bin, mode: 0o755}, {name: "README.md", data: []byte("# ehrsim\n"), mode: 0o644}}

	for _, asZip := range []bool{false, true} {
		out1, out2 := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		os.MkdirAll(out1, 0o755)
		os.MkdirAll(out2, 0o755)
		p1, err := writeArchive(out1, "ehrsim_1.2.3_linux_amd64", asZip, files)
		if err != nil {
			t.Fatal(err)
		}
		p2, _ := writeArchive(out2, "ehrsim_1.2.3_linux_amd64", asZip, files)
		s1, _, _ := sha256File(p1)
		s2, _, _ := sha256File(p2)
		if s1 != s2 {
			t.Errorf("zip=%v: packing the same files twice gave %s and %s", asZip, s1, s2)
		}
		got := map[string]string{}
		modes := map[string]os.FileMode{}
		if asZip {
			if !strings.HasSuffix(p1, ".zip") {
				t.Errorf("zip archive named %s", p1)
			}
			zr, err := zip.OpenReader(p1)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				rc, _ := f.Open()
				b, _ := io.ReadAll(rc)
				rc.Close()
				got[f.Name], modes[f.Name] = string(b), f.Mode()
			}
			zr.Close()
		} else {
			if !strings.HasSuffix(p1, ".tar.gz") {
				t.Errorf("tar archive named %s", p1)
			}
			f, _ := os.Open(p1)
			gz, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(gz)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(tr)
				got[h.Name], modes[h.Name] = string(b), h.FileInfo().Mode()
			}
			f.Close()
		}
		if got["ehrsim_1.2.3_linux_amd64/ehrsim"] != "\x7fELF not really" || got["ehrsim_1.2.3_linux_amd64/README.md"] != "# ehrsim\n" {
			t.Errorf("zip=%v: archive holds %q", asZip, got)
		}
		if m := modes["ehrsim_1.2.3_linux_amd64/ehrsim"]; m.Perm() != 0o755 {
			t.Errorf("zip=%v: binary mode %v, want executable", asZip, m)
		}
	}
}

func TestFileVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":      "1.2.3",
		"v1.2.3-rc.1": "1.2.3-rc.1",
		"v0.0.0-20261205122117-99fc88b5b444+dirty": "0.0.0-20261205122117-99fc88b5b444-dirty",
		"(devel)": "devel",
		"":        "devel",
	} {
		if got := fileVersion(in); got != want {
			t.Errorf("fileVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckSettingsRefusesCgoAndUntrimmedBinaries(t *testing.T) {
	ok := []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "CGO_ENABLED", Value: "0"}}
	if err := checkSettings(ok); err != nil {
		t.Errorf("static trimmed binary refused: %v", err)
	}
	if err := checkSettings([]debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "CGO_ENABLED", Value: "1"}}); err == nil {
		t.Error("cgo binary accepted")
	}
	if err := checkSettings([]debug.BuildSetting{{Key: "CGO_ENABLED", Value: "0"}}); err == nil {
		t.Error("binary without -trimpath accepted")
	}
}
