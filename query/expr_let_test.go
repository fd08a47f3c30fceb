package query

import (
	"fmt"
	"testing"
)

// TestSharedOperandsLinear: constructs that use an operand more than once
// evaluate it once, so nesting them stays linear (it was exponential when
// the operand was copied), and they render as written.
func TestSharedOperandsLinear(t *testing.T) {
	rec := fuzzBatch(3)
	for _, tmpl := range []string{
		"(%s) BETWEEN SYMMETRIC false AND true",
		"(%s) NOT BETWEEN p AND true",
		"CASE %s WHEN true THEN p WHEN false THEN NOT p END",
		"NULLIF(%s, p)",
		"(%s) IN (p, NOT p, true)",
		"(%s) NOT IN (p, NULL)",
	} {
		sql := "p"
		for range 40 {
			sql = fmt.Sprintf(tmpl, sql)
		}
		e, _, err := bindSQL(sql, fuzzSchema)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		if s := e.String(); len(s) > 2*len(sql) {
			t.Errorf("%s: renders as %d bytes for %d of SQL", tmpl, len(s), len(sql))
		}
		back, _, err := bindSQL(e.String(), fuzzSchema)
		if err != nil || !Equal(back, e) {
			t.Errorf("%s: the rendering binds to something else (%v)", tmpl, err)
		}
		f, err := Fold(e)
		if err != nil {
			t.Fatal(err)
		}
		want, err1 := e.Eval(rec)
		got, err2 := f.Eval(rec)
		if err1 != nil || err2 != nil || render(got) != render(want) {
			t.Errorf("%s: %s (%v), folded %s (%v)", tmpl, render(want), err1, render(got), err2)
		}
	}
}

// TestLetFold: a constant shared operand is substituted and folded.
func TestLetFold(t *testing.T) {
	for sql, want := range map[string]string{
		"CASE 2 * 3 WHEN 6 THEN 'six' END":     "'six'",
		"NULLIF(1 + 1, 2)":                     "CAST(NULL AS bigint)",
		"(1 + 1) BETWEEN 1 AND 3":              "true",
		"(1 + 1) IN (a, 2)":                    "true",
		"CASE a + 1 WHEN 1 + 1 THEN 'two' END": "CASE a + 1 WHEN 1 + 1 THEN 'two' END",
	} {
		e := mustBind(t, sql, fuzzSchema)
		f, err := Fold(e)
		if err != nil || f.String() != want {
			t.Errorf("Fold(%s) = %s (%v), want %s", sql, f, err, want)
		}
	}
}
