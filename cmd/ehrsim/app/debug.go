package app

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// The profiling listener (--debug-listen): Go's pprof handlers on their own
// address, off by default and refused anywhere but loopback, so profiles of
// a running ehrsim can be taken (`go tool pprof
// http://127.0.0.1:6060/debug/pprof/profile?seconds=20`) without exposing
// them beside the public routes.

func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// loopbackHost reports whether host (of a listen address) is loopback.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validateDebugListen(addr string) string {
	if addr == "" {
		return ""
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("--debug-listen: %q is not host:port (%v)", addr, err)
	}
	if !loopbackHost(host) {
		return fmt.Sprintf("--debug-listen: %q is not a loopback address (127.0.0.1, ::1 or localhost): profiles are never served beyond this machine", addr)
	}
	return ""
}

// startDebug serves the profiling handlers on addr; it returns the address
// actually listened on and a stop function.
func (s *Server) startDebug(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--debug-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	s.closers = append(s.closers, srv.Close)
	return ln.Addr().String(), nil
}
