package storage

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// stagingDir is the hidden directory, directly under a Local store's root,
// that holds objects being written. It is on the same file system as the
// objects, so Commit is a rename(2) or link(2), never a copy. List skips it
// and no key may enter it.
const stagingDir = ".weir-staging"

// Local is an object store in a directory of the local file system, the
// embedded default. A key is a path relative to the directory.
//
// Confinement: every file operation goes through an os.Root opened on the
// directory. os.Root resolves a name one component at a time relative to the
// directory's open descriptor (openat(2) with O_NOFOLLOW on each step) and
// fails any name that leaves the tree, whether by ".." or by a symbolic link
// pointing outside (or an absolute one), even if a link is swapped in while
// the call runs. ValidKey already refuses ".." and absolute keys; os.Root is
// the second wall, against symlinks planted inside the directory. A symlink
// that stays inside the tree is followed; List does not descend into
// symlinked directories, so a link cycle cannot make it loop.
//
// Commit is atomic: a Writer writes to a temporary file in .weir-staging/,
// then fsyncs it, renames it over the key (replacing any object there) and
// fsyncs the parent directory. With IfAbsent it hard-links the temporary
// file to the key instead of renaming: link(2) fails with EEXIST if the key
// exists, atomically in the kernel, so of two writers racing for a key
// exactly one wins. (The alternative, opening the key with O_EXCL and
// writing into it, would show a partial object to readers; checking with
// stat before rename would let both racers win.) IfAbsent therefore needs
// a file system with hard links.
//
// A process that dies while writing leaves its temporary file in
// .weir-staging/; such files can be deleted whenever no writer is running.
//
// The directory need not exist: reads of a missing directory find no
// objects, and the first Create makes it. ETags are built from the file's
// inode, size and modification time, which change whenever a commit
// replaces the object.
type Local struct {
	dir     string // absolute
	url     string // "file:///abs/dir/"
	metrics *Metrics

	mu   sync.Mutex
	root *os.Root // nil until the directory exists
}

var _ Store = (*Local)(nil)

// NewLocal returns a store in the directory root (made absolute against the
// working directory). It fails if root exists and is not a directory.
func NewLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("storage: local store %q: %w", root, err)
	}
	slashed := filepath.ToSlash(abs)
	if !strings.HasPrefix(slashed, "/") {
		slashed = "/" + slashed // a Windows drive: file:///C:/data/
	}
	if !strings.HasSuffix(slashed, "/") {
		slashed += "/"
	}
	l := &Local{dir: abs, url: "file://" + slashed, metrics: newMetrics()}
	if _, err := l.openRoot(false); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("storage: local store %s: %w", l.url, err)
	}
	return l, nil
}

// String returns the store's URL, "file:///abs/dir/".
func (l *Local) String() string { return l.url }

// Dir returns the store's directory.
func (l *Local) Dir() string { return l.dir }

// Metrics returns the store's counters.
func (l *Local) Metrics() *Metrics { return l.metrics }

// Close releases the directory's descriptor. The store must not be used
// afterwards.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.root == nil {
		return nil
	}
	err := l.root.Close()
	l.root = nil
	return err
}

// openRoot returns the os.Root of the directory, creating the directory
// first if create is set. Without create, a missing directory gives an
// error wrapping fs.ErrNotExist.
func (l *Local) openRoot(create bool) (*os.Root, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.root != nil {
		return l.root, nil
	}
	if create {
		if err := os.MkdirAll(l.dir, 0o755); err != nil {
			return nil, err
		}
	}
	r, err := os.OpenRoot(l.dir)
	if err != nil {
		return nil, err
	}
	l.root = r
	return r, nil
}

// checkKey applies ValidKey and keeps keys out of the staging directory.
func checkLocalKey(key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if key == stagingDir || strings.HasPrefix(key, stagingDir+"/") {
		return fmt.Errorf("%w %q: %s/ is reserved for objects being written", ErrInvalidKey, key, stagingDir)
	}
	return nil
}

// notExist maps the file system's "no such object" answers to ErrNotExist:
// ENOENT, and ENOTDIR (a key below a file).
func notExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w (%v)", ErrNotExist, err)
	}
	return err
}

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	defer func() { l.metrics.request(KindStat, err) }()
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, objectError(l, "stat", key, err)
	}
	if err := checkLocalKey(key); err != nil {
		return ObjectInfo{}, objectError(l, "stat", key, err)
	}
	r, err := l.openRoot(false)
	if err != nil {
		return ObjectInfo{}, objectError(l, "stat", key, notExist(err))
	}
	fi, err := r.Stat(filepath.FromSlash(key))
	if err != nil {
		return ObjectInfo{}, objectError(l, "stat", key, notExist(err))
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, objectError(l, "stat", key, fmt.Errorf("%w: a %s, not a file", ErrNotExist, fileKind(fi.Mode())))
	}
	return localInfo(key, fi), nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "special file"
	}
}

