package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The profiling listener is off by default, serves pprof on loopback when
// asked, never beside the public routes, and refuses a non-loopback address.
func TestDebugListenerServesPprofOnLoopbackOnly(t *testing.T) {
	s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--debug-listen", "127.0.0.1:0"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if s.DebugAddr == "" || s.DebugAddr == s.Addr {
		t.Fatalf("debug address %q (public %q)", s.DebugAddr, s.Addr)
	}
	resp, err := http.Get("http://" + s.DebugAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof: %d %.100s", resp.StatusCode, body)
	}
	if resp, err := http.Get(s.URL + "/debug/pprof/"); err != nil || resp.StatusCode == 200 {
		t.Fatalf("the public listener serves pprof: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}

	_, err = LoadConfig([]string{"--debug-listen", "0.0.0.0:6060"}, env(nil), io.Discard)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--debug-listen") {
		t.Fatalf("a non-loopback debug address was accepted: %v", err)
	}
}
