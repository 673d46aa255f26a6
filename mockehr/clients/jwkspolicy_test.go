package clients

import (
	"context"
	"crypto/elliptic"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// These tests never send a packet beyond loopback: names resolve through
// fakeResolver, and dials go through dialRecorder, which really dials only
// loopback addresses and fails the test if asked for an address that is
// refused whatever the policy.

type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string // host → addresses, one answer list per call (the last repeats)
	calls   map[string]int
}

func newFakeResolver(answers map[string][]string) *fakeResolver {
	return &fakeResolver{answers: answers, calls: map[string]int{}}
}

func (r *fakeResolver) lookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	ans, ok := r.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host (fake resolver)", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range strings.Split(ans[min(r.calls[host], len(ans))-1], ",") {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func (r *fakeResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

var errFakeDial = errors.New("fake dial: no connection made")

type dialRecorder struct {
	t     testing.TB
	mu    sync.Mutex
	addrs []string
}

func (d *dialRecorder) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, address)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		d.t.Errorf("dial %q: the dialler must get an IP address, not a name", address)
		return nil, errFakeDial
	}
	if why := defaultJWKSPolicy.refusal(ap.Addr()); why != "" {
		d.t.Errorf("dial %s attempted: %s", address, why)
		return nil, errFakeDial
	}
	if !ap.Addr().IsLoopback() {
		return nil, errFakeDial
	}
	return (&net.Dialer{Timeout: time.Second, Control: defaultJWKSPolicy.control}).DialContext(ctx, network, address)
}

func (d *dialRecorder) dialled() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// hookedEnv is a verifier env whose JWKS fetches use the fake resolver and
// the recording dialler under policy (nil: the default).
func hookedEnv(t *testing.T, policy *JWKSPolicy, answers map[string][]string) (*verifierEnv, *fakeResolver, *dialRecorder) {
	e := newVerifierEnv(t)
	r, d := newFakeResolver(answers), &dialRecorder{t: t}
	e.v.JWKSPolicy, e.v.lookupIP, e.v.dial = policy, r.lookup, d.dial
	return e, r, d
}

func TestJWKSPolicy_AddressRules(t *testing.T) {
	none, lo, all := JWKSPolicy{}, JWKSPolicy{AllowLoopback: true}, JWKSPolicy{AllowLoopback: true, AllowPrivate: true}
	always := func(frag string) [3]string { return [3]string{frag, frag, frag} }
	for _, tc := range []struct {
		addr string
		want [3]string // refusal fragment under none, lo, all ("" = allowed)
	}{
		{"169.254.169.254", always("link-local/metadata")},
		{"169.254.170.2", always("link-local/metadata")},
		{"::ffff:169.254.169.254", always("link-local/metadata")},
		{"64:ff9b::a9fe:a9fe", always("link-local/metadata")}, // NAT64 of 169.254.169.254
		{"fd00:ec2::254", always("link-local/metadata")},
		{"100.100.100.200", always("link-local/metadata")},
		{"fe80::1", always("link-local/metadata")},
		{"fe80::1%eth0", always("link-local/metadata")},
		{"0.0.0.0", always("unspecified")},
		{"0.1.2.3", always("unspecified")},
		{"::", always("unspecified")},
		{"224.0.0.1", always("multicast")},
		{"ff02::1", always("multicast")},
		{"255.255.255.255", always("broadcast")},
		{"::a9fe:a9fe", always("reserved")},
		{"127.0.0.1", [3]string{"loopback", "", ""}},
		{"127.9.8.7", [3]string{"loopback", "", ""}},
		{"::1", [3]string{"loopback", "", ""}},
		{"::ffff:127.0.0.1", [3]string{"loopback", "", ""}},
		{"10.1.2.3", [3]string{"private", "private", ""}},
		{"172.16.0.1", [3]string{"private", "private", ""}},
		{"172.31.255.255", [3]string{"private", "private", ""}},
		{"192.168.1.1", [3]string{"private", "private", ""}},
		{"100.64.0.1", [3]string{"private", "private", ""}},
		{"100.127.255.254", [3]string{"private", "private", ""}},
		{"fd12:3456::1", [3]string{"private", "private", ""}},
		{"64:ff9b::a00:1", [3]string{"private", "private", ""}}, // NAT64 of 10.0.0.1
		{"172.32.0.1", [3]string{}},
		{"100.128.0.1", [3]string{}},
		{"93.184.216.34", [3]string{}},
		{"2606:4700::1111", [3]string{}},
	} {
		ip := netip.MustParseAddr(tc.addr)
		for i, p := range []JWKSPolicy{none, lo, all} {
			got := p.refusal(ip)
			if (got == "") != (tc.want[i] == "") || !strings.Contains(got, tc.want[i]) {
				t.Errorf("%+v refusal(%s) = %q, want %q", p, tc.addr, got, tc.want[i])
			}
			// The dialler's Control hook applies the same rules to ip:port.
			err := p.control("tcp", netip.AddrPortFrom(ip.WithZone(""), 443).String(), nil)
			if (err == nil) != (tc.want[i] == "") {
				t.Errorf("%+v control(%s) = %v, want refusal %q", p, tc.addr, err, tc.want[i])
			}
		}
	}
}

