package storage_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weirdata/weir/storage"
)

// countingStore counts the ReadAts that reach the store.
type countingStore struct {
	storage.Store
	reads atomic.Int64
	gate  chan struct{} // if set, ReadAt waits for it
}

func (c *countingStore) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	c.reads.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return c.Store.ReadAt(ctx, key, p, off)
}

func TestCacheHits(t *testing.T) {
	ctx := t.Context()
	inner := &countingStore{Store: storage.NewMemory()}
	c := storage.NewCache(1 << 20)
	defer c.Close()
	s := storage.Cached(inner, c)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := storage.Put(ctx, s, "f", data, storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	read := func(off, n int) ([]byte, error) {
		p := make([]byte, n)
		m, err := s.ReadAt(ctx, "f", p, int64(off))
		return p[:m], err
	}
	// The footer, read three times: one miss, then hits.
	for i := range 3 {
		got, err := read(len(data)-8, 8)
		if err != nil || !bytes.Equal(got, data[len(data)-8:]) {
			t.Fatalf("read %d: %q, %v", i, got, err)
		}
		c.Wait() // sets are asynchronous
	}
	if got := inner.reads.Load(); got != 1 {
		t.Errorf("the store served %d reads of the footer, want 1", got)
	}
	// A read past the end is cached with its io.EOF.
	for range 2 {
		got, err := read(len(data)-4, 8)
		if err != io.EOF || !bytes.Equal(got, data[len(data)-4:]) {
			t.Errorf("read over the end = %q, %v; want 4 bytes and io.EOF", got, err)
		}
		c.Wait()
	}
	st := c.Stats()
	if st.Hits != 3 || st.Misses != 2 || st.HitBytes != 2*8+4 || st.Bytes <= 0 {
		t.Errorf("Stats = %+v; want 3 hits (20 bytes), 2 misses", st)
	}
	// A different range of the same object is a miss.
	if _, err := read(0, 8); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Misses; got != 3 {
		t.Errorf("misses = %d after a new range, want 3", got)
	}
	// Overwriting through the cached store: the next read sees the new
	// bytes (a new ETag, so a new cache key).
	if err := storage.Put(ctx, s, "f", bytes.Repeat([]byte("x"), len(data)), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := read(len(data)-8, 8); string(got) != "xxxxxxxx" {
		t.Errorf("after overwrite read %q, want the new bytes", got)
	}
	// Metrics pass through to the inner store.
	m := storage.NewMemory()
	if storage.MetricsOf(storage.Cached(m, c)) != m.Metrics() {
		t.Error("MetricsOf(Cached(memory)) is not the memory store's")
	}
}

func TestCacheBudget(t *testing.T) {
	ctx := t.Context()
	const budget = 1 << 20
	c := storage.NewCache(budget)
	defer c.Close()
	s := storage.Cached(storage.NewMemory(), c)
	if err := storage.Put(ctx, s, "big", make([]byte, 8<<20), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Many distinct 64 KiB ranges, each read twice (so TinyLFU admits them).
	p := make([]byte, 64<<10)
	for round := range 2 {
		for off := 0; off+len(p) <= 8<<20; off += len(p) {
			if _, err := s.ReadAt(ctx, "big", p, int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		c.Wait()
		if st := c.Stats(); st.Bytes > budget {
			t.Errorf("round %d: cache holds %d bytes over a budget of %d", round, st.Bytes, budget)
		}
	}
	// A range over an eighth of the budget goes straight through.
	before := c.Stats()
	if _, err := s.ReadAt(ctx, "big", make([]byte, budget/4), 0); err != nil {
		t.Fatal(err)
	}
	if after := c.Stats(); after.Bypass != before.Bypass+1 {
		t.Errorf("a large range did not bypass the cache: %+v", after)
	}
}

// TestCacheJoinsInflight: identical reads at the same time share one read
// of the store, and all get the right bytes.
func TestCacheJoinsInflight(t *testing.T) {
	ctx := t.Context()
	inner := &countingStore{Store: storage.NewMemory()}
	c := storage.NewCache(1 << 20)
	defer c.Close()
	s := storage.Cached(inner, c)
	if err := storage.Put(ctx, s, "f", []byte("footer bytes"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "f"); err != nil { // learn the ETag first
		t.Fatal(err)
	}
	inner.gate = make(chan struct{})
	var wg sync.WaitGroup
	var started atomic.Int64
	for range 8 {
		wg.Go(func() {
			started.Add(1)
			p := make([]byte, 6)
			n, err := s.ReadAt(ctx, "f", p, 0)
			if err != nil || string(p[:n]) != "footer" {
				t.Errorf("ReadAt = %q, %v", p[:n], err)
			}
		})
	}
	// Hold the first read at the store until every reader has started;
	// they are correct whether or not they joined it.
	for started.Load() < 8 || inner.reads.Load() == 0 {
		runtime.Gosched()
	}
	close(inner.gate)
	wg.Wait()
	t.Logf("8 concurrent identical reads reached the store %d time(s)", inner.reads.Load())
}

func TestCacheDisabled(t *testing.T) {
	ctx := t.Context()
	c := storage.NewCache(0)
	defer c.Close()
	s := storage.Cached(storage.NewMemory(), c)
	if err := storage.Put(ctx, s, "f", []byte("abc"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 3)
	if n, err := s.ReadAt(ctx, "f", p, 0); n != 3 || err != nil {
		t.Errorf("ReadAt = %d, %v", n, err)
	}
}

func TestMetrics(t *testing.T) {
	ctx := t.Context()
	for _, s := range []storage.Store{storage.NewMemory(), newLocal(t)} {
		if err := storage.Put(ctx, s, "a", []byte("12345"), storage.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_ = storage.Put(ctx, s, "a", []byte("x"), storage.CreateOptions{IfAbsent: true}) // ErrExists
		if _, err := storage.ReadAll(ctx, s, "a"); err != nil {
			t.Fatal(err)
		}
		_, _ = s.Stat(ctx, "missing")    // ErrNotExist: not an error
		_, _ = s.Stat(ctx, "../invalid") // an error
		if _, err := s.List(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		m := storage.MetricsOf(s).Snapshot()
		want := storage.MetricsSnapshot{
			Requests:     map[string]int64{"stat": 3, "read": 1, "list": 1, "create": 2, "commit": 2, "abort": 0, "delete": 1},
			Errors:       map[string]int64{"stat": 1, "read": 0, "list": 0, "create": 0, "commit": 0, "abort": 0, "delete": 0},
			BytesRead:    5,
			BytesWritten: 6,
		}
		if !equalSnapshots(m, want) {
			t.Errorf("%s: Snapshot = %+v\nwant %+v", s, m, want)
		}
	}
}

func equalSnapshots(a, b storage.MetricsSnapshot) bool {
	eq := func(x, y map[string]int64) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if y[k] != v {
				return false
			}
		}
		return true
	}
	return eq(a.Requests, b.Requests) && eq(a.Errors, b.Errors) && eq(a.Calls, b.Calls) &&
		a.BytesRead == b.BytesRead && a.BytesWritten == b.BytesWritten
}
