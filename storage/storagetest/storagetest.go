// Package storagetest is the conformance suite for storage.Store: one set
// of tests that every object store must pass, so that code written against
// the interface (the Parquet reader, checkpoints) can trust any of them.
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return storage.NewMemory() })
//	}
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirdata/weir/storage"
)

// Run runs the suite. newStore returns an empty store for one subtest; it
// may register cleanups on t. Subtests run in parallel with each other.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"PutStatRead", testPutStatRead},
		{"ReadRanges", testReadRanges},
		{"EmptyObject", testEmptyObject},
		{"Missing", testMissing},
		{"Overwrite", testOverwrite},
		{"List", testList},
		{"InvisibleBeforeCommit", testInvisibleBeforeCommit},
		{"Abort", testAbort},
		{"WriterAfterClose", testWriterAfterClose},
		{"WriteCopiesData", testWriteCopiesData},
		{"IfAbsent", testIfAbsent},
		{"IfAbsentRace", testIfAbsentRace},
		{"Delete", testDelete},
		{"InvalidKeys", testInvalidKeys},
		{"ConcurrentReads", testConcurrentReads},
		{"Large", testLarge},
		{"ContextCancel", testContextCancel},
		{"ReaderAt", testReaderAt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	if err := storage.Put(ctxFor(t), s, key, data, storage.CreateOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func mustRead(t *testing.T, s storage.Store, key string) []byte {
	t.Helper()
	b, err := storage.ReadAll(ctxFor(t), s, key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// pattern returns n deterministic, position-dependent bytes, so a read
// from the wrong offset cannot pass.
func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func keys(infos []storage.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Key
	}
	return out
}

func testPutStatRead(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	data := pattern(1000, 1)
	before := time.Now().Add(-time.Minute) // servers' clocks may lag a little
	put(t, s, "a/b.bin", data)
	info, err := s.Stat(ctx, "a/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "a/b.bin" || info.Size != 1000 || info.ETag == "" {
		t.Errorf("Stat = %+v, want key a/b.bin, size 1000, an ETag", info)
	}
	if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("ModTime %v is not about now", info.ModTime)
	}
	if got := mustRead(t, s, "a/b.bin"); !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	if s.String() == "" {
		t.Error("String() is empty")
	}
}

func testReadRanges(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	data := pattern(1000, 2)
	put(t, s, "r", data)
	for _, tc := range []struct {
		off, n  int
		wantN   int
		wantEOF bool // io.EOF required; when false, nil required unless the read ends exactly at the end
	}{
		{off: 0, n: 0, wantN: 0},
		{off: 0, n: 10, wantN: 10},
		{off: 500, n: 100, wantN: 100},
		{off: 990, n: 10, wantN: 10},   // up to the end exactly: nil or EOF
		{off: 0, n: 1000, wantN: 1000}, // the whole object
		{off: 995, n: 10, wantN: 5, wantEOF: true},
		{off: 0, n: 2000, wantN: 1000, wantEOF: true},
		{off: 1000, n: 1, wantN: 0, wantEOF: true},
		{off: 5000, n: 10, wantN: 0, wantEOF: true},
	} {
		p := make([]byte, tc.n)
		n, err := s.ReadAt(ctx, "r", p, int64(tc.off))
		atEnd := tc.off+tc.n == len(data)
		switch {
		case n != tc.wantN:
			t.Errorf("ReadAt(off %d, len %d) = %d bytes, want %d (err %v)", tc.off, tc.n, n, tc.wantN, err)
		case tc.wantEOF && err != io.EOF:
			t.Errorf("ReadAt(off %d, len %d): err %v, want io.EOF", tc.off, tc.n, err)
		case !tc.wantEOF && err != nil && (!atEnd || err != io.EOF):
			t.Errorf("ReadAt(off %d, len %d): err %v, want nil", tc.off, tc.n, err)
		case !bytes.Equal(p[:n], data[min(tc.off, len(data)):min(tc.off+n, len(data))]):
			t.Errorf("ReadAt(off %d, len %d): wrong bytes", tc.off, tc.n)
		}
	}
	if _, err := s.ReadAt(ctx, "r", make([]byte, 1), -1); err == nil || err == io.EOF {
		t.Errorf("ReadAt at offset -1: err %v, want an error", err)
	}
}

func testEmptyObject(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	put(t, s, "empty", nil)
	info, err := s.Stat(ctx, "empty")
	if err != nil || info.Size != 0 {
		t.Fatalf("Stat = %+v, %v; want size 0", info, err)
	}
	if n, err := s.ReadAt(ctx, "empty", make([]byte, 1), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt = %d, %v; want 0, io.EOF", n, err)
	}
	if b := mustRead(t, s, "empty"); len(b) != 0 {
		t.Errorf("ReadAll = %d bytes", len(b))
	}
}

func testMissing(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	put(t, s, "dir/present", []byte("x"))
	for _, key := range []string{"absent", "dir/absent", "dir", "dir/present/below"} {
		_, err := s.Stat(ctx, key)
		if !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("Stat(%q): %v, want ErrNotExist", key, err)
		} else if !strings.Contains(err.Error(), key) {
			t.Errorf("Stat(%q): error %q does not name the key", key, err)
		}
		_, err = s.ReadAt(ctx, key, make([]byte, 4), 0)
		if !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("ReadAt(%q): %v, want ErrNotExist", key, err)
		} else if !strings.Contains(err.Error(), key) {
			t.Errorf("ReadAt(%q): error %q does not name the key", key, err)
		}
	}
	if _, err := storage.ReadAll(ctx, s, "absent"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("ReadAll: %v, want ErrNotExist", err)
	}
}

