package query

import (
	"errors"
	"testing"
)

func TestUnsupportedErrorIsPositioned(t *testing.T) {
	err := unsupportedAt("SELECT a\nFROM t, u", 15, "a comma-separated FROM list")
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("%v does not match ErrUnsupported", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 2 || e.Column != 7 {
		t.Fatalf("errors.As = %+v, want line 2, column 7", e)
	}
	if want := "a comma-separated FROM list is not supported at line 2, column 7\n  FROM t, u\n        ^"; err.Error() != want {
		t.Fatalf("message\n%s\nwant\n%s", err.Error(), want)
	}
}

func TestQuoteIdent(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "a1": "a1", "1a": `"1a"`, "Abc": `"Abc"`, `a"b`: `"a""b"`, "": `""`} {
		if got := quoteIdent(in); got != want {
			t.Errorf("quoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
}
