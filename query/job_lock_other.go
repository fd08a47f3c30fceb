//go:build !unix

package query

import (
	"os"
	"sync"
)

// Without flock(2), FileLocker keeps the runs of one process apart only:
// its lock files are locked by path within the process.
var fileLocks sync.Map // path → struct{}

func tryFlock(f *os.File) (bool, error) {
	_, held := fileLocks.LoadOrStore(f.Name(), struct{}{})
	return !held, nil
}

func funlock(f *os.File) error {
	fileLocks.Delete(f.Name())
	return nil
}
