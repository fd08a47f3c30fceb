package query

import (
	"errors"
	"testing"
)

func TestParseSplitsAndPositions(t *testing.T) {
	stmts, err := Parse("SELECT 'a;b' FROM t; DESCRIBE bids ;\n-- only a comment;\nSHOW TABLES;")
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 3 {
		t.Fatalf("%d statements, want 3", len(stmts))
	}
	if stmts[1].Describe != "bids" || stmts[1].Node != nil {
		t.Errorf("statement 2 = %+v, want DESCRIBE bids", stmts[1])
	}
	if got := stmts[0].SQL(); got != "SELECT 'a;b' FROM t" {
		t.Errorf("statement 1 text = %q", got)
	}

	_, err = Parse("SELECT 1;\nSELECT a\n  FROM t WHERE")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse = %v, want *Error", err)
	}
	if e.Line != 3 || e.Column != 15 {
		t.Errorf("syntax error at %d:%d, want 3:15\n%v", e.Line, e.Column, e)
	}
}

func TestErrorExcerpt(t *testing.T) {
	e := errorAt("SELECT\n  nope FROM t", 9, "column %q does not exist", "nope")
	want := "column \"nope\" does not exist at line 2, column 3\n    nope FROM t\n    ^"
	if e.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", e.Error(), want)
	}
}
