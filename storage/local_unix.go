//go:build unix

package storage

import (
	"io/fs"
	"syscall"
)

// oNonblock keeps ReadAt from blocking on a FIFO.
const oNonblock = syscall.O_NONBLOCK

// inode returns the file's inode number, part of a Local object's ETag.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) //nolint:unconvert // Ino is uint32 on some platforms
	}
	return 0
}
