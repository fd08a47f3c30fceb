package storage_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirdata/weir/storage"
)

func TestSplitGlob(t *testing.T) {
	for _, tc := range []struct{ in, base, pattern string }{
		{"s3://b/t/*/x=*/*.parquet", "s3://b/t/", "*/x=*/*.parquet"},
		{"s3://b/t/x.parquet", "s3://b/t/x.parquet", ""},
		{"s3://b/*.parquet", "s3://b/", "*.parquet"},
		{"s3://b/t/part-?.parquet", "s3://b/t/", "part-?.parquet"},
		{"file:///data/t/**/*.parquet", "file:///data/t/", "**/*.parquet"},
		{"file:///*.csv", "file:///", "*.csv"},
		{"data/[ab]/x", "data/", "[ab]/x"},
		{"*.parquet", "./", "*.parquet"},
		{"/abs/dir/", "/abs/dir/", ""},
		{"mem://m/a/b*", "mem://m/a/", "b*"},
	} {
		base, pattern := storage.SplitGlob(tc.in)
		if base != tc.base || pattern != tc.pattern {
			t.Errorf("SplitGlob(%q) = %q, %q; want %q, %q", tc.in, base, pattern, tc.base, tc.pattern)
		}
	}
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	slashDir := filepath.ToSlash(dir)
	for _, tc := range []struct {
		url, store, prefix string
	}{
		{"file://" + slashDir + "/", "file://" + slashDir + "/", ""},
		{"file://" + slashDir, "file://" + slashDir + "/", ""}, // an existing directory
		{"file://" + slashDir + "/sub", "file://" + slashDir + "/sub/", ""},
		{"file://" + slashDir + "/part-", "file://" + slashDir + "/", "part-"},
		{"file://localhost" + slashDir + "/sub/", "file://" + slashDir + "/sub/", ""},
		{"file:" + slashDir + "/sub/", "file://" + slashDir + "/sub/", ""},
		{"sub/", "file://" + slashDir + "/sub/", ""},
		{"sub/x.parquet", "file://" + slashDir + "/sub/", "x.parquet"},
		{"./", "file://" + slashDir + "/", ""},
		{slashDir + "/missing/", "file://" + slashDir + "/missing/", ""}, // need not exist
		{"mem://m1/", "mem://m1/", ""},
		{"mem://m1/a/b/", "mem://m1/", "a/b/"},
		{"s3://bucket/", "s3://bucket/", ""},
		{"s3://bucket/t/x=1/", "s3://bucket/", "t/x=1/"},
		{"S3://bucket/t", "s3://bucket/", "t"},
	} {
		s, prefix, err := storage.Open(ctx, tc.url)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		if s.String() != tc.store || prefix != tc.prefix {
			t.Errorf("Open(%q) = %s, %q; want %s, %q", tc.url, s, prefix, tc.store, tc.prefix)
		}
	}
	for _, bad := range []string{
		"ftp://host/x", "file://otherhost/x", "mem:///x", "s3:///x", "s3://b/../x", "s3://b/a//", "mem://m/../",
	} {
		if s, _, err := storage.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) = %s, want an error", bad, s)
		} else if !strings.Contains(err.Error(), bad) && !strings.Contains(err.Error(), "bucket") {
			t.Errorf("Open(%q): error %q does not name the URL", bad, err)
		}
	}

	// mem:// names one store per process.
	a, _, _ := storage.Open(ctx, "mem://shared/")
	b, _, _ := storage.Open(ctx, "mem://shared/x/")
	if a != b {
		t.Error("two mem://shared/ URLs opened different stores")
	}
	storage.DropMemory("shared")
	if c, _, _ := storage.Open(ctx, "mem://shared/"); c == a {
		t.Error("DropMemory did not forget the store")
	}
}

func TestOpenGlob(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	slashDir := filepath.ToSlash(dir)
	for _, tc := range []struct{ url, prefix, pattern string }{
		{"mem://g/t/*/x=*/*.parquet", "t/", "t/*/x=*/*.parquet"},
		{"mem://g/t/", "t/", "t/**"},
		{"mem://g/", "", "**"},
		{"mem://g/t/p.parquet", "t/p.parquet", "t/p.parquet"},
		{"file://" + slashDir + "/*.parquet", "", "*.parquet"},
		{"file://" + slashDir + "/", "", "**"},
		{"file://" + slashDir, "", "**"},
	} {
		_, prefix, pattern, err := storage.OpenGlob(ctx, tc.url)
		if err != nil || prefix != tc.prefix || pattern != tc.pattern {
			t.Errorf("OpenGlob(%q) = %q, %q, %v; want %q, %q", tc.url, prefix, pattern, err, tc.prefix, tc.pattern)
		}
	}
}
