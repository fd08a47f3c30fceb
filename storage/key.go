package storage

import (
	"fmt"
	"strings"
)

// ValidKey reports whether key may name an object, and why not: the error
// wraps ErrInvalidKey. A key is relative and slash-separated; it is not
// empty, has no empty, "." or ".." segment (so no leading, trailing or
// doubled slash), and holds no backslash and no NUL byte.
//
// The rules are the intersection of what a POSIX file system and S3 can
// name, so that one key means the same object in every store and no key
// can climb out of a store's root: "../x", "/etc/passwd" and "a//b" are
// refused before any store looks at them. Backslashes are refused because
// Windows reads them as separators; rejecting them everywhere keeps a key
// that works on one machine working on all.
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if i := strings.IndexAny(key, "\\\x00"); i >= 0 {
		what := "a backslash"
		if key[i] == 0 {
			what = "a NUL byte"
		}
		return fmt.Errorf("%w %q: has %s", ErrInvalidKey, key, what)
	}
	if key[0] == '/' {
		return fmt.Errorf("%w %q: absolute (keys are relative to the store's root)", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w %q: %q segment", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// validPrefix checks a List prefix. A prefix is a key cut anywhere, so only
// its complete segments (those before the last slash) follow the key rules;
// the trailing partial segment may be anything a key segment could start
// with. The empty prefix lists the whole store.
func validPrefix(prefix string) error {
	if strings.ContainsAny(prefix, "\\\x00") {
		return fmt.Errorf("%w: prefix %q has a backslash or a NUL byte", ErrInvalidKey, prefix)
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		if err := ValidKey(prefix[:i]); err != nil {
			return fmt.Errorf("prefix %q: %w", prefix, err)
		}
	}
	return nil
}