func testOverwrite(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	put(t, s, "k", []byte("first version"))
	info1, err := s.Stat(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "k", []byte("second"))
	info2, err := s.Stat(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, s, "k")); got != "second" {
		t.Errorf("after overwrite read %q", got)
	}
	if info2.Size != 6 || info1.ETag == info2.ETag {
		t.Errorf("after overwrite Stat = %+v (before %+v): want size 6 and a new ETag", info2, info1)
	}
}

func testList(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	// Chosen so that directory-walk order differs from key order:
	// "x/a-c" < "x/a/b" because '-' < '/'.
	all := []string{"x/a/b", "x/a-c", "x/ab", "y/1", "y/2/3", "z"}
	for i, k := range all {
		put(t, s, k, pattern(i+1, uint64(i)))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"x/a-c", "x/a/b", "x/ab", "y/1", "y/2/3", "z"}},
		{"x/", []string{"x/a-c", "x/a/b", "x/ab"}},
		{"x/a", []string{"x/a-c", "x/a/b", "x/ab"}},
		{"x/a/", []string{"x/a/b"}},
		{"x/a/b", []string{"x/a/b"}},
		{"y", []string{"y/1", "y/2/3"}},
		{"y/2/", []string{"y/2/3"}},
		{"z", []string{"z"}},
		{"nope/", nil},
		{"nope/deeper/", nil},
		{"x/ab/", nil},
	} {
		infos, err := s.List(ctx, tc.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", tc.prefix, err)
			continue
		}
		if got := keys(infos); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
		for _, info := range infos {
			st, err := s.Stat(ctx, info.Key)
			if err != nil || st.Size != info.Size || st.ETag != info.ETag {
				t.Errorf("List(%q) has %+v, Stat has %+v (%v)", tc.prefix, info, st, err)
			}
		}
	}
}

func testInvisibleBeforeCommit(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	w, err := s.Create(ctx, "pending/obj", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("not yet")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "pending/obj"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat before Commit: %v, want ErrNotExist", err)
	}
	if infos, err := s.List(ctx, ""); err != nil || len(infos) != 0 {
		t.Errorf("List before Commit = %q, %v; want nothing", keys(infos), err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, s, "pending/obj")); got != "not yet" {
		t.Errorf("after Commit read %q", got)
	}
	if infos, err := s.List(ctx, ""); err != nil || !slices.Equal(keys(infos), []string{"pending/obj"}) {
		t.Errorf("List after Commit = %q, %v; want exactly pending/obj (no staging leftovers)", keys(infos), err)
	}
}

