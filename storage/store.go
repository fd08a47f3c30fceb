// Package storage holds weir's object stores — a local directory (the
// embedded default), S3, and memory (tests) — behind one interface, plus
// the caches that sit in front of them.
//
// An object store is a flat namespace of immutable objects named by
// slash-separated keys ("bids/date=2026-01-01/part-0.parquet"). Everything
// weir persists goes through it: table history as Parquet, checkpoints,
// notebooks' data. Readers address it with URLs: file:///abs/dir/,
// s3://bucket/prefix/, mem://name/.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is an object store. Keys are relative, slash-separated, and never
// start with "/" or contain "." or ".." segments (ValidKey); a store refuses
// any other key, so no key can escape the store's root.
//
// Objects are immutable once committed: a reader of a key sees a whole
// committed object or ErrNotExist, never a partial write.
type Store interface {
	// Stat returns the object's metadata, or an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// ReadAt reads len(p) bytes of the object starting at off, with the
	// semantics of io.ReaderAt (n < len(p) only with an error; io.EOF at the
	// end). It is safe for concurrent use.
	ReadAt(ctx context.Context, key string, p []byte, off int64) (int, error)
	// List returns the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Create starts writing the object at key. Nothing is visible under key
	// until Commit; Abort (or a failed Commit) leaves nothing behind. With
	// IfAbsent, Commit fails with ErrExists if key exists — atomically, so
	// that two writers racing for a key cannot both succeed. ctx bounds the
	// whole write: once it is done, Write and Commit fail.
	Create(ctx context.Context, key string, opts CreateOptions) (Writer, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// String names the store for messages: "file:///data/", "s3://lake/".
	String() string
}

// CreateOptions modify Create.
type CreateOptions struct {
	// IfAbsent makes Commit fail with ErrExists when the key exists.
	IfAbsent bool
}

// Writer receives an object's bytes. It is not safe for concurrent use.
type Writer interface {
	io.Writer
	// Commit makes the object visible under its key, atomically.
	Commit(ctx context.Context) error
	// Abort discards what was written. It is a no-op after Commit, and
	// Commit fails after it.
	Abort(ctx context.Context) error
}

// ObjectInfo describes one object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag changes whenever the object's bytes do (a version, for caches).
	ETag string
}

var (
	// ErrNotExist: no object has that key.
	ErrNotExist = errors.New("object does not exist")
	// ErrExists: Create with IfAbsent found the key taken.
	ErrExists = errors.New("object already exists")
	// ErrInvalidKey: the key is empty, absolute, or has . or .. segments.
	ErrInvalidKey = errors.New("invalid object key")
)

// Put writes data as the object at key: Create, Write, Commit.
func Put(ctx context.Context, s Store, key string, data []byte, opts CreateOptions) error {
	w, err := s.Create(ctx, key, opts)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		_ = w.Abort(ctx)
		return err
	}
	return w.Commit(ctx)
}

// ReadAll returns the whole object at key.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, info.Size)
	n, err := s.ReadAt(ctx, key, buf, 0)
	if err == io.EOF && int64(n) == info.Size {
		err = nil
	}
	return buf[:n], err
}

// ReaderAt adapts one object of a store to io.ReaderAt (for decoders that
// take one, such as parquet-go), with a fixed context.
func ReaderAt(ctx context.Context, s Store, key string) io.ReaderAt {
	return readerAt{ctx: ctx, s: s, key: key}
}

type readerAt struct {
	ctx context.Context
	s   Store
	key string
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) { return r.s.ReadAt(r.ctx, r.key, p, off) }
