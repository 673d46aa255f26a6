package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app/loadgen"
)

func scenarioNames() string {
	names := make([]string, len(loadgen.Scenarios))
	for i, s := range loadgen.Scenarios {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// runSuite runs the performance suite against the ehrsim at base.
func runSuite(ctx context.Context, stdout io.Writer, base string, names []string, conc int, d time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	hello, err := spawnHello(ctx, exe)
	if err != nil {
		return err
	}
	defer hello.stop()
	su, err := loadgen.RunSuite(ctx, base, hello.url, names, conc, d)
	if err != nil {
		return err
	}
	su.Write(stdout)
	if n := su.Errors(); n > 0 {
		return fmt.Errorf("load: %d iterations failed", n)
	}
	return nil
}

// runSuiteSpawned starts this binary as an ehrsim on a loopback port with a
// new data directory, measures its cold start, runs the suite against it,
// reads its resident memory, then restarts it on the same data directory
// (a cold start with a data directory that has served the suite).
func runSuiteSpawned(ctx context.Context, stdout io.Writer, names []string, conc int, d time.Duration) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ehrsim-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	child, err := spawnEhrsim(ctx, exe, dir)
	if err != nil {
		return err
	}
	idle := child.rss()
	hello, err := spawnHello(ctx, exe)
	if err != nil {
		child.stop()
		return err
	}
	su, err := loadgen.RunSuite(ctx, child.url, hello.url, names, conc, d)
	hello.stop()
	if err != nil {
		child.stop()
		return err
	}
	after := child.rss()
	child.stop()
	again, err := spawnEhrsim(ctx, exe, dir)
	if err != nil {
		return err
	}
	again.stop()
	su.Write(stdout)
	var launches int64
	for _, r := range su.Results {
		if strings.HasPrefix(r.Scenario.Name, "launch") {
			launches += r.Rate.Done
		}
	}
	fmt.Fprintf(stdout, "cold start (process start to /readyz, default fixtures): %s with a new data directory; %s with one that has served %d launches (target < 300 ms)\n",
		child.coldStart.Round(time.Millisecond), again.coldStart.Round(time.Millisecond), launches)
	if idle > 0 {
		fmt.Fprintf(stdout, "resident memory: %d MB idle, %d MB after the suite (target ≤ 80 MB)\n", idle>>20, after>>20)
	}
	if n := su.Errors(); n > 0 {
		return fmt.Errorf("load: %d iterations failed", n)
	}
	return nil
}

// serveHello is `ehrsim load --hello-server`: the hello-world baseline in a
// process of its own, as the measured ehrsim is, so the baseline pays the
// same cross-process costs. It prints its URL and serves until ctx ends.
func serveHello(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	go func() { <-ctx.Done(); ln.Close() }()
	if err := loadgen.ServeHello(ln); ctx.Err() == nil {
		return err
	}
	return nil
}

// spawnHello starts `exe load --hello-server` and reads its URL.
func spawnHello(ctx context.Context, exe string) (*spawned, error) {
	cmd := exec.CommandContext(ctx, exe, "load", "--hello-server")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &spawned{cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://127.0.0.1:") {
		s.stop()
		return nil, fmt.Errorf("load: the hello-world baseline server did not start (%q, %v)", line, err)
	}
	s.url = strings.TrimSpace(line)
	return s, nil
}

type spawned struct {
	cmd       *exec.Cmd
	url       string
	coldStart time.Duration
}

func spawnEhrsim(ctx context.Context, exe, dataDir string) (*spawned, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.CommandContext(ctx, exe, "--listen", addr, "--data-dir", dataDir, "--log-level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &spawned{cmd: cmd, url: "http://" + addr}
	hc := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 30*time.Second {
		if resp, err := hc.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.coldStart = time.Since(t0)
				return s, nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("load: the ehrsim started for the suite was not ready within 30 s")
}

// rss is the child's resident set in bytes (Linux; 0 elsewhere).
func (s *spawned) rss() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}

func (s *spawned) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}