func testAbort(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	w, err := s.Create(ctx, "aborted", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(100, 3)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Errorf("second Abort: %v, want nil", err)
	}
	if _, err := s.Stat(ctx, "aborted"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat after Abort: %v, want ErrNotExist", err)
	}
	if err := w.Commit(ctx); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := s.Stat(ctx, "aborted"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat after Abort and Commit: %v, want ErrNotExist", err)
	}
	// Abort of an existing key leaves the old object alone.
	put(t, s, "kept", []byte("old"))
	w, err = s.Create(ctx, "kept", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(mustRead(t, s, "kept")); got != "old" {
		t.Errorf("after aborted overwrite read %q, want old", got)
	}
	if infos, err := s.List(ctx, ""); err != nil || !slices.Equal(keys(infos), []string{"kept"}) {
		t.Errorf("List = %q, %v; want exactly kept", keys(infos), err)
	}
}

func testWriterAfterClose(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	w, err := s.Create(ctx, "done", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("y")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if err := w.Commit(ctx); err == nil {
		t.Error("second Commit succeeded")
	}
	if err := w.Abort(ctx); err != nil {
		t.Errorf("Abort after Commit: %v, want nil (a no-op)", err)
	}
	if got := string(mustRead(t, s, "done")); got != "x" {
		t.Errorf("read %q after Abort following Commit, want x", got)
	}
}

func testWriteCopiesData(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	w, err := s.Create(ctx, "copied", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("original")
	if _, err := w.Write(buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX") // the caller reuses its buffer
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 8)
	if _, err := s.ReadAt(ctx, "copied", p, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	copy(p, "YYYYYYYY") // and its read buffer
	if got := string(mustRead(t, s, "copied")); got != "original" {
		t.Errorf("read %q, want original", got)
	}
}

func testIfAbsent(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	if err := storage.Put(ctx, s, "once", []byte("first"), storage.CreateOptions{IfAbsent: true}); err != nil {
		t.Fatalf("IfAbsent put of a new key: %v", err)
	}
	err := storage.Put(ctx, s, "once", []byte("second"), storage.CreateOptions{IfAbsent: true})
	if !errors.Is(err, storage.ErrExists) {
		t.Errorf("IfAbsent put of an existing key: %v, want ErrExists", err)
	} else if !strings.Contains(err.Error(), "once") {
		t.Errorf("error %q does not name the key", err)
	}
	if got := string(mustRead(t, s, "once")); got != "first" {
		t.Errorf("read %q, want first", got)
	}
	if infos, err := s.List(ctx, ""); err != nil || !slices.Equal(keys(infos), []string{"once"}) {
		t.Errorf("List = %q, %v; want exactly once (the loser leaves nothing)", keys(infos), err)
	}
}

func testIfAbsentRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const writers = 8
	for round := range 3 {
		key := fmt.Sprintf("race/%d", round)
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			errs   = make([]error, writers)
			bodies = make([][]byte, writers)
		)
		for i := range writers {
			bodies[i] = pattern(100+i, uint64(round*writers+i))
			wg.Go(func() {
				w, err := s.Create(ctx, key, storage.CreateOptions{IfAbsent: true})
				if err != nil {
					errs[i] = err
					return
				}
				if _, err := w.Write(bodies[i]); err != nil {
					errs[i] = err
					return
				}
				<-start // all commit at once
				errs[i] = w.Commit(ctx)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, storage.ErrExists):
				t.Errorf("round %d: writer %d: %v, want nil or ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		if got := mustRead(t, s, key); !bytes.Equal(got, bodies[winner]) {
			t.Errorf("round %d: the object is not the winner's bytes", round)
		}
	}
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	put(t, s, "d/1", []byte("1"))
	put(t, s, "d/2", []byte("2"))
	if err := s.Delete(ctx, "d/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "d/1"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat after Delete: %v, want ErrNotExist", err)
	}
	if err := s.Delete(ctx, "d/1"); err != nil {
		t.Errorf("Delete of a deleted key: %v, want nil", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	if infos, err := s.List(ctx, ""); err != nil || !slices.Equal(keys(infos), []string{"d/2"}) {
		t.Errorf("List = %q, %v; want d/2", keys(infos), err)
	}
	if err := s.Delete(ctx, "d/2"); err != nil {
		t.Fatal(err)
	}
	// The key can be written again.
	put(t, s, "d/1", []byte("again"))
	if got := string(mustRead(t, s, "d/1")); got != "again" {
		t.Errorf("read %q, want again", got)
	}
}

// InvalidKeys are keys every store must refuse with ErrInvalidKey.
var InvalidKeys = []string{
	"", "/abs", "/", "../x", "..", ".", "a/../b", "a/..", "./a", "a/./b",
	"a//b", "a/", "a\\b", "..\\x", "a\x00b",
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	put(t, s, "ok", []byte("x"))
	for _, key := range InvalidKeys {
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.ReadAt(ctx, key, make([]byte, 1), 0); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ReadAt(%q): %v, want ErrInvalidKey", key, err)
		}
		if w, err := s.Create(ctx, key, storage.CreateOptions{}); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Create(%q): %v, want ErrInvalidKey", key, err)
			if w != nil {
				_ = w.Abort(ctx)
			}
		}
		if err := s.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Delete(%q): %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"../", "/abs/", "a//", "a/../", "a\\"} {
		if _, err := s.List(ctx, prefix); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("List(%q): %v, want ErrInvalidKey", prefix, err)
		}
	}
	if infos, err := s.List(ctx, ""); err != nil || !slices.Equal(keys(infos), []string{"ok"}) {
		t.Errorf("List = %q, %v; want ok", keys(infos), err)
	}
}

func testConcurrentReads(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	data := pattern(1<<20, 4)
	put(t, s, "shared", data)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 20 {
				off := r.IntN(len(data))
				n := 1 + r.IntN(64<<10)
				p := make([]byte, n)
				got, err := s.ReadAt(ctx, "shared", p, int64(off))
				want := min(n, len(data)-off)
				if got != want || (err != nil && err != io.EOF) || !bytes.Equal(p[:got], data[off:off+want]) {
					errs <- fmt.Errorf("ReadAt(off %d, len %d) = %d, %v; want %d bytes that match", off, n, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// LargeSize is the size of the suite's large object: more than two S3
// multipart parts of the default 8 MiB, and not a multiple of any.
const LargeSize = 20<<20 + 12345

func testLarge(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	data := pattern(LargeSize, 5)
	w, err := s.Create(ctx, "large/obj", storage.CreateOptions{IfAbsent: true})
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes, straddling part boundaries.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1<<20+7)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if _, err := s.Stat(ctx, "large/obj"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat before Commit: %v, want ErrNotExist", err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, "large/obj")
	if err != nil || info.Size != LargeSize {
		t.Fatalf("Stat = %+v, %v; want size %d", info, err, LargeSize)
	}
	if got := mustRead(t, s, "large/obj"); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	// Ranges across the 8 MiB part boundaries.
	for _, off := range []int{8<<20 - 100, 16<<20 - 1, LargeSize - 10} {
		p := make([]byte, 200)
		n, err := s.ReadAt(ctx, "large/obj", p, int64(off))
		want := min(200, LargeSize-off)
		if n != want || (err != nil && err != io.EOF) || !bytes.Equal(p[:n], data[off:off+n]) {
			t.Errorf("ReadAt(off %d) = %d, %v; want %d matching bytes", off, n, err, want)
		}
	}
	// A large object loses an IfAbsent race like a small one, and an
	// aborted large write leaves nothing.
	w, err = s.Create(ctx, "large/obj", storage.CreateOptions{IfAbsent: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(LargeSize, 6)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); !errors.Is(err, storage.ErrExists) {
		t.Errorf("IfAbsent Commit of a large object over an existing key: %v, want ErrExists", err)
	}
	w, err = s.Create(ctx, "large/aborted", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(LargeSize, 7)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if infos, err := s.List(ctx, ""); err != nil || !slices.Equal(keys(infos), []string{"large/obj"}) {
		t.Errorf("List = %q, %v; want large/obj", keys(infos), err)
	}
	if got := mustRead(t, s, "large/obj"); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Error("the losing and the aborted writers changed large/obj")
	}
}

func testContextCancel(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	put(t, s, "c", []byte("data"))
	done, cancel := context.WithCancel(ctx)
	cancel()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", op, err)
		}
	}
	_, err := s.Stat(done, "c")
	check("Stat", err)
	_, err = s.ReadAt(done, "c", make([]byte, 4), 0)
	check("ReadAt", err)
	_, err = s.List(done, "")
	check("List", err)
	_, err = s.Create(done, "c2", storage.CreateOptions{})
	check("Create", err)
	check("Put", storage.Put(done, s, "c2", []byte("x"), storage.CreateOptions{}))

	// Cancelling Create's context fails later Writes and the Commit, and
	// leaves nothing behind.
	wctx, wcancel := context.WithCancel(ctx)
	w, err := s.Create(wctx, "c3", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("part")); err != nil {
		t.Fatal(err)
	}
	wcancel()
	_, err = w.Write([]byte("more"))
	check("Write after Create's context ended", err)
	check("Commit after Create's context ended", w.Commit(ctx))
	_ = w.Abort(ctx)

	// A Commit with a cancelled context fails and publishes nothing.
	w, err = s.Create(ctx, "c4", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	check("Commit", w.Commit(done))
	_ = w.Abort(ctx)

	for _, key := range []string{"c2", "c3", "c4"} {
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("Stat(%s) after cancelled writes: %v, want ErrNotExist", key, err)
		}
	}
	if infos, err := s.List(ctx, ""); err != nil || !slices.Equal(keys(infos), []string{"c"}) {
		t.Errorf("List = %q, %v; want c", keys(infos), err)
	}
}

func testReaderAt(t *testing.T, s storage.Store) {
	data := pattern(5000, 8)
	put(t, s, "ra", data)
	r := io.NewSectionReader(storage.ReaderAt(ctxFor(t), s, "ra"), 0, int64(len(data)))
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("io.ReadAll over ReaderAt: %d bytes, %v", len(got), err)
	}
}
