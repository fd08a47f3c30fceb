package storage_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/weirdata/weir/storage"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, key string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false},
		{"*.parquet", "x.parquet", true},
		{"*.parquet", "d/x.parquet", false}, // * stays within a segment
		{"t/*/x=*/*.parquet", "t/a/x=1/p.parquet", true},
		{"t/*/x=*/*.parquet", "t/a/y=1/p.parquet", false},
		{"t/*/x=*/*.parquet", "t/a/x=1/deeper/p.parquet", false},
		{"p?.csv", "p1.csv", true},
		{"p?.csv", "p10.csv", false},
		{"p[0-4].csv", "p3.csv", true},
		{"p[0-4].csv", "p7.csv", false},
		{"p[^0-4].csv", "p7.csv", true},
		{"t/**/*.parquet", "t/p.parquet", true}, // ** matches zero segments
		{"t/**/*.parquet", "t/a/p.parquet", true},
		{"t/**/*.parquet", "t/a/b/c/p.parquet", true},
		{"t/**/*.parquet", "u/a/p.parquet", false},
		{"t/**", "t/a/b", true},
		{"t/**", "t", false},
		{"**", "anything/at/all", true},
		{"**/x", "x", true},
		{"**/**/x", "a/x", true},
		{"a/**/b/**/c", "a/b/c", true},
		{"a/**/b/**/c", "a/1/b/2/3/c", true},
		{"a/**/b/**/c", "a/1/c", false},
	} {
		got, err := storage.Match(tc.pattern, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %v", tc.pattern, tc.key, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/abs/*", "a//b", "../*", "a/./*", "[", "a/[z-", "a/\\"} {
		if _, err := storage.Match(bad, "a"); !errors.Is(err, storage.ErrBadPattern) {
			t.Errorf("Match(%q): %v, want ErrBadPattern", bad, err)
		}
	}
}

// listCounter counts the prefixes a store is listed with.
type listCounter struct {
	storage.Store
	prefixes []string
}

func (l *listCounter) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	l.prefixes = append(l.prefixes, prefix)
	return l.Store.List(ctx, prefix)
}

func TestGlob(t *testing.T) {
	ctx := t.Context()
	m := storage.NewMemory()
	for _, k := range []string{
		"t/a/x=1/p0.parquet", "t/a/x=2/p1.parquet", "t/a/x=2/p1.crc", "t/b/x=1/p2.parquet",
		"t/b/y=1/p3.parquet", "t/top.parquet", "u/x=1/p4.parquet",
	} {
		if err := storage.Put(ctx, m, k, []byte(k), storage.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		pattern    string
		want       []string
		listPrefix string // "" for none expected: a literal pattern is a Stat
	}{
		{"t/*/x=*/*.parquet", []string{"t/a/x=1/p0.parquet", "t/a/x=2/p1.parquet", "t/b/x=1/p2.parquet"}, "t/"},
		{"t/a/x=2/*", []string{"t/a/x=2/p1.crc", "t/a/x=2/p1.parquet"}, "t/a/x=2/"},
		{"t/**/*.parquet", []string{"t/a/x=1/p0.parquet", "t/a/x=2/p1.parquet", "t/b/x=1/p2.parquet", "t/b/y=1/p3.parquet", "t/top.parquet"}, "t/"},
		{"t/top.parquet", []string{"t/top.parquet"}, ""},
		{"t/none.parquet", nil, ""},
		{"t/?/y=*/*", []string{"t/b/y=1/p3.parquet"}, "t/"},
		{"u/x=1/p[0-9].parquet", []string{"u/x=1/p4.parquet"}, "u/x=1/p"},
		{"**/p4.parquet", []string{"u/x=1/p4.parquet"}, ""},
	} {
		lc := &listCounter{Store: m}
		infos, err := storage.Glob(ctx, lc, tc.pattern)
		if err != nil {
			t.Errorf("Glob(%q): %v", tc.pattern, err)
			continue
		}
		if got := keys(infos); !slices.Equal(got, tc.want) {
			t.Errorf("Glob(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
		isLiteral := tc.pattern == "t/top.parquet" || tc.pattern == "t/none.parquet"
		if isLiteral && len(lc.prefixes) != 0 {
			t.Errorf("Glob(%q) listed %q; a literal pattern needs only a Stat", tc.pattern, lc.prefixes)
		}
		if !isLiteral && !slices.Equal(lc.prefixes, []string{tc.listPrefix}) {
			t.Errorf("Glob(%q) listed %q, want [%q]", tc.pattern, lc.prefixes, tc.listPrefix)
		}
	}
	if _, err := storage.Glob(ctx, m, "t/[/x"); !errors.Is(err, storage.ErrBadPattern) {
		t.Errorf("Glob of a bad pattern: %v", err)
	}
}

func keys(infos []storage.ObjectInfo) []string {
	var out []string
	for _, info := range infos {
		out = append(out, info.Key)
	}
	return out
}
