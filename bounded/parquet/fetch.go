package parquet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// byteRange is [off, end) in a file.
type byteRange struct{ off, end int64 }

func (r byteRange) len() int64 { return r.end - r.off }

// coalesce sorts ranges and merges those that overlap or lie within gap
// bytes of each other: one larger request beats two small ones on S3, and
// costs nothing on a local disk.
func coalesce(rs []byteRange, gap int64) []byteRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b byteRange) int { return cmp.Compare(a.off, b.off) })
	out := rs[:0]
	for _, r := range rs {
		if r.len() <= 0 {
			continue
		}
		if n := len(out); n > 0 && r.off <= out[n-1].end+gap {
			out[n-1].end = max(out[n-1].end, r.end)
			continue
		}
		out = append(out, r)
	}
	return out
}

// buffers are fetched byte ranges of one file.
type buffers []fetchedRange

type fetchedRange struct {
	off  int64
	data []byte
}

// slice returns the bytes [r.off, r.end), which must lie in one fetched range.
func (bs buffers) slice(r byteRange) ([]byte, error) {
	for _, b := range bs {
		if r.off >= b.off && r.end <= b.off+int64(len(b.data)) {
			return b.data[r.off-b.off : r.end-b.off], nil
		}
	}
	return nil, fmt.Errorf("internal error: range [%d, %d) was not fetched", r.off, r.end)
}

// fetch reads ranges of file f (coalesced), through the cache, concurrently.
func (s *Source) fetch(ctx context.Context, f *fileMeta, ranges []byteRange) (buffers, error) {
	rs := coalesce(ranges, s.opts.Prefetch.HoleBytes)
	out := make(buffers, len(rs))
	if len(rs) == 1 {
		data, err := s.readRange(ctx, f, rs[0])
		if err != nil {
			return nil, err
		}
		return buffers{{off: rs[0].off, data: data}}, nil
	}
	var wg sync.WaitGroup
	errs := make([]error, len(rs))
	for i, r := range rs {
		wg.Go(func() {
			data, err := s.readRange(ctx, f, r)
			out[i], errs[i] = fetchedRange{off: r.off, data: data}, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// readRange reads one range of f.
func (s *Source) readRange(ctx context.Context, f *fileMeta, r byteRange) ([]byte, error) {
	if r.off < 0 || r.end > f.info.Size || r.len() < 0 {
		return nil, fmt.Errorf("%w: byte range [%d, %d) outside the file (%d bytes)", ErrCorrupt, r.off, r.end, f.info.Size)
	}
	buf := getBuf(int(r.len()))
	n, err := s.store.ReadAt(ctx, f.info.Key, buf, r.off)
	s.progress.BytesRead.Add(int64(n))
	if err != nil && (!errors.Is(err, io.EOF) || n != len(buf)) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the object is shorter than its listed size (%d bytes; read %d at %d)", ErrCorrupt, f.info.Size, n, r.off)
		}
		return nil, err
	}
	return buf, nil
}

// spliceReader presents chosen byte ranges of a file as one contiguous
// stream starting at file offset base: parquet-go's page reader reads a
// column chunk sequentially from there, and sees only the pages that a unit
// needs (the dictionary page first). Reads outside the stream fail.
type spliceReader struct {
	base int64
	segs [][]byte
	size int64
}

func (s *spliceReader) add(b []byte) {
	s.segs = append(s.segs, b)
	s.size += int64(len(b))
}

// ReadAt implements io.ReaderAt over the stream.
func (s *spliceReader) ReadAt(p []byte, off int64) (int, error) {
	pos := off - s.base
	if pos < 0 {
		return 0, fmt.Errorf("%w: read before the column chunk", ErrCorrupt)
	}
	n := 0
	for _, seg := range s.segs {
		if len(p) == 0 {
			break
		}
		l := int64(len(seg))
		if pos >= l {
			pos -= l
			continue
		}
		k := copy(p, seg[pos:])
		n += k
		p = p[k:]
		pos = 0
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// budget bounds the bytes in flight (fetched and decoded but not yet
// returned) across all the splits of a source. A reader that holds nothing
// is always admitted, so one unit larger than the budget still progresses.
type budget struct {
	mu    sync.Mutex
	limit int64
	used  int64
	wake  chan struct{}
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, wake: make(chan struct{})}
}

// acquire takes n bytes; holding is what the caller already holds.
func (b *budget) acquire(ctx context.Context, n, holding int64) error {
	for {
		b.mu.Lock()
		if b.used+n <= b.limit || holding == 0 {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// Fetched column chunks are recycled: parquet-go copies every page out of
// them, so once a unit is decoded its buffers are free, and reusing them
// spares the allocator (and the kernel's page faults) hundreds of megabytes
// per scan. (storage.Cached copies what it keeps, so it never holds one.)
var bufPools [40]sync.Pool

func bufClass(n int) int {
	c := 0
	for 1<<c < n {
		c++
	}
	return c
}

func getBuf(n int) []byte {
	c := bufClass(n)
	if c >= len(bufPools) {
		return make([]byte, n)
	}
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

// putBufs recycles fetched buffers (only those getBuf made).
func putBufs(bs buffers) {
	for _, b := range bs {
		c := bufClass(cap(b.data))
		if c < len(bufPools) && cap(b.data) == 1<<c {
			d := b.data[:0]
			bufPools[c].Put(&d)
		}
	}
}
