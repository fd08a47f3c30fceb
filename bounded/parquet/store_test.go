package parquet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/weirdata/weir/storage"
)

// memStore is storage's memory store with what these tests need on top: a
// fixed name for messages, counters of ReadAt calls and bytes, and a key
// whose reads fail.
type memStore struct {
	*storage.Memory
	reads   atomic.Int64
	bytes   atomic.Int64
	failKey atomic.Value // string
}

func newMemStore() *memStore { return &memStore{Memory: storage.NewMemory()} }

// String names the store "mem://test/" in messages.
func (m *memStore) String() string { return "mem://test/" }

func (m *memStore) put(key string, data []byte) {
	if err := storage.Put(context.Background(), m.Memory, key, data, storage.CreateOptions{}); err != nil {
		panic(err) // a memory store accepts every valid key
	}
}

func (m *memStore) setFail(key string) { m.failKey.Store(key) }

func (m *memStore) ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error) {
	if k, _ := m.failKey.Load().(string); k != "" && k == key {
		return 0, fmt.Errorf("%s: injected read failure", key)
	}
	m.reads.Add(1)
	n, err := m.Memory.ReadAt(ctx, key, p, off)
	m.bytes.Add(int64(n))
	return n, err
}

func (m *memStore) info(t testing.TB, key string) storage.ObjectInfo {
	t.Helper()
	info, err := m.Stat(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (m *memStore) infos(t testing.TB, keys ...string) []storage.ObjectInfo {
	t.Helper()
	var out []storage.ObjectInfo
	for _, k := range keys {
		out = append(out, m.info(t, k))
	}
	return out
}

// loadDir puts the files of dir matching pattern into a new store, keyed by
// their base name.
func loadDir(t testing.TB, dir, pattern string) (*memStore, []string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	var keys []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		k := filepath.Base(p)
		st.put(k, b)
		keys = append(keys, k)
	}
	return st, keys
}
