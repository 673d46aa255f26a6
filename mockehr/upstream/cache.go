package upstream

import (
	"sync"
	"time"
)

// cache keeps successful directory answers for a short while, so a page
// that lists patients, then shows one of them, asks the upstream once.
// It is bounded: when full it starts over.
type cache struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[string]cached
	now func() time.Time
}

type cached struct {
	status  int
	body    []byte
	expires time.Time
}

func newCache(ttl time.Duration, max int) *cache {
	return &cache{ttl: ttl, max: max, m: map[string]cached{}, now: time.Now}
}

func (c *cache) get(key string) (cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	if !ok || c.now().After(v.expires) {
		return cached{}, false
	}
	return v, true
}

func (c *cache) put(key string, status int, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = cached{status: status, body: body, expires: c.now().Add(c.ttl)}
}
