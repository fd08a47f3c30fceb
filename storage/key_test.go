package storage_test

import (
	"errors"
	"testing"

	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/storage/storagetest"
)

func TestValidKey(t *testing.T) {
	for _, key := range []string{
		"a", "a/b", "bids/date=2026-01-01/part-0.parquet", "..a", "a..", "a/.b", ".hidden",
		"a b", "ü/ß", "a:b", "a=1/b=2",
	} {
		if err := storage.ValidKey(key); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", key, err)
		}
	}
	for _, key := range storagetest.InvalidKeys {
		if err := storage.ValidKey(key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func FuzzValidKey(f *testing.F) {
	for _, k := range append([]string{"a/b", "x=1/p.parquet"}, storagetest.InvalidKeys...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if storage.ValidKey(key) != nil {
			return
		}
		// A valid key stays inside any root: it is relative and cleaning
		// it changes nothing.
		if key[0] == '/' || key != cleanSlash(key) {
			t.Errorf("ValidKey accepted %q", key)
		}
	})
}

// cleanSlash is path.Clean without importing path into the assertion's
// logic twice: it resolves ".", ".." and doubled slashes.
func cleanSlash(p string) string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[start:i]
			start = i + 1
			switch seg {
			case "", ".":
			case "..":
				if len(out) > 0 {
					out = out[:len(out)-1]
				}
			default:
				out = append(out, seg)
			}
		}
	}
	s := ""
	for i, seg := range out {
		if i > 0 {
			s += "/"
		}
		s += seg
	}
	return s
}