// The Control hook runs on the real socket before connect(2): a refused
// address is never connected to.
func TestJWKSPolicy_ControlHookRefusesBeforeConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = (&net.Dialer{Timeout: time.Second, Control: JWKSPolicy{}.control}).Dial("tcp", ln.Addr().String())
	var ae *addrRefusedError
	if !errors.As(err, &ae) || !strings.Contains(ae.reason, "loopback") {
		t.Fatalf("dial under JWKSPolicy{} = %v, want a loopback refusal", err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("the refused dial connected")
	}
	ln.(*net.TCPListener).SetDeadline(time.Time{})
	conn, err := (&net.Dialer{Timeout: time.Second, Control: JWKSPolicy{AllowLoopback: true}.control}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with AllowLoopback: %v", err)
	}
	conn.Close()
}

func TestJWKSPolicy_MetadataAndLinkLocalAlwaysRefusedBeforeAnyDial(t *testing.T) {
	for _, policy := range []*JWKSPolicy{nil, {AllowLoopback: true, AllowPrivate: true}, {}} {
		t.Run(fmt.Sprintf("policy=%+v", policy), func(t *testing.T) {
			e, r, d := hookedEnv(t, policy, map[string][]string{
				"evil.example":  {"169.254.169.254"},
				"mixed.example": {"93.184.216.34,169.254.169.254"},
				"ec2v6.example": {"fd00:ec2::254"},
				"ali.example":   {"100.100.100.200"},
				"ll6.example":   {"fe80::1"},
			})
			k := newECKey(t, "k", elliptic.P384())
			for i, tc := range []struct{ url, hint string }{
				{"https://evil.example/jwks", "jwks_url https://evil.example/jwks resolves to 169.254.169.254, a link-local/metadata address; ehrsim never fetches those"},
				{"https://mixed.example/jwks", "jwks_url https://mixed.example/jwks resolves to 169.254.169.254, a link-local/metadata address"},
				{"https://ec2v6.example/jwks", "resolves to fd00:ec2::254, a link-local/metadata address"},
				{"https://ali.example/jwks", "resolves to 100.100.100.200, a link-local/metadata address"},
				{"https://ll6.example/jwks", "resolves to fe80::1, a link-local/metadata address"},
				{"http://169.254.169.254/latest/meta-data/", "jwks_url http://169.254.169.254/latest/meta-data/ resolves to 169.254.169.254, a link-local/metadata address"},
				{"http://[fd00:ec2::254]/latest/meta-data/", "resolves to fd00:ec2::254, a link-local/metadata address"},
				{"http://0.0.0.0:8080/jwks", "an unspecified address"},
				{"http://224.0.0.251/jwks", "a multicast address"},
				{"http://255.255.255.255/jwks", "a broadcast/reserved address"},
			} {
				id := "c" + strconv.Itoa(i)
				e.register(Client{ID: id, Type: TypeBackend, JWKSURL: tc.url})
				_, err := e.verify(sign(t, k, jose.ES384, "k", nil, claimsFor(id, e.clk)), "")
				wantErr(t, err, CodeInvalidClient, tc.hint)
			}
			if got := d.dialled(); len(got) != 0 {
				t.Fatalf("dialled %v; every fetch should be refused before a connection attempt", got)
			}
			if r.count("evil.example") != 1 {
				t.Fatalf("evil.example resolved %d times, want 1", r.count("evil.example"))
			}
		})
	}
}

