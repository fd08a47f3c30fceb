//go:build !unix

package storage

import "io/fs"

// oNonblock is 0 where FIFOs cannot be opened by name.
const oNonblock = 0

// inode is 0 where the file system has none to offer; ETags then rest on
// size and modification time.
func inode(fs.FileInfo) uint64 { return 0 }
