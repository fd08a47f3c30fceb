package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrBadPattern: a Glob pattern is malformed.
var ErrBadPattern = errors.New("bad glob pattern")

// Glob returns the objects of s whose keys match pattern, in key order.
//
// A pattern is a key whose segments may be path.Match patterns: "*" (any
// run of characters within a segment), "?" (one character) and "[...]"
// (a class), matched segment by segment, so "*" never crosses a "/". A
// segment that is exactly "**" matches any number of segments, zero
// included: "t/**/*.parquet" matches "t/a.parquet" and "t/x=1/y=2/b.parquet".
// A trailing "**" matches one or more: "t/**" is everything below t/, not
// an object named "t" (as in .gitignore).
//
// Glob lists only under the pattern's literal prefix (up to its first glob
// character), so "t/date=2026-*/*.parquet" lists "t/date=2026-", not the
// store. A pattern without glob characters matches the one object it names.
func Glob(ctx context.Context, s Store, pattern string) ([]ObjectInfo, error) {
	segs, err := parsePattern(pattern)
	if err != nil {
		return nil, err
	}
	i := strings.IndexAny(pattern, globMeta)
	if i < 0 {
		info, err := s.Stat(ctx, pattern)
		if errors.Is(err, ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []ObjectInfo{info}, nil
	}
	infos, err := s.List(ctx, pattern[:i])
	if err != nil {
		return nil, err
	}
	out := infos[:0]
	for _, info := range infos {
		if matchSegments(segs, strings.Split(info.Key, "/")) {
			out = append(out, info)
		}
	}
	return out, nil
}

// Match reports whether key matches a Glob pattern.
func Match(pattern, key string) (bool, error) {
	segs, err := parsePattern(pattern)
	if err != nil {
		return false, err
	}
	return matchSegments(segs, strings.Split(key, "/")), nil
}

// parsePattern splits a pattern into segments and checks each: the key
// rules hold for its literal parts, and every segment is a valid
// path.Match pattern. Consecutive "**" segments collapse into one.
func parsePattern(pattern string) ([]string, error) {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrBadPattern, pattern, why) }
	if pattern == "" {
		return nil, bad("empty")
	}
	if pattern[0] == '/' {
		return nil, bad("absolute (patterns are relative to the store's root)")
	}
	if strings.IndexByte(pattern, 0) >= 0 {
		return nil, bad("has a NUL byte")
	}
	var segs []string
	for seg := range strings.SplitSeq(pattern, "/") {
		switch seg {
		case "":
			return nil, bad("empty path segment")
		case ".", "..":
			return nil, bad(fmt.Sprintf("%q segment", seg))
		case "**":
			if len(segs) > 0 && segs[len(segs)-1] == "**" {
				continue
			}
		default:
			// path.Match checks the whole pattern even when the name
			// does not match it.
			if _, err := path.Match(seg, ""); err != nil {
				return nil, bad(fmt.Sprintf("segment %q: %v", seg, err))
			}
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

// matchSegments matches key segments against pattern segments, "**"
// standing for any number of key segments.
func matchSegments(pat, key []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return len(key) > 0 // a trailing ** means below, not itself
			}
			for i := len(key); i >= 0; i-- {
				if matchSegments(pat[1:], key[i:]) {
					return true
				}
			}
			return false
		}
		if len(key) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], key[0]); !ok {
			return false
		}
		pat, key = pat[1:], key[1:]
	}
	return len(key) == 0
}
