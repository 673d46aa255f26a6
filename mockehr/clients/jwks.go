package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	jwksFetchTimeout = 5 * time.Second
	jwksMaxBody      = 64 << 10
	jwksMaxCacheAge  = time.Hour // never trust a max-age beyond this
	jwksMaxEntries   = 1024
)

// jwksFetcher fetches client JWK Sets by URL (checklist BES-14: GET with
// Accept: application/json, never cached longer than the response's
// Cache-Control allows; no-store / no-cache or no max-age → not cached),
// through an HTTP client that applies a JWKSPolicy (newJWKSHTTPClient).
type jwksFetcher struct {
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedJWKS
}

type cachedJWKS struct {
	set   *jose.JSONWebKeySet
	until time.Time
}

// get returns the key set at url, from the cache unless force is set.
// fromCache says whether the answer came from the cache (a refetch on an
// unknown kid only makes sense then).
func (f *jwksFetcher) get(ctx context.Context, url string, force bool) (set *jose.JSONWebKeySet, fromCache bool, err error) {
	now := f.now()
	if !force {
		f.mu.Lock()
		c, ok := f.cache[url]
		f.mu.Unlock()
		if ok && now.Before(c.until) {
			return c.set, true, nil
		}
	}
	set, maxAge, err := f.fetch(ctx, url)
	if err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	if maxAge > 0 {
		if len(f.cache) >= jwksMaxEntries {
			clear(f.cache)
		}
		f.cache[url] = cachedJWKS{set: set, until: now.Add(maxAge)}
	} else {
		delete(f.cache, url)
	}
	f.mu.Unlock()
	return set, false, nil
}

func (f *jwksFetcher) fetch(ctx context.Context, url string) (*jose.JSONWebKeySet, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("JWKS URL %s: %v", url, err)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return nil, 0, fmt.Errorf("jwks_url %s is not an http(s) URL", url)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		if hint := fetchRefusal(err, url, req.URL.Hostname()); hint != "" {
			return nil, 0, errors.New(hint)
		}
		return nil, 0, fmt.Errorf("fetching JWKS URL %s failed: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("JWKS URL %s answered %d, want 200", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading JWKS URL %s: %v", url, err)
	}
	if len(body) > jwksMaxBody {
		return nil, 0, fmt.Errorf("JWKS URL %s returned more than %d bytes", url, jwksMaxBody)
	}
	set, err := parseFetchedJWKS(body)
	if err != nil {
		return nil, 0, fmt.Errorf("JWKS URL %s: %v", url, err)
	}
	return set, cacheAge(resp.Header.Values("Cache-Control")), nil
}

// cacheAge reads max-age from Cache-Control (RFC 9111 §5.2.2); no-store,
// no-cache or no max-age mean zero.
func cacheAge(values []string) time.Duration {
	age := time.Duration(0)
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "no-store" || d == "no-cache" || strings.HasPrefix(d, "no-cache="):
				return 0
			case strings.HasPrefix(d, "max-age="):
				n, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(d, "max-age="), `"`))
				if err != nil || n <= 0 {
					return 0
				}
				age = time.Duration(n) * time.Second
			}
		}
	}
	return min(age, jwksMaxCacheAge)
}

// parseFetchedJWKS is lenient where ParseJWKS (for registration) is strict:
// a published set may also hold encryption or unsupported keys; those are
// skipped, and private parts, if a careless server publishes them, are dropped.
func parseFetchedJWKS(body []byte) (*jose.JSONWebKeySet, error) {
	var probe struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON JWK Set: %v", err)
	}
	set := &jose.JSONWebKeySet{}
	for _, raw := range probe.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || !k.Valid() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		set.Keys = append(set.Keys, k.Public())
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("the JWK Set holds no usable signing key")
	}
	return set, nil
}
