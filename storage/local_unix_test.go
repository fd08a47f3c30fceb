//go:build unix

package storage_test

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/weirdata/weir/storage"
)

// TestLocalFIFO: a named pipe in the tree is not an object, and reading it
// must not block.
func TestLocalFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	l, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	done := make(chan error, 1)
	go func() {
		_, err := l.ReadAt(t.Context(), "pipe", make([]byte, 10), 0)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("ReadAt(pipe): %v, want ErrNotExist", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadAt of a FIFO blocked")
	}
	if infos, err := l.List(t.Context(), ""); err != nil || len(infos) != 0 {
		t.Errorf("List = %q, %v; want no objects", keys(infos), err)
	}
}
