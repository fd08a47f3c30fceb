package storage_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirdata/weir/storage"
)

// TestLocalConfinement plants symbolic links that lead out of the store's
// directory: no operation may follow them.
func TestLocalConfinement(t *testing.T) {
	ctx := t.Context()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("do not read"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for link, target := range map[string]string{
		"abs-file": secret,                                                // absolute link to a file outside
		"rel-file": filepath.Join("..", filepath.Base(outside), "secret"), // relative link out
		"abs-dir":  outside,                                               // a directory outside
		"in-file":  "inside",                                              // a link that stays inside
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "inside"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()

	for _, key := range []string{"abs-file", "rel-file", "abs-dir/secret"} {
		p := make([]byte, 64)
		if n, err := l.ReadAt(ctx, key, p, 0); err == nil || n > 0 || strings.Contains(string(p), "do not") {
			t.Errorf("ReadAt(%q) = %d, %v: followed a link out of the root", key, n, err)
		} else if !strings.Contains(err.Error(), key) {
			t.Errorf("ReadAt(%q): error %q does not name the key", key, err)
		}
		if _, err := l.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) succeeded through a link out of the root", key)
		}
	}
	// Writing through a link to a directory outside must fail too.
	if err := storage.Put(ctx, l, "abs-dir/planted", []byte("x"), storage.CreateOptions{}); err == nil {
		t.Error("Put through a link out of the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was written outside the root: %v", err)
	}
	// A link inside the root is followed, and List shows only what it can read.
	if b, err := storage.ReadAll(ctx, l, "in-file"); err != nil || string(b) != "fine" {
		t.Errorf("ReadAll(in-file) = %q, %v", b, err)
	}
	infos, err := l.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(infos); !slices.Equal(got, []string{"in-file", "inside"}) {
		t.Errorf("List = %q, want the in-root link and file only", got)
	}
}

func TestLocalStaging(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	l, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	w, err := l.Create(ctx, "a/b", storage.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("pending")); err != nil {
		t.Fatal(err)
	}
	staged, _ := filepath.Glob(filepath.Join(dir, ".weir-staging", "*"))
	if len(staged) != 1 {
		t.Errorf("staging holds %q, want one temporary file", staged)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if staged, _ := filepath.Glob(filepath.Join(dir, ".weir-staging", "*")); len(staged) != 0 {
		t.Errorf("after Commit staging holds %q", staged)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a", "b")); err != nil || string(b) != "pending" {
		t.Errorf("the committed file holds %q, %v", b, err)
	}
	for _, key := range []string{".weir-staging", ".weir-staging/x"} {
		if _, err := l.Stat(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v, want ErrInvalidKey (staging is not addressable)", key, err)
		}
	}
	// Delete prunes the directories it empties, not the root or staging.
	if err := l.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete left the empty directory a/: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Delete removed the root: %v", err)
	}
}

// TestLocalCommitWhilePruning: a Delete prunes the directories it empties
// while another writer commits into them. The writer's MkdirAll or rename
// may find a directory gone that it had just made; it must try again, not
// fail (a durable INSERT's subtasks stage and delete files in one
// directory at once).
func TestLocalCommitWhilePruning(t *testing.T) {
	ctx := t.Context()
	l, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	put := func(key string) error {
		w, err := l.Create(ctx, key, storage.CreateOptions{})
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(key)); err != nil {
			return err
		}
		return w.Commit(ctx)
	}
	const n = 400
	errc := make(chan error, 2)
	go func() { // makes a/b/c/ and prunes it away again, n times
		for i := range n {
			key := fmt.Sprintf("a/b/c/p%d", i)
			if err := put(key); err != nil {
				errc <- err
				return
			}
			if err := l.Delete(ctx, key); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	go func() { // commits into a/b/c/ and deletes, n times
		for i := range n {
			key := fmt.Sprintf("a/b/c/w%d", i)
			if err := put(key); err != nil {
				errc <- fmt.Errorf("commit %s while another writer prunes: %w", key, err)
				return
			}
			if err := l.Delete(ctx, key); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestLocalMissingRoot: a store on a directory that does not exist reads
// as empty and makes the directory on the first write.
func TestLocalMissingRoot(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "not", "yet")
	l, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	if infos, err := l.List(ctx, ""); err != nil || len(infos) != 0 {
		t.Errorf("List = %v, %v", infos, err)
	}
	if _, err := l.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat: %v, want ErrNotExist", err)
	}
	if err := l.Delete(ctx, "k"); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reads created the directory: %v", err)
	}
	if err := storage.Put(ctx, l, "k", []byte("v"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "k")); err != nil || string(b) != "v" {
		t.Errorf("file = %q, %v", b, err)
	}
	// A root that is a file is refused up front.
	if _, err := storage.NewLocal(filepath.Join(dir, "k")); err == nil {
		t.Error("NewLocal on a file succeeded")
	}
}

func TestLocalETag(t *testing.T) {
	ctx := t.Context()
	l, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// Same size, same bytes, written twice: a new inode each time, so a
	// new ETag even if the clock did not move.
	if err := storage.Put(ctx, l, "k", []byte("same"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a, _ := l.Stat(ctx, "k")
	if err := storage.Put(ctx, l, "k", []byte("same"), storage.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := l.Stat(ctx, "k")
	if a.ETag == "" || a.ETag == b.ETag {
		t.Errorf("ETags %q and %q: want distinct", a.ETag, b.ETag)
	}
}
