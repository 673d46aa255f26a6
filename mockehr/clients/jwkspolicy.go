package clients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// JWKSPolicy says which networks client JWKS URLs may be fetched from (the
// URLs come from registrations, /auth/register and launch-defined clients,
// so from anyone who can reach the sandbox: fetching them is a server-side
// request on their behalf). Whatever the policy, link-local addresses
// (169.254.0.0/16, fe80::/10), the cloud metadata addresses (169.254.169.254,
// fd00:ec2::254, 100.100.100.200), unspecified (0.0.0.0/8, ::), multicast and
// broadcast/reserved (240.0.0.0/4) addresses are refused.
type JWKSPolicy struct {
	// AllowLoopback permits 127.0.0.0/8 and ::1.
	AllowLoopback bool
	// AllowPrivate permits 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
	// 100.64.0.0/10 (CGNAT), fc00::/7 (ULA) and fec0::/10 (site-local).
	AllowPrivate bool
}

// defaultJWKSPolicy applies when AssertionVerifier.JWKSPolicy is nil: the
// local developer case, where a JWKS on localhost or the LAN is normal.
var defaultJWKSPolicy = JWKSPolicy{AllowLoopback: true, AllowPrivate: true}

// JWKSPolicyForListen is the policy for a server listening on listen
// (host:port, as --listen): loopback and private networks are allowed when
// the host is loopback (127.x, ::1 or localhost), so only the developer's
// own machine can register a JWKS URL; otherwise only public addresses are.
func JWKSPolicyForListen(listen string) *JWKSPolicy {
	local := listensOnLoopback(listen)
	return &JWKSPolicy{AllowLoopback: local, AllowPrivate: local}
}

func listensOnLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

const (
	jwksMaxRedirects = 3
	neverFetched     = "; ehrsim never fetches those"
)

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack…
		netip.MustParseAddr("fd00:ec2::254"),   // AWS IPv6
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	}
	thisNetwork   = netip.MustParsePrefix("0.0.0.0/8")
	reservedV4    = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
	ipv4Compat    = netip.MustParsePrefix("::/96")       // deprecated IPv4-compatible IPv6
	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	extraPrivates = []netip.Prefix{
		netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
		netip.MustParsePrefix("fec0::/10"),     // deprecated site-local
	}
)

// refusal says why the policy refuses ip ("" when it allows it).
func (p JWKSPolicy) refusal(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) { // 64:ff9b::a.b.c.d reaches a.b.c.d through a NAT64 gateway
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return "a link-local/metadata address" + neverFetched
		}
	}
	switch {
	case ip.IsLinkLocalUnicast():
		return "a link-local/metadata address" + neverFetched
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return "an unspecified address" + neverFetched
	case ip.IsMulticast():
		return "a multicast address" + neverFetched
	case reservedV4.Contains(ip):
		return "a broadcast/reserved address" + neverFetched
	case ip.Is6() && ipv4Compat.Contains(ip) && !ip.IsLoopback():
		return "a reserved (IPv4-compatible) address" + neverFetched
	case ip.IsLoopback():
		if !p.AllowLoopback {
			return "a loopback address; ehrsim fetches those only when it listens on loopback itself (JWKSPolicy.AllowLoopback)"
		}
	case isPrivate(ip):
		if !p.AllowPrivate {
			return "a private-network address; ehrsim fetches those only when it listens on loopback itself or is configured to (JWKSPolicy.AllowPrivate)"
		}
	}
	return ""
}

