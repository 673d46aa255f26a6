package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Real client libraries the e2e suite runs, pinned. They are installed by
// the tests themselves when missing, into the same cache as the Playwright
// driver, and never committed.
const (
	// FHIRClientVersion is SMART's client-js (npm "fhirclient"), latest 2.x.
	// Its browser bundle build/fhir-client.js defines the global FHIR.
	FHIRClientVersion = "2.6.3"
	// OpenIDClientVersion is panva's openid-client (ESM, Node ≥ 20), used
	// for backend services (client_credentials + private_key_jwt).
	OpenIDClientVersion = "6.8.9"
)

// cacheBase is the directory holding every installed npm package.
func cacheBase() (string, error) {
	d, err := DriverDir()
	if err != nil {
		return "", err
	}
	return filepath.Dir(d), nil
}

// EnsureFHIRClient returns the path of fhirclient's browser bundle
// (build/fhir-client.js), unpacking the pinned release with `npm pack`
// when it is missing. The bundle is self-contained: no dependencies.
func EnsureFHIRClient() (string, error) {
	base, err := cacheBase()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "fhirclient-"+FHIRClientVersion)
	bundle := filepath.Join(dir, "package", "build", "fhir-client.js")
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := os.Stat(bundle); err == nil {
		return bundle, nil
	}
	err = installInto(dir, func(tmp string) error { return packInto(tmp, "fhirclient", FHIRClientVersion) })
	if err != nil {
		return "", fmt.Errorf("e2e: install fhirclient@%s: %w", FHIRClientVersion, err)
	}
	return bundle, nil
}

// EnsureOpenIDClient returns the path of openid-client's ESM entry point
// (node_modules/openid-client/build/index.js), installing the pinned
// release and its dependencies (oauth4webapi, jose) with `npm install
// --prefix` when missing.
func EnsureOpenIDClient() (string, error) {
	base, err := cacheBase()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "openid-client-"+OpenIDClientVersion)
	entry := filepath.Join(dir, "node_modules", "openid-client", "build", "index.js")
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := os.Stat(entry); err == nil {
		return entry, nil
	}
	err = installInto(dir, func(tmp string) error {
		_, err := npm(tmp, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--no-package-lock", "--silent", "openid-client@"+OpenIDClientVersion)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("e2e: install openid-client@%s: %w", OpenIDClientVersion, err)
	}
	return entry, nil
}

// installInto fills a temporary sibling of dir, then renames it to dir: a
// crash mid-way never leaves a half-installed package that looks complete.
func installInto(dir string, fill func(tmp string) error) error {
	if _, err := exec.LookPath("npm"); err != nil {
		return errors.New("npm is not on PATH; install Node.js and npm")
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".npm-install-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "e2e: installing %s\n", filepath.Base(dir))
	if err := fill(tmp); err != nil {
		return err
	}
	os.RemoveAll(dir)
	return os.Rename(tmp, dir)
}

// packInto unpacks the npm package name@version into tmp/package (the
// layout of an npm tarball) with `npm pack`, which downloads only that
// package: enough for self-contained bundles such as playwright-core and
// fhirclient's browser build.
func packInto(tmp, name, version string) error {
	if _, err := npm(tmp, "pack", "--silent", name+"@"+version, "--pack-destination", tmp); err != nil {
		return err
	}
	tgz := filepath.Join(tmp, name+"-"+version+".tgz")
	if b, err := exec.Command("tar", "-xzf", tgz, "-C", tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("unpack %s: %v\n%s", tgz, err, b)
	}
	return os.Remove(tgz)
}

func npm(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("npm", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("npm %v: %v\n%s", args, err, tail(out.Bytes(), 2000))
	}
	return out.Bytes(), nil
}
