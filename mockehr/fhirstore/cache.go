package fhirstore

import (
	"sync"
	"sync/atomic"
)

// DefaultCacheBytes bounds the cache of decoded imported resources when
// Options.CacheBytes is zero.
const DefaultCacheBytes = 128 << 20

const cacheShards = 16

// recordCache keeps decoded imported resources, bounded in bytes, with
// CLOCK eviction (a hit only sets a bit, so reads stay cheap). Resources
// are immutable: an evicted one stays valid for whoever still holds it.
type recordCache struct {
	shards     [cacheShards]cacheShard
	hits, miss atomic.Uint64
	evictions  atomic.Uint64
	shardLimit int64
	totalLimit int64
}

type cacheShard struct {
	mu    sync.Mutex
	at    map[uint32]int32
	slots []cacheSlot
	free  []int32
	hand  int
	bytes int64
}

type cacheSlot struct {
	r    *Resource
	size int64
	ref  bool
}

func newRecordCache(limit int64) *recordCache {
	if limit <= 0 {
		limit = DefaultCacheBytes
	}
	c := &recordCache{shardLimit: max(limit/cacheShards, 1), totalLimit: limit}
	for i := range c.shards {
		c.shards[i].at = map[uint32]int32{}
	}
	return c
}

func (c *recordCache) shard(seq uint32) *cacheShard {
	return &c.shards[(seq*2654435761)>>28%cacheShards]
}

func (c *recordCache) get(seq uint32) *Resource {
	sh := c.shard(seq)
	sh.mu.Lock()
	i, ok := sh.at[seq]
	var r *Resource
	if ok {
		sh.slots[i].ref = true
		r = sh.slots[i].r
	}
	sh.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.miss.Add(1)
	}
	return r
}

// put caches r and returns the cached resource for its seq (r, or the one
// another reader cached first).
func (c *recordCache) put(r *Resource) *Resource {
	sh := c.shard(r.bseq)
	size := r.size()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.at[r.bseq]; ok {
		return sh.slots[i].r
	}
	if size > c.shardLimit {
		return r // larger than a shard: serve it, do not keep it
	}
	for sh.bytes+size > c.shardLimit && len(sh.at) > 0 {
		sh.evict()
		c.evictions.Add(1)
	}
	var i int32
	if n := len(sh.free); n > 0 {
		i, sh.free = sh.free[n-1], sh.free[:n-1]
	} else {
		i = int32(len(sh.slots))
		sh.slots = append(sh.slots, cacheSlot{})
	}
	sh.slots[i] = cacheSlot{r: r, size: size}
	sh.at[r.bseq] = i
	sh.bytes += size
	return r
}

// evict frees the first slot whose reference bit is clear, clearing the
// bits it passes (CLOCK).
func (sh *cacheShard) evict() {
	for {
		if sh.hand >= len(sh.slots) {
			sh.hand = 0
		}
		s := &sh.slots[sh.hand]
		sh.hand++
		switch {
		case s.r == nil:
		case s.ref:
			s.ref = false
		default:
			delete(sh.at, s.r.bseq)
			sh.bytes -= s.size
			sh.free = append(sh.free, int32(sh.hand-1))
			*s = cacheSlot{}
			return
		}
	}
}

// bytes is the memory the cached resources hold (estimated).
func (c *recordCache) bytes() int64 {
	var n int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.bytes
		sh.mu.Unlock()
	}
	return n
}