func localInfo(key string, fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{
		Key:     key,
		Size:    fi.Size(),
		ModTime: fi.ModTime(),
		ETag:    fmt.Sprintf("%x-%x-%x", inode(fi), fi.Size(), fi.ModTime().UnixNano()),
	}
}

// localReadChunk bounds one pread(2), so that a huge ReadAt still checks
// its context now and then.
const localReadChunk = 16 << 20

// ReadAt implements Store. Each call opens the file, so concurrent reads
// share nothing but the directory's descriptor.
func (l *Local) ReadAt(ctx context.Context, key string, p []byte, off int64) (n int, err error) {
	defer func() {
		l.metrics.request(KindRead, err)
		l.metrics.read(n)
	}()
	if err := checkLocalKey(key); err != nil {
		return 0, objectError(l, "read", key, err)
	}
	if off < 0 {
		return 0, objectError(l, "read", key, errNegativeOffset)
	}
	if err := ctx.Err(); err != nil {
		return 0, objectError(l, "read", key, err)
	}
	r, err := l.openRoot(false)
	if err != nil {
		return 0, objectError(l, "read", key, notExist(err))
	}
	// O_NONBLOCK: opening a FIFO someone left in the tree must not block;
	// it does nothing for the regular files we then insist on.
	f, err := r.OpenFile(filepath.FromSlash(key), os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return 0, objectError(l, "read", key, notExist(err))
	}
	defer func() { _ = f.Close() }() // read-only: nothing to lose
	fi, err := f.Stat()
	if err != nil {
		return 0, objectError(l, "read", key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, objectError(l, "read", key, fmt.Errorf("%w: a %s, not a file", ErrNotExist, fileKind(fi.Mode())))
	}
	for n < len(p) {
		if err := ctx.Err(); err != nil {
			return n, objectError(l, "read", key, err)
		}
		end := min(len(p), n+localReadChunk)
		m, err := f.ReadAt(p[n:end], off+int64(n))
		n += m
		if err == io.EOF {
			return n, io.EOF // bare, as io.ReaderAt callers compare it with ==
		}
		if err != nil {
			return n, objectError(l, "read", key, fmt.Errorf("%s: %w", rangeString(off, len(p)), err))
		}
	}
	return n, nil
}

// List implements Store. It walks only the directories that can hold keys
// with the prefix, and sorts the result, since a directory walk's order is
// not key order ("a-b" sorts before "a/b").
func (l *Local) List(ctx context.Context, prefix string) (infos []ObjectInfo, err error) {
	defer func() { l.metrics.request(KindList, err) }()
	if err := ctx.Err(); err != nil {
		return nil, objectError(l, "list", prefix, err)
	}
	if err := validPrefix(prefix); err != nil {
		return nil, objectError(l, "list", prefix, err)
	}
	r, err := l.openRoot(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, objectError(l, "list", prefix, err)
	}
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	fsys := r.FS()
	seen := 0
	err = fs.WalkDir(fsys, start, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			if name == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll // nothing under the prefix
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		if seen++; seen%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if d.IsDir() {
			if name == start {
				return nil
			}
			if name == stagingDir || !couldHold(name+"/", prefix) {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(name, prefix) || ValidKey(name) != nil {
			return nil
		}
		var fi fs.FileInfo
		if d.Type()&fs.ModeSymlink != 0 {
			// Follow a link only inside the root (os.Root refuses the rest)
			// and only to a file.
			if fi, err = fs.Stat(fsys, name); err != nil {
				return nil
			}
		} else if fi, err = d.Info(); err != nil {
			return nil
		}
		if fi.Mode().IsRegular() {
			infos = append(infos, localInfo(name, fi))
		}
		return nil
	})
	if err != nil {
		return nil, objectError(l, "list", prefix, err)
	}
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return infos, nil
}

// couldHold reports whether a directory (given with a trailing slash) can
// contain keys that start with prefix.
func couldHold(dir, prefix string) bool {
	return strings.HasPrefix(dir, prefix) || strings.HasPrefix(prefix, dir)
}

// Create implements Store.
func (l *Local) Create(ctx context.Context, key string, opts CreateOptions) (w Writer, err error) {
	defer func() { l.metrics.request(KindCreate, err) }()
	if err := ctx.Err(); err != nil {
		return nil, objectError(l, "create", key, err)
	}
	if err := checkLocalKey(key); err != nil {
		return nil, objectError(l, "create", key, err)
	}
	r, err := l.openRoot(true)
	if err != nil {
		return nil, objectError(l, "create", key, err)
	}
	if err := r.MkdirAll(stagingDir, 0o755); err != nil {
		return nil, objectError(l, "create", key, err)
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:]) // never fails (crypto/rand)
	tmp := stagingDir + "/" + hex.EncodeToString(rnd[:]) + ".tmp"
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, objectError(l, "create", key, err)
	}
	return &localWriter{l: l, r: r, ctx: ctx, key: key, opts: opts, tmp: tmp, f: f, bw: bufio.NewWriterSize(f, 256<<10)}, nil
}

