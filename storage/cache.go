package storage

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Cache keeps byte ranges of objects in memory within a byte budget, for
// the reads a scan repeats: Parquet footers and page indexes (read by the
// planner, then by each split), and hot column chunks. One Cache can serve
// many stores (see Cached).
//
// Policy. An entry is one ReadAt's bytes, keyed by (store, key, ETag,
// offset, length): only an identical range hits, which is what footers and
// column chunks produce, and a key's new version (a new ETag) can never be
// served stale bytes of the old one. Admission and eviction are ristretto's:
// a TinyLFU frequency sketch admits a new range only if it is likely to be
// read more often than what it would evict, so one big sequential scan does
// not flush the hot footers (an LRU would let it). The cost of an entry is
// its length plus ristretto's bookkeeping, against a budget of maxBytes. A
// range larger than an eighth of the budget is never cached: it would evict
// too much to be worth it and is read straight through. Sets are
// asynchronous, so a range read twice in quick succession may miss twice.
type Cache struct {
	rc      *ristretto.Cache[string, *cachedRange]
	maxItem int

	hits, misses, hitBytes, missBytes, bypass atomic.Int64
}

type cachedRange struct {
	data []byte
	eof  bool // the range ran to the end of the object
}

// NewCache returns a cache holding at most about maxBytes of ranges. A
// budget of zero or less gives a cache that holds nothing.
func NewCache(maxBytes int64) *Cache {
	c := &Cache{}
	if maxBytes <= 0 {
		return c
	}
	// ristretto wants ~10 counters per entry it may hold; assume entries
	// of 16 KiB on average (footers are smaller, column chunks larger).
	counters := max(maxBytes/(16<<10)*10, 1000)
	rc, err := ristretto.NewCache(&ristretto.Config[string, *cachedRange]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		BufferItems: 64,
	})
	if err != nil {
		panic("storage: ristretto rejected a valid configuration: " + err.Error()) // broken invariant
	}
	c.rc = rc
	c.maxItem = int(min(maxBytes/8, int64(^uint(0)>>1)))
	return c
}

// Close stops the cache's background goroutines and drops its entries.
func (c *Cache) Close() {
	if c.rc != nil {
		c.rc.Close()
	}
}

// Wait blocks until the cache has applied every Set so far (for tests).
func (c *Cache) Wait() {
	if c.rc != nil {
		c.rc.Wait()
	}
}

// CacheStats counts a cache's work since it was made.
type CacheStats struct {
	// Hits and Misses count ReadAts the cache could answer and could not
	// (a read that joined an identical one in flight counts as a hit);
	// HitBytes and MissBytes their bytes. Bypass counts ReadAts too large
	// to cache.
	Hits, Misses, HitBytes, MissBytes, Bypass int64
	// Bytes is the cost of the entries held now, MaxBytes the budget.
	Bytes, MaxBytes int64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	st := CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(),
		HitBytes: c.hitBytes.Load(), MissBytes: c.missBytes.Load(),
		Bypass: c.bypass.Load(),
	}
	if c.rc != nil {
		st.MaxBytes = c.rc.MaxCost()
		st.Bytes = st.MaxBytes - c.rc.RemainingCost()
	}
	return st
}

// Cached returns s with its ReadAt served through c. Other methods pass
// through; Stat and List also record each object's ETag, which ReadAt needs
// for its cache key, so a scan that listed its files first does not Stat
// each one again. A key's ETag is remembered for versionTTL: writes and
// deletes through the returned store forget it at once, while a change
// made by another process shows within versionTTL.
func Cached(s Store, c *Cache) Store {
	return &cachedStore{Store: s, c: c, id: s.String(), versions: versionTable{m: map[string]versionEntry{}}}
}

// versionTTL is how long a Cached store trusts an ETag it has seen.
const versionTTL = 30 * time.Second

type cachedStore struct {
	Store
	c        *Cache
	id       string
	versions versionTable

	mu       sync.Mutex
	inflight map[string]*inflightRead
}

// Unwrap returns the store beneath the cache.
func (cs *cachedStore) Unwrap() Store { return cs.Store }

// Metrics returns the counters of the store beneath the cache.
func (cs *cachedStore) Metrics() *Metrics { return MetricsOf(cs.Store) }

func (cs *cachedStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := cs.Store.Stat(ctx, key)
	if err == nil {
		cs.versions.put(info)
	}
	return info, err
}

func (cs *cachedStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	infos, err := cs.Store.List(ctx, prefix)
	for _, info := range infos {
		cs.versions.put(info)
	}
	return infos, err
}

