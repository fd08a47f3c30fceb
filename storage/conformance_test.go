package storage_test

import (
	"testing"

	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/storage/storagetest"
)

func newLocal(t *testing.T) *storage.Local {
	t.Helper()
	l, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func TestLocalConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newLocal(t) })
}

func TestMemoryConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storage.NewMemory() })
}

func TestCachedConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		inner func(t *testing.T) storage.Store
	}{
		{"memory", func(t *testing.T) storage.Store { return storage.NewMemory() }},
		{"local", func(t *testing.T) storage.Store { return newLocal(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				c := storage.NewCache(64 << 20)
				t.Cleanup(c.Close)
				return storage.Cached(tc.inner(t), c)
			})
		})
	}
}
