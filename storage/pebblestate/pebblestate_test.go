package pebblestate_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/dataflow/statetest"
	"github.com/weirdata/weir/storage/pebblestate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConformance(t *testing.T) {
	f := pebblestate.Factory(pebblestate.Options{Logger: quiet, MemTableBytes: 1 << 20})
	statetest.Run(t, statetest.Backend{
		New: func(t *testing.T, r dataflow.KeyGroupRange) *dataflow.StateBackend {
			s := dataflow.NewStoreStateBackend(r, f, dataflow.StateStoreSpec{Node: "test"}, t.TempDir())
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Error(err)
				}
			})
			return s
		},
		Store: f,
	})
}

// TestCacheNeverStale writes and reads back the same few keys many times:
// ristretto applies sets asynchronously, and a value read before a write
// must never be served after it.
func TestCacheNeverStale(t *testing.T) {
	s, err := pebblestate.Open(t.TempDir(), pebblestate.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	for i := range 100_000 {
		key := []byte{byte(i % 3)}
		want := fmt.Appendf(nil, "%d", i)
		if i%2 == 0 {
			if err := s.Set(key, want); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := s.Merge(key, []byte("+")); err != nil {
				t.Fatal(err)
			}
		}
		got, ok, err := s.Get(key)
		if err != nil || !ok {
			t.Fatalf("step %d: Get = %v, %v", i, ok, err)
		}
		if i%2 == 0 && !bytes.Equal(got, want) || i%2 == 1 && !bytes.HasSuffix(got, []byte("+")) {
			t.Fatalf("step %d: Get = %q, stale", i, got)
		}
		if i%1000 == 999 {
			if err := s.DeleteRange([]byte{0}, []byte{3}); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Get(key); ok {
				t.Fatalf("step %d: a key survived a range delete", i)
			}
		}
	}
}

func newBackends(b *testing.B) map[string]*dataflow.StateBackend {
	r := dataflow.KeyGroupRange{Start: 0, End: 128}
	p := dataflow.NewStoreStateBackend(r, pebblestate.Factory(pebblestate.Options{Logger: quiet}),
		dataflow.StateStoreSpec{Node: "bench"}, b.TempDir())
	b.Cleanup(func() {
		if err := p.Close(); err != nil {
			b.Error(err)
		}
	})
	return map[string]*dataflow.StateBackend{"memory": dataflow.NewStateBackend(r), "pebble": p}
}

// BenchmarkValueState measures a ValueState Get and a Put over 100,000
// keys on both backends.
func BenchmarkValueState(b *testing.B) {
	const keys = 100_000
	for _, name := range []string{"memory", "pebble"} {
		s := newBackends(b)[name]
		v := dataflow.NewValueState(s, "v", dataflow.Int64Codec{})
		ks := make([][]byte, keys)
		for i := range ks {
			ks[i] = fmt.Appendf(nil, "key-%07d", i)
		}
		key := func(i int) []byte { return ks[i%keys] }
		for i := range keys {
			if err := v.Put(i%128, key(i), int64(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(name+"/Put", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := v.Put((i*7919)%keys%128, key(i*7919), int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Get", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, ok, err := v.Get((i*7919)%keys%128, key(i*7919)); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run(name+"/GetHot", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, ok, err := v.Get(i%100%128, key(i%100)); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