type localWriter struct {
	l    *Local
	r    *os.Root
	ctx  context.Context
	key  string
	opts CreateOptions
	tmp  string
	f    *os.File
	bw   *bufio.Writer
	// done is set by Commit or Abort; committed only by a Commit that
	// succeeded.
	done, committed bool
	err             error // the first write error, returned by every later call
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, objectError(w.l, "write", w.key, errClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		return 0, objectError(w.l, "write", w.key, err)
	}
	n, err := w.bw.Write(p)
	w.l.metrics.written(n)
	if err != nil {
		w.err = objectError(w.l, "write", w.key, err)
		return n, w.err
	}
	return n, nil
}

func (w *localWriter) Commit(ctx context.Context) (err error) {
	defer func() { w.l.metrics.request(KindCommit, err) }()
	if w.done {
		return objectError(w.l, "commit", w.key, errClosed)
	}
	w.done = true
	if err := w.commit(ctx); err != nil {
		_ = w.f.Close()
		_ = w.r.Remove(w.tmp)
		return objectError(w.l, "commit", w.key, err)
	}
	w.committed = true
	return nil
}

func (w *localWriter) commit(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if err := errors.Join(w.ctx.Err(), ctx.Err()); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	name := filepath.FromSlash(w.key)
	dir := path.Dir(w.key)
	// A concurrent Delete may prune a parent directory while MkdirAll
	// creates the next one down (ENOENT), or after another writer made it
	// and before MkdirAll saw it (EEXIST), or between MkdirAll and the
	// rename; then the step finds no directory and we try again.
	var err, mkErr error
	for range 10 {
		if dir != "." {
			mkErr = w.r.MkdirAll(filepath.FromSlash(dir), 0o755)
			if errors.Is(mkErr, fs.ErrNotExist) || errors.Is(mkErr, fs.ErrExist) {
				continue // a directory on the way was pruned, or made by another writer and pruned
			} else if mkErr != nil {
				return mkErr
			}
		}
		if w.opts.IfAbsent {
			err = w.r.Link(w.tmp, name)
		} else {
			err = w.r.Rename(w.tmp, name)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if mkErr != nil {
		return mkErr // the directory kept vanishing
	}
	if w.opts.IfAbsent {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		if err == nil {
			_ = w.r.Remove(w.tmp)
		}
	}
	if err != nil {
		return err
	}
	// Make the new directory entry durable.
	d, err := w.r.Open(filepath.FromSlash(dir))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

func (w *localWriter) Abort(context.Context) (err error) {
	if w.committed {
		return nil
	}
	defer func() { w.l.metrics.request(KindAbort, err) }()
	if w.done {
		return nil // aborted already, or a failed Commit cleaned up
	}
	w.done = true
	_ = w.f.Close()
	if err := w.r.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return objectError(w.l, "abort", w.key, err)
	}
	return nil
}

// Delete implements Store. It also removes the key's parent directories
// that the deletion left empty, up to the root, so that a store whose
// objects come and go (checkpoints) does not accumulate empty directories.
func (l *Local) Delete(ctx context.Context, key string) (err error) {
	defer func() { l.metrics.request(KindDelete, err) }()
	if err := ctx.Err(); err != nil {
		return objectError(l, "delete", key, err)
	}
	if err := checkLocalKey(key); err != nil {
		return objectError(l, "delete", key, err)
	}
	r, err := l.openRoot(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return objectError(l, "delete", key, err)
	}
	name := filepath.FromSlash(key)
	fi, err := r.Lstat(name)
	if err != nil {
		if errors.Is(notExist(err), ErrNotExist) {
			return nil
		}
		return objectError(l, "delete", key, err)
	}
	if fi.IsDir() {
		return nil // a directory is not an object
	}
	if err := r.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return objectError(l, "delete", key, err)
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if r.Remove(filepath.FromSlash(dir)) != nil {
			break // not empty (or gone): stop
		}
	}
	return nil
}
