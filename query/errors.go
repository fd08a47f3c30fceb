package query

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is a problem with a statement, at a position in its text. Every
// parse, name, type or planning error a user can cause is an *Error, so that
// clients can underline the spot (the websocket protocol's line/column).
type Error struct {
	Msg string
	// Line and Column are 1-based (columns count characters); 0 when the
	// error has no position.
	Line, Column int
	// Excerpt is the offending line with a caret under the column.
	Excerpt string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%s at line %d, column %d\n%s", e.Msg, e.Line, e.Column, e.Excerpt)
}

// ErrUnsupported marks SQL that is valid Postgres but that weir does not run
// (yet); errors.Is(err, ErrUnsupported) holds for them.
var ErrUnsupported = errors.New("not supported")

// errorAt builds an *Error for the byte offset off (0-based; -1 = unknown)
// of text.
func errorAt(text string, off int, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if off < 0 || off > len(text) {
		return e
	}
	line, col, start := 1, 1, 0
	for i, r := range text[:off] {
		if r == '\n' {
			line, col, start = line+1, 1, i+1
		} else {
			col++
		}
	}
	end := strings.IndexByte(text[start:], '\n')
	if end < 0 {
		end = len(text)
	} else {
		end += start
	}
	src := strings.TrimRight(text[start:end], "\r")
	caret := strings.Repeat(" ", utf8.RuneCountInString(text[start:off]))
	e.Line, e.Column = line, col
	e.Excerpt = "  " + src + "\n  " + caret + "^"
	return e
}

// unsupportedError is an *Error (for errors.As) that also matches
// ErrUnsupported (for errors.Is).
type unsupportedError struct{ e *Error }

func (u unsupportedError) Error() string   { return u.e.Error() }
func (u unsupportedError) Unwrap() []error { return []error{u.e, ErrUnsupported} }

func unsupportedAt(text string, off int, format string, args ...any) error {
	return unsupportedError{errorAt(text, off, format+" is not supported", args...)}
}