func (cs *cachedStore) Delete(ctx context.Context, key string) error {
	cs.versions.forget(key)
	err := cs.Store.Delete(ctx, key)
	cs.versions.forget(key)
	return err
}

func (cs *cachedStore) Create(ctx context.Context, key string, opts CreateOptions) (Writer, error) {
	w, err := cs.Store.Create(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return &cachedWriter{Writer: w, forget: func() { cs.versions.forget(key) }}, nil
}

type cachedWriter struct {
	Writer
	forget func()
}

func (w *cachedWriter) Commit(ctx context.Context) error {
	err := w.Writer.Commit(ctx)
	w.forget() // also on error: a failed commit may still have replaced the object
	return err
}

type inflightRead struct {
	done chan struct{}
	r    *cachedRange
	err  error
}

func (cs *cachedStore) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	c := cs.c
	if c == nil || c.rc == nil || len(p) == 0 || len(p) > c.maxItem || off < 0 {
		if c != nil {
			c.bypass.Add(1)
		}
		return cs.Store.ReadAt(ctx, key, p, off)
	}
	info, ok := cs.versions.get(key)
	if !ok {
		var err error
		if info, err = cs.Stat(ctx, key); err != nil {
			return 0, objectError(cs, "read", key, err)
		}
	}
	if off >= info.Size {
		return 0, io.EOF
	}
	k := cs.id + "\x00" + key + "\x00" + info.ETag + "\x00" + strconv.FormatInt(off, 10) + "+" + strconv.Itoa(len(p))
	if r, ok := c.rc.Get(k); ok {
		return c.hit(p, r)
	}
	// Join an identical read in flight rather than send a second one.
	cs.mu.Lock()
	if f, ok := cs.inflight[k]; ok {
		cs.mu.Unlock()
		select {
		case <-f.done:
			if f.r != nil {
				return c.hit(p, f.r)
			}
			// The first reader failed (perhaps its context ended): read ourselves.
		case <-ctx.Done():
			return 0, objectError(cs, "read", key, ctx.Err())
		}
	} else {
		f := &inflightRead{done: make(chan struct{})}
		if cs.inflight == nil {
			cs.inflight = map[string]*inflightRead{}
		}
		cs.inflight[k] = f
		cs.mu.Unlock()
		defer func() {
			cs.mu.Lock()
			delete(cs.inflight, k)
			cs.mu.Unlock()
			close(f.done)
		}()
		n, r, err := cs.miss(ctx, k, key, p, off)
		f.r, f.err = r, err
		return n, err
	}
	n, _, err := cs.miss(ctx, k, key, p, off)
	return n, err
}

func (c *Cache) hit(p []byte, r *cachedRange) (int, error) {
	n := copy(p, r.data)
	c.hits.Add(1)
	c.hitBytes.Add(int64(n))
	if r.eof {
		return n, io.EOF
	}
	return n, nil
}

// miss reads the range from the store and offers a copy to the cache,
// which it also returns (nil if the read failed).
func (cs *cachedStore) miss(ctx context.Context, k, key string, p []byte, off int64) (int, *cachedRange, error) {
	cs.c.misses.Add(1)
	n, err := cs.Store.ReadAt(ctx, key, p, off)
	cs.c.missBytes.Add(int64(n))
	if err != nil && err != io.EOF {
		return n, nil, err
	}
	r := &cachedRange{data: make([]byte, n), eof: err == io.EOF}
	copy(r.data, p[:n])
	cs.c.rc.Set(k, r, int64(n))
	return n, r, err
}

// versionTable remembers objects' ETags for versionTTL. It holds at most
// maxVersions entries; when full, expired entries go first, then arbitrary
// ones (a forgotten ETag costs one Stat).
type versionTable struct {
	mu sync.Mutex
	m  map[string]versionEntry
}

type versionEntry struct {
	info ObjectInfo
	at   time.Time
}

const maxVersions = 1 << 17

func (t *versionTable) get(key string) (ObjectInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[key]
	if !ok || time.Since(e.at) > versionTTL {
		return ObjectInfo{}, false
	}
	return e.info, true
}

func (t *versionTable) put(info ObjectInfo) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= maxVersions {
		for k, e := range t.m {
			if now.Sub(e.at) > versionTTL || len(t.m) >= maxVersions*3/4 {
				delete(t.m, k)
			}
		}
	}
	t.m[info.Key] = versionEntry{info: info, at: now}
}

func (t *versionTable) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}
