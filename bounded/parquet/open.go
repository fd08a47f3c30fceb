package parquet

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/weirdata/weir/storage"
)

// Open returns a source over the files a URL names, for read_parquet and
// table histories: a file, a directory (every file below it), or a glob
// (file:///data/*.parquet, s3://bucket/t/**/*.parquet, mem://name/t/*/*;
// see storage.OpenGlob and storage.Glob). Files whose name starts with "_"
// or "." (_SUCCESS, .crc files: Hadoop's hidden files) are left out. With
// Hive partitioning, only the path segments after the URL's directory count
// as partitions, unless opts.Partitions.Prefix says otherwise.
func Open(ctx context.Context, rawURL string, opts Options) (*Source, error) {
	st, prefix, pattern, err := storage.OpenGlob(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	infos, err := storage.Glob(ctx, st, pattern)
	if err != nil {
		return nil, fmt.Errorf("parquet: listing %s: %w", rawURL, err)
	}
	files := infos[:0]
	for _, f := range infos {
		if !Hidden(f.Key) {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("parquet: no files match %s", rawURL)
	}
	if opts.Partitions.Hive && opts.Partitions.Prefix == "" {
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			opts.Partitions.Prefix = prefix[:i+1]
		}
	}
	return New(ctx, st, files, opts)
}

// Hidden reports whether Open leaves the object key out: its name starts
// with "_" or "." (Hadoop's _SUCCESS and .crc files, and the staged files
// and manifests of weir's own exactly-once writers).
func Hidden(key string) bool {
	base := path.Base(key)
	return strings.HasPrefix(base, "_") || strings.HasPrefix(base, ".")
}
