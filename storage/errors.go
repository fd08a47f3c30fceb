package storage

import (
	"errors"
	"fmt"
)

// Error records a failed store operation and the object it was about, the
// way fs.PathError does for files. Every store returns its errors wrapped in
// one, so a message always names the object ("read s3://lake/bids/p0.parquet:
// ...") and errors.Is still finds ErrNotExist, ErrExists, ErrInvalidKey,
// fs.ErrPermission or a context's error underneath.
type Error struct {
	// Op is the operation: stat, read, list, create, write, commit, abort,
	// delete.
	Op string
	// URL names the object (or, for list, the prefix) as a URL of its store:
	// "file:///data/bids/p0.parquet", "s3://lake/bids/p0.parquet".
	URL string
	Err error
}

func (e *Error) Error() string { return "storage: " + e.Op + " " + e.URL + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// objectError wraps err, if not nil, in an *Error for key of s. An error
// that is already an *Error is returned as it is, so wrapping twice does not
// repeat the object's name.
func objectError(s Store, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*Error](err); ok {
		return err
	}
	return &Error{Op: op, URL: s.String() + key, Err: err}
}

// errClosed is returned by a Writer used after Commit or Abort.
var errClosed = errors.New("writer already committed or aborted")

// errNegativeOffset is returned by ReadAt for off < 0, as os.File does.
var errNegativeOffset = errors.New("negative offset")

// rangeString formats a read's byte range for messages: "bytes [10, 20)".
func rangeString(off int64, n int) string {
	return fmt.Sprintf("bytes [%d, %d)", off, off+int64(n))
}