func TestJWKSPolicy_LoopbackAndPrivateNeedThePolicy(t *testing.T) {
	answers := map[string][]string{
		"intranet.example": {"10.0.0.5"},
		"cgnat.example":    {"100.64.1.2"},
		"ula.example":      {"fd12::5"},
		"local.example":    {"127.0.0.1"},
		"public.example":   {"93.184.216.34"},
	}
	k := newECKey(t, "k", elliptic.P384())
	try := func(e *verifierEnv, id, url string) error {
		e.register(Client{ID: id, Type: TypeBackend, JWKSURL: url})
		_, err := e.verify(sign(t, k, jose.ES384, "k", nil, claimsFor(id, e.clk)), "")
		return err
	}

	// A public-only policy (ehrsim listens beyond loopback).
	e, _, d := hookedEnv(t, JWKSPolicyForListen("0.0.0.0:8080"), answers)
	wantErr(t, try(e, "a", "https://intranet.example/jwks"), CodeInvalidClient,
		"jwks_url https://intranet.example/jwks resolves to 10.0.0.5, a private-network address; ehrsim fetches those only when it listens on loopback itself or is configured to (JWKSPolicy.AllowPrivate)")
	wantErr(t, try(e, "b", "https://cgnat.example/jwks"), CodeInvalidClient, "resolves to 100.64.1.2, a private-network address")
	wantErr(t, try(e, "c", "https://ula.example/jwks"), CodeInvalidClient, "resolves to fd12::5, a private-network address")
	wantErr(t, try(e, "d", "http://local.example:8080/jwks"), CodeInvalidClient,
		"jwks_url http://local.example:8080/jwks resolves to 127.0.0.1, a loopback address; ehrsim fetches those only when it listens on loopback itself (JWKSPolicy.AllowLoopback)")
	wantErr(t, try(e, "e", "http://[::1]:8080/jwks"), CodeInvalidClient, "resolves to ::1, a loopback address")
	if got := d.dialled(); len(got) != 0 {
		t.Fatalf("dialled %v under a public-only policy", got)
	}
	// A public address is dialled, by the checked IP address, not the name.
	wantErr(t, try(e, "f", "https://public.example/jwks"), CodeInvalidClient, "fetching JWKS URL https://public.example/jwks failed")
	if got := d.dialled(); len(got) != 1 || got[0] != "93.184.216.34:443" {
		t.Fatalf("dialled %v, want [93.184.216.34:443]", got)
	}

	// AllowPrivate alone: the private address is dialled, loopback still not.
	e, _, d = hookedEnv(t, &JWKSPolicy{AllowPrivate: true}, answers)
	wantErr(t, try(e, "a", "https://intranet.example/jwks"), CodeInvalidClient, "fetching JWKS URL https://intranet.example/jwks failed")
	wantErr(t, try(e, "d", "http://local.example:8080/jwks"), CodeInvalidClient, "a loopback address")
	if got := d.dialled(); len(got) != 1 || got[0] != "10.0.0.5:443" {
		t.Fatalf("dialled %v, want [10.0.0.5:443]", got)
	}
}

