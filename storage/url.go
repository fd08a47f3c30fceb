package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Open returns the store a URL points into and the key prefix the URL
// names within it. It understands:
//
//	file:///abs/dir/           a Local store rooted at /abs/dir, prefix ""
//	file:///abs/dir/part-      a Local store rooted at /abs/dir, prefix "part-"
//	data/dir/, /abs/dir/       plain paths, relative ones against the working directory
//	s3://bucket/prefix/        an S3 store for the whole bucket, prefix "prefix/"
//	mem://name/prefix/         the named in-process Memory store, prefix "prefix/"
//
// A file URL roots its store at the directory it names (the URL itself if
// it ends in "/" or is an existing directory, else its parent), so nothing
// read through it can reach outside that directory. An S3 or memory store
// spans the bucket or name, the unit of configuration there. The path is
// taken verbatim: no percent-decoding, and "?" is a glob character, not a
// query. S3 settings come from the AWS environment (see NewS3); callers
// that open many URLs should keep the store rather than open it again.
func Open(ctx context.Context, rawURL string) (Store, string, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || strings.ContainsAny(scheme, "/\\.") {
		if p, ok := strings.CutPrefix(rawURL, "file:"); ok {
			return openLocal(p)
		}
		return openLocal(rawURL)
	}
	host, p, _ := strings.Cut(rest, "/")
	switch strings.ToLower(scheme) {
	case "file":
		if host != "" && host != "localhost" {
			return nil, "", fmt.Errorf("storage: %q: a file URL names a local path (file:///abs/path), not host %q", rawURL, host)
		}
		return openLocal("/" + p)
	case "s3":
		if host == "" {
			return nil, "", fmt.Errorf("storage: %q: an S3 URL needs a bucket (s3://bucket/prefix/)", rawURL)
		}
		if err := validPrefix(p); err != nil {
			return nil, "", fmt.Errorf("storage: %q: %w", rawURL, err)
		}
		s, err := NewS3(ctx, host, "", S3Options{})
		if err != nil {
			return nil, "", err
		}
		return s, p, nil
	case "mem":
		if host == "" {
			return nil, "", fmt.Errorf("storage: %q: a memory URL needs a name (mem://name/)", rawURL)
		}
		if err := validPrefix(p); err != nil {
			return nil, "", fmt.Errorf("storage: %q: %w", rawURL, err)
		}
		return NamedMemory(host), p, nil
	}
	return nil, "", fmt.Errorf("storage: %q: unsupported scheme %q (want file://, s3:// or mem://, or a path)", rawURL, scheme)
}

func openLocal(p string) (Store, string, error) {
	if p == "" {
		p = "."
	}
	abs, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return nil, "", fmt.Errorf("storage: %q: %w", p, err)
	}
	dir, prefix := abs, ""
	if !strings.HasSuffix(p, "/") && !strings.HasSuffix(p, string(filepath.Separator)) {
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			dir, prefix = filepath.Split(abs)
		}
	}
	l, err := NewLocal(dir)
	if err != nil {
		return nil, "", err
	}
	return l, prefix, nil
}

// globMeta are the characters that make a path segment a pattern. A
// backslash (path.Match's escape) counts too: keys never contain one.
const globMeta = "*?[\\"

// SplitGlob splits a URL at the last slash before its first glob
// character into a base URL without glob characters and the pattern
// below it:
//
//	s3://b/t/*/x=*/*.parquet  →  s3://b/t/, */x=*/*.parquet
//	data/*.parquet            →  data/, *.parquet
//	*.parquet                 →  ./, *.parquet
//	s3://b/t/x.parquet        →  s3://b/t/x.parquet, ""
func SplitGlob(rawURL string) (base, pattern string) {
	start := 0 // where the path begins: globs are not looked for in a scheme or host
	if _, rest, ok := strings.Cut(rawURL, "://"); ok {
		start = len(rawURL) - len(rest)
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			start += i + 1
		} else {
			start = len(rawURL)
		}
	}
	i := strings.IndexAny(rawURL[start:], globMeta)
	if i < 0 {
		return rawURL, ""
	}
	i += start
	cut := strings.LastIndexByte(rawURL[:i], '/') + 1
	if cut <= 0 {
		return "./", rawURL
	}
	return rawURL[:cut], rawURL[cut:]
}

// OpenGlob opens the store of a URL that may hold glob characters and
// returns the pattern, relative to the store, that Glob takes:
//
//	s3://b/t/*/x=*/*.parquet  →  S3 store of b, prefix "t/", pattern "t/*/x=*/*.parquet"
//	file:///data/t/           →  Local store of /data/t, prefix "", pattern "**"
//
// A URL without glob characters matches itself; one ending in "/" (or a
// file URL naming a directory) matches everything below it.
func OpenGlob(ctx context.Context, rawURL string) (s Store, prefix, pattern string, err error) {
	base, rest := SplitGlob(rawURL)
	s, prefix, err = Open(ctx, base)
	if err != nil {
		return nil, "", "", err
	}
	switch {
	case rest != "":
		pattern = prefix + rest
	case prefix == "" || strings.HasSuffix(prefix, "/"):
		pattern = prefix + "**"
	default:
		pattern = prefix
	}
	return s, prefix, pattern, nil
}
