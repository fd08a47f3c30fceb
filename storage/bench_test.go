package storage_test

import (
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weirdata/weir/storage"
)

// BenchmarkReadAt reads one large object from start to end in ranges of
// a fixed size, as a Parquet scan reads column chunks, with one or more
// readers taking the ranges in order. MB/s is the object's throughput.
//
//	./scripts/minio.sh go test -run '^$' -bench ReadAt -benchtime 10x ./storage/
//
// The local object was just written, so it is read from the page cache:
// the figure is the file system's, not the disk's.
func BenchmarkReadAt(b *testing.B) {
	const size = 256 << 20
	data := make([]byte, size)
	_, _ = rand.Read(data)
	stores := []struct {
		name string
		new  func(b *testing.B) storage.Store
	}{
		{"memory", func(*testing.B) storage.Store { return storage.NewMemory() }},
		{"local", func(b *testing.B) storage.Store {
			l, err := storage.NewLocal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return l
		}},
		{"s3", func(b *testing.B) storage.Store { return testS3(b, storage.S3Options{}) }},
	}
	for _, st := range stores {
		b.Run("store="+st.name, func(b *testing.B) {
			s := st.new(b)
			if err := storage.Put(b.Context(), s, "big", data, storage.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			for _, rng := range []int{1 << 20, 8 << 20} {
				for _, readers := range []int{1, 4} {
					b.Run(fmt.Sprintf("range=%dMiB/readers=%d", rng>>20, readers), func(b *testing.B) {
						benchmarkSequential(b, s, size, rng, readers)
					})
				}
			}
		})
	}
}

func benchmarkSequential(b *testing.B, s storage.Store, size, rng, readers int) {
	ctx := b.Context()
	bufs := make([][]byte, readers)
	for i := range bufs {
		bufs[i] = make([]byte, rng)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		var next atomic.Int64
		var wg sync.WaitGroup
		for r := range readers {
			wg.Go(func() {
				for {
					off := next.Add(int64(rng)) - int64(rng)
					if off >= int64(size) {
						return
					}
					n, err := s.ReadAt(ctx, "big", bufs[r], off)
					if n != min(rng, size-int(off)) || (err != nil && off+int64(n) < int64(size)) {
						b.Errorf("ReadAt(%d) = %d, %v", off, n, err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
}