// A name that resolves to a public address, then (rebinding) to the metadata
// address: each dial resolves once and connects to the address it checked.
func TestJWKSPolicy_DNSRebindingChecksTheDialledAddress(t *testing.T) {
	e, r, d := hookedEnv(t, nil, map[string][]string{"rebind.example": {"93.184.216.34", "169.254.169.254"}})
	k := newECKey(t, "k", elliptic.P384())
	e.register(Client{ID: "rb", Type: TypeBackend, JWKSURL: "https://rebind.example/jwks"})
	_, err := e.verify(sign(t, k, jose.ES384, "k", nil, claimsFor("rb", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "fetching JWKS URL") // the fake public dial fails
	_, err = e.verify(sign(t, k, jose.ES384, "k", nil, claimsFor("rb", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "jwks_url https://rebind.example/jwks resolves to 169.254.169.254, a link-local/metadata address")
	if got := d.dialled(); len(got) != 1 || got[0] != "93.184.216.34:443" {
		t.Fatalf("dialled %v, want only [93.184.216.34:443]", got)
	}
	if n := r.count("rebind.example"); n != 2 {
		t.Fatalf("resolved %d times, want once per fetch (2)", n)
	}
}

// redirector is a loopback server: /to?u=URL redirects to URL, /hop/N
// redirects N times before serving body.
func redirector(t *testing.T, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/to":
			http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/hop/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			if n > 0 {
				http.Redirect(w, r, "/hop/"+strconv.Itoa(n-1), http.StatusFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestJWKSPolicy_RedirectsAreChecked(t *testing.T) {
	k := newECKey(t, "k", elliptic.P384())
	srv := redirector(t, publicSet(t, k))
	e, _, d := hookedEnv(t, nil, map[string][]string{"evil.example": {"169.254.169.254"}})
	try := func(id, url string) error {
		e.register(Client{ID: id, Type: TypeBackend, JWKSURL: url})
		_, err := e.verify(sign(t, k, jose.ES384, "k", nil, claimsFor(id, e.clk)), "")
		return err
	}
	loop := srv.Listener.Addr().String()

	u := srv.URL + "/to?u=http://169.254.169.254/latest/meta-data/"
	wantErr(t, try("meta", u), CodeInvalidClient,
		"jwks_url "+u+" redirects to 169.254.169.254, a link-local/metadata address; ehrsim never fetches those")
	u = srv.URL + "/to?u=http://evil.example/jwks"
	wantErr(t, try("evil", u), CodeInvalidClient,
		"jwks_url "+u+" redirects to evil.example, which resolves to 169.254.169.254, a link-local/metadata address")
	u = srv.URL + "/to?u=file:///etc/passwd"
	wantErr(t, try("file", u), CodeInvalidClient, "jwks_url "+u+" redirects to file:///etc/passwd, which is not an http(s) URL")
	wantErr(t, try("far", srv.URL+"/hop/4"), CodeInvalidClient, "jwks_url "+srv.URL+"/hop/4 was redirected more than 3 times")
	if err := try("near", srv.URL+"/hop/3"); err != nil {
		t.Fatalf("3 redirects: %v", err)
	}
	for _, a := range d.dialled() {
		if a != loop {
			t.Fatalf("dialled %s; only the loopback server %s may be", a, loop)
		}
	}
}

// Without injected hooks: the real resolver and dialler (Control hook)
// under the policy for a loopback or a public listen address.
func TestJWKSPolicy_ForListenAddress(t *testing.T) {
	for _, tc := range []struct {
		listen string
		local  bool
	}{
		{"127.0.0.1:8080", true}, {"localhost:8080", true}, {"LOCALHOST.:0", true}, {"[::1]:8080", true},
		{"127.1.2.3:80", true}, {"0.0.0.0:8080", false}, {":8080", false}, {"[::]:8080", false},
		{"192.168.1.5:8080", false}, {"ehrsim.example:443", false}, {"localhost", true},
	} {
		p := JWKSPolicyForListen(tc.listen)
		if p.AllowLoopback != tc.local || p.AllowPrivate != tc.local {
			t.Errorf("JWKSPolicyForListen(%q) = %+v, want both %v", tc.listen, *p, tc.local)
		}
	}

	k := newECKey(t, "url-key", elliptic.P384())
	srv := newJWKSServer(t, publicSet(t, k), "")
	e := newVerifierEnv(t)
	e.v.JWKSPolicy = JWKSPolicyForListen("127.0.0.1:4000")
	e.register(Client{ID: "by-url", Type: TypeBackend, JWKSURL: srv.URL + "/jwks.json"})
	e.wantOK(sign(t, k, jose.ES384, "url-key", nil, claimsFor("by-url", e.clk)), "", "by-url")

	e = newVerifierEnv(t)
	e.v.JWKSPolicy = JWKSPolicyForListen("0.0.0.0:4000")
	e.register(Client{ID: "by-url", Type: TypeBackend, JWKSURL: srv.URL + "/jwks.json"})
	_, err := e.verify(sign(t, k, jose.ES384, "url-key", nil, claimsFor("by-url", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "jwks_url "+srv.URL+"/jwks.json resolves to 127.0.0.1, a loopback address")
	if n := srv.count(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (the refused fetch never reached the server)", n)
	}
}

func TestJWKSPolicy_NonHTTPURLRefused(t *testing.T) {
	f := &jwksFetcher{client: newJWKSHTTPClient(defaultJWKSPolicy, nil, (&dialRecorder{t: t}).dial), now: time.Now, cache: map[string]cachedJWKS{}}
	for _, u := range []string{"file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/jwks"} {
		if _, _, err := f.get(context.Background(), u, false); err == nil || !strings.Contains(err.Error(), "is not an http(s) URL") {
			t.Errorf("get(%s) = %v, want not an http(s) URL", u, err)
		}
	}
}