func isPrivate(ip netip.Addr) bool {
	if ip.IsPrivate() {
		return true
	}
	for _, p := range extraPrivates {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addrRefusedError is a JWKS fetch the policy refused: host (as asked; ""
// when only the address is known) would have been reached at ip.
type addrRefusedError struct {
	host   string
	ip     netip.Addr
	reason string
}

func (e *addrRefusedError) Error() string {
	if e.host == "" || e.host == e.ip.String() {
		return fmt.Sprintf("%s is %s", e.ip, e.reason)
	}
	return fmt.Sprintf("%s resolves to %s, %s", e.host, e.ip, e.reason)
}

// hint is the invalid_client description for a fetch of jwksURL (whose host
// is urlHost) refused by e, possibly after a redirect.
func (e *addrRefusedError) hint(jwksURL, urlHost string) string {
	switch {
	case e.host == "" || strings.EqualFold(e.host, urlHost):
		return fmt.Sprintf("jwks_url %s resolves to %s, %s", jwksURL, e.ip, e.reason)
	case e.host == e.ip.String():
		return fmt.Sprintf("jwks_url %s redirects to %s, %s", jwksURL, e.ip, e.reason)
	default:
		return fmt.Sprintf("jwks_url %s redirects to %s, which resolves to %s, %s", jwksURL, e.host, e.ip, e.reason)
	}
}

// redirectRefusedError is a redirect the fetcher does not follow; msg
// completes "jwks_url <url> ".
type redirectRefusedError struct{ msg string }

func (e *redirectRefusedError) Error() string { return e.msg }

// control is the net.Dialer Control hook: it sees the address actually being
// connected to, after any name resolution, and refuses it before connect(2).
func (p JWKSPolicy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("jwks: dialling %s %q: not an IP address", network, address)
	}
	if why := p.refusal(ap.Addr()); why != "" {
		return &addrRefusedError{ip: ap.Addr(), reason: why}
	}
	return nil
}

type (
	lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)
	dialFunc   func(ctx context.Context, network, address string) (net.Conn, error)
)

// guardedDial resolves the host with lookup, refuses the dial if any of its
// addresses is refused by p (before any connection attempt), then dials the
// checked addresses themselves, so the name is not resolved a second time
// (DNS rebinding). The default dial re-checks each address in its Control
// hook.
func (p JWKSPolicy) guardedDial(lookup lookupFunc, dial dialFunc) dialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else {
			ips, err = lookup(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			if len(ips) == 0 {
				return nil, fmt.Errorf("%s has no IP address", host)
			}
		}
		for _, ip := range ips {
			if why := p.refusal(ip); why != "" {
				return nil, &addrRefusedError{host: host, ip: ip.WithZone(""), reason: why}
			}
		}
		var firstErr error
		for _, ip := range ips {
			conn, err := dial(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return conn, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
}

// newJWKSHTTPClient is the client that fetches JWKS URLs under p. lookup and
// dial replace the system resolver and dialer (tests); nil means the real ones.
func newJWKSHTTPClient(p JWKSPolicy, lookup lookupFunc, dial dialFunc) *http.Client {
	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: jwksFetchTimeout, KeepAlive: 30 * time.Second, Control: p.control}).DialContext
	}
	return &http.Client{
		Timeout: jwksFetchTimeout,
		Transport: &http.Transport{
			// No proxy: the policy must see the address actually fetched.
			Proxy:                 nil,
			DialContext:           p.guardedDial(lookup, dial),
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   jwksFetchTimeout,
			ResponseHeaderTimeout: jwksFetchTimeout,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
		},
		// Each redirect target is dialled through the same guarded dialer.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if s := req.URL.Scheme; s != "http" && s != "https" {
				return &redirectRefusedError{fmt.Sprintf("redirects to %s, which is not an http(s) URL", req.URL.Redacted())}
			}
			if len(via) > jwksMaxRedirects {
				return &redirectRefusedError{fmt.Sprintf("was redirected more than %d times", jwksMaxRedirects)}
			}
			return nil
		},
	}
}

// fetchRefusal turns an error from the JWKS HTTP client into the policy's
// hint, or "" when the policy did not refuse the fetch.
func fetchRefusal(err error, jwksURL, urlHost string) string {
	var ae *addrRefusedError
	var re *redirectRefusedError
	switch {
	case errors.As(err, &ae):
		return ae.hint(jwksURL, urlHost)
	case errors.As(err, &re):
		return fmt.Sprintf("jwks_url %s %s", jwksURL, re.msg)
	}
	return ""
}
