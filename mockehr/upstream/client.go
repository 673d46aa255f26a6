package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhir"
)

// Defaults of Options.
const (
	DefaultTimeout = 30 * time.Second
	DefaultMaxBody = 16 << 20
	// DefaultCacheTTL is how long the directory keeps an upstream answer.
	DefaultCacheTTL = 10 * time.Second
	// maxRequestBody bounds what an app may send to be forwarded.
	maxRequestBody = 4 << 20
)

// Options configure New.
type Options struct {
	// URL is the upstream FHIR R4 base, e.g. http://localhost:8090/fhir.
	URL string
	// Header is sent with every upstream request (the upstream's own
	// authorization). It is never logged and never appears in an answer.
	Header http.Header
	// Timeout bounds one upstream exchange, body included (504 beyond it).
	Timeout time.Duration
	// MaxBody bounds an upstream answer's size (502 beyond it).
	MaxBody int64
	// CacheTTL is how long directory lookups are cached.
	CacheTTL time.Duration
	// Transport carries the upstream requests; nil uses a private clone
	// of http.DefaultTransport.
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Proxy is the upstream mode: a fhir.Upstream (the FHIR API) and a
// smart.Directory (people and encounters for the pages), both over one
// upstream FHIR server.
type Proxy struct {
	base    string // upstream base, no trailing slash, no user info
	header  http.Header
	timeout time.Duration
	maxBody int64
	client  *http.Client
	logger  *slog.Logger
	cache   *cache
}

var _ fhir.Upstream = (*Proxy)(nil)

// New checks the options and builds a Proxy. It does not contact the
// upstream: a server that is down at start-up gets clear errors per
// request, and ehrsim still starts.
func New(o Options) (*Proxy, error) {
	u, err := url.Parse(strings.TrimSpace(o.URL))
	switch {
	case err != nil:
		return nil, fmt.Errorf("upstream FHIR URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("upstream FHIR URL must start with http:// or https://")
	case u.Host == "":
		return nil, errors.New("upstream FHIR URL has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("upstream FHIR URL must not have a query or fragment")
	}
	header := o.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if u.User != nil { // user info becomes Basic auth, kept out of every URL ehrsim prints
		pw, _ := u.User.Password()
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(u.User.Username(), pw)
		if header.Get("Authorization") == "" {
			header.Set("Authorization", req.Header.Get("Authorization"))
		}
		u.User = nil
	}
	p := &Proxy{base: strings.TrimSuffix(u.String(), "/"), header: header, timeout: o.Timeout, maxBody: o.MaxBody, logger: o.Logger}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxBody
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		tr = t
	}
	// No redirects: a redirect could carry the upstream credential to
	// another host.
	p.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ttl := o.CacheTTL
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	p.cache = newCache(ttl, 2048)
	return p, nil
}

// Base is the upstream FHIR base (without user info).
func (p *Proxy) Base() string { return p.base }

// response is one upstream answer. Close must be called.
type response struct {
	*http.Response
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *response) Close() {
	r.Body.Close()
	r.cancel()
}

// do sends one request to the upstream; path is relative to its base
// ("Patient/1"). Transport failures come back as FHIR errors: 504 on the
// timeout, 502 otherwise, never with the credential or the upstream URL.
func (p *Proxy) do(ctx context.Context, method, path string, query url.Values, body []byte, hdr http.Header) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	u := p.base
	if path != "" {
		u += "/" + path
	}
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		cancel()
		return nil, fhir.Error(http.StatusBadRequest, "invalid", "the request cannot be forwarded: "+path)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	for k, vs := range p.header {
		req.Header[k] = vs
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/fhir+json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		cancel()
		return nil, p.transportError(ctx, err)
	}
	return &response{Response: resp, ctx: ctx, cancel: cancel}, nil
}

// transportError words a failed exchange without the error's own text
// (which names the upstream URL).
func (p *Proxy) transportError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fhir.Error(http.StatusGatewayTimeout, "timeout", fmt.Sprintf("the upstream FHIR server did not answer within %s (--fhir-upstream-timeout)", p.timeout))
	case errors.Is(err, context.Canceled):
		return fhir.Error(http.StatusServiceUnavailable, "timeout", "the request was cancelled before the upstream FHIR server answered")
	case errors.Is(err, syscall.ECONNREFUSED):
		return fhir.Error(http.StatusBadGateway, "transient", "the upstream FHIR server refused the connection (is it running?)")
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fhir.Error(http.StatusBadGateway, "transient", "the upstream FHIR server's host name does not resolve")
	}
	return fhir.Error(http.StatusBadGateway, "transient", "the upstream FHIR server could not be reached (the connection failed or was closed)")
}

// errTooLarge is readAll's answer over MaxBody.
func (p *Proxy) errTooLarge() error {
	return fhir.Error(http.StatusBadGateway, "too-costly", fmt.Sprintf("the upstream FHIR server's answer is larger than %d bytes (--fhir-upstream-max-body)", p.maxBody))
}

// readAll reads a whole upstream body within MaxBody.
func (p *Proxy) readAll(r *response) ([]byte, error) {
	if r.ContentLength > p.maxBody {
		return nil, p.errTooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, p.maxBody+1))
	if err != nil {
		return nil, p.transportError(r.ctx, err)
	}
	if int64(len(b)) > p.maxBody {
		return nil, p.errTooLarge()
	}
	return b, nil
}
