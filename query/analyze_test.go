package query

import (
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// analyzeSchema has a column of every type.
var analyzeSchema = arrow.NewSchema([]arrow.Field{
	{Name: "a", Type: typInt64}, {Name: "b", Type: typInt64}, {Name: "x", Type: typFloat64},
	{Name: "s", Type: typText}, {Name: "ts", Type: typTimestamp}, {Name: "p", Type: typBool},
	{Name: "i", Type: typInt32}, {Name: "d", Type: typDate}, {Name: "v", Type: typInterval},
	{Name: "h", Type: typInt16},
}, nil)

func TestConjunctsAndAnd(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{"a > 1", []string{"a > 1"}},
		{"a > 1 AND b < 2", []string{"a > 1", "b < 2"}},
		{"a > 1 AND (b < 2 AND p)", []string{"a > 1", "b < 2", "p"}},
		{"(a > 1 AND b < 2) AND (p AND s = 'x')", []string{"a > 1", "b < 2", "p", "s = 'x'"}},
		{"a > 1 OR b < 2", []string{"(a > 1) OR (b < 2)"}},
		{"a BETWEEN 1 AND 5", []string{"a >= 1", "a <= 5"}},
		{"NOT (a > 1 AND b < 2)", []string{"NOT ((a > 1) AND (b < 2))"}},
	}
	for _, c := range cases {
		e := mustBind(t, c.expr, analyzeSchema)
		var got []string
		for _, cj := range Conjuncts(e) {
			got = append(got, cj.String())
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Conjuncts(%s) = %q, want %q", c.expr, got, c.want)
		}
		// And puts them back together, equal to the original up to nesting.
		back := And(Conjuncts(e)...)
		if !slices.Equal(stringsOfExprs(Conjuncts(back)), got) {
			t.Errorf("And(Conjuncts(%s)) = %s", c.expr, back)
		}
	}
	if s := And().String(); s != "true" {
		t.Errorf("And() = %s", s)
	}
	one := mustBind(t, "p", analyzeSchema)
	if And(one) != one {
		t.Error("And of one expression must be that expression")
	}
	if Conjuncts(nil) != nil {
		t.Error("Conjuncts(nil) must be nil")
	}
	rec := parseTable(t, "p boolean, q boolean\ntrue, true\ntrue, NULL\nfalse, NULL")
	e := And(mustBind(t, "p", rec.Schema()), mustBind(t, "q", rec.Schema()))
	out, err := e.Eval(rec)
	if err != nil || render(out) != "true, NULL, false" {
		t.Errorf("And(p, q) = %s, %v", render(out), err)
	}
}

func stringsOfExprs(es []Expr) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.String()
	}
	return out
}

func TestColumns(t *testing.T) {
	cases := []struct {
		expr string
		want []int
	}{
		{"1 + 2", nil},
		{"a", []int{0}},
		{"b + a * a", []int{0, 1}},
		{"CASE WHEN p THEN s ELSE 'x' END", []int{3, 5}},
		{"COALESCE(x, a, 0)", []int{0, 2}},
		{"s LIKE s || '%'", []int{3}},
		{"a IN (1, 2, 3)", []int{0}},
		{"a IN (b, 2)", []int{0, 1}},
		{"date_trunc('hour', ts) + v", []int{4, 8}},
		{"h + i", []int{6, 9}},
		{"d IS NULL", []int{7}},
	}
	for _, c := range cases {
		if got := Columns(mustBind(t, c.expr, analyzeSchema)); !slices.Equal(got, c.want) {
			t.Errorf("Columns(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestRemap(t *testing.T) {
	e := mustBind(t, "a + b * 2 > x AND s LIKE 'a%' AND a IN (1, 2)", analyzeSchema)
	// Below a projection that produces (x, a, s, b) as columns 0..3.
	mapping := []int{1, 3, 0, 2, -1, -1, -1, -1, -1, -1}
	r, err := Remap(e, mapping)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Columns(r), []int{0, 1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("remapped columns %v, want %v", got, want)
	}
	if r.String() != e.String() {
		t.Errorf("remapping changed the SQL: %s vs %s", r, e)
	}
	if got := Columns(e); !slices.Equal(got, []int{0, 1, 2, 3}) || e.(*logic).args[0] == r.(*logic).args[0] {
		t.Error("Remap must not modify its input")
	}
	// Evaluate the remapped expression on the projected batch: same result.
	full := parseTable(t, "a bigint, b bigint, x double precision, s text\n1, 2, 3, 'ab'\n5, 0, 9, 'ba'\n2, 1, 3.5, 'a'")
	proj := parseTable(t, "x double precision, a bigint, s text, b bigint\n3, 1, 'ab', 2\n9, 5, 'ba', 0\n3.5, 2, 'a', 1")
	e2 := mustBind(t, "a + b * 2 > x AND s LIKE 'a%' AND a IN (1, 2)", full.Schema())
	r2, err := Remap(e2, []int{1, 3, 0, 2})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e2.Eval(full)
	got, err := r2.Eval(proj)
	if err != nil || render(got) != render(want) {
		t.Errorf("remapped result %s (%v), want %s", render(got), err, render(want))
	}
	// A dropped column is an error.
	if _, err := Remap(e, []int{0, 1, 2, -1}); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("Remap with a dropped column: %v", err)
	}
	if _, err := Remap(e, []int{0}); err == nil {
		t.Error("Remap with a short mapping must fail")
	}
}

func TestEqual(t *testing.T) {
	same := [][2]string{
		{"a + 1", "a + 1"},
		{"a+1", "(a + 1)"},
		{"t.a * 2", "a * 2"},
		{"CASE WHEN a > 0 THEN 'x' END", "CASE WHEN a > 0 THEN 'x' END"},
		{"a IN (1, 2)", "a IN (1, 2)"},
		{"CAST(a AS text)", "a::text"},
		{"lower(s)", "lower(s)"},
		{"x = 'NaN'", "x = 'NaN'::float8"},
		{"extract(year from ts)", "date_part('year', ts)"},
		{"a + 1", "a + CAST(1 AS bigint)"},
	}
	for _, c := range same {
		a, b := mustBind(t, c[0], analyzeSchema), mustBind(t, c[1], analyzeSchema)
		if !Equal(a, b) || !Equal(b, a) {
			t.Errorf("Equal(%s, %s) = false", c[0], c[1])
		}
	}
	different := [][2]string{
		{"a + 1", "a + 2"},
		{"a + 1", "1 + a"},
		{"a + 1", "a - 1"},
		{"a + 1", "b + 1"},
		{"a", "b"},
		{"date_trunc('hour', ts)", "date_trunc('day', ts)"},
		{"a IN (1, 2)", "a IN (1, 3)"},
		{"a IN (1, 2)", "a NOT IN (1, 2)"},
		{"CAST(s AS varchar(2))", "CAST(s AS varchar(3))"},
		{"s LIKE 'a'", "s ILIKE 'a'"},
		{"p AND a > 1", "p OR a > 1"},
		{"a IS NULL", "a IS NOT NULL"},
		{"1", "1.0"},
		{"'1'", "1"},
		{"CASE WHEN p THEN 1 END", "CASE WHEN p THEN 1 ELSE NULL END"},
		{"COALESCE(a, 1)", "COALESCE(a, 2)"},
	}
	for _, c := range different {
		a, b := mustBind(t, c[0], analyzeSchema), mustBind(t, c[1], analyzeSchema)
		if Equal(a, b) {
			t.Errorf("Equal(%s, %s) = true", c[0], c[1])
		}
	}
}

func TestIsConstant(t *testing.T) {
	for expr, want := range map[string]bool{
		"1":                                    true,
		"1 + 2 * 3":                            true,
		"upper('a') || 'b'":                    true,
		"TIMESTAMP '2026-01-01' + v":           false,
		"a":                                    false,
		"a + 1":                                false,
		"CASE WHEN true THEN 1 END":            true,
		"COALESCE(NULL, 1)":                    true,
		"date_trunc('day', DATE '2026-01-05')": true,
		"s IS NULL":                            false,
	} {
		if got := IsConstant(mustBind(t, expr, analyzeSchema)); got != want {
			t.Errorf("IsConstant(%s) = %v", expr, got)
		}
	}
}

func TestComparison(t *testing.T) {
	e := mustBind(t, "ts >= '2026-01-01' AND a < 5 AND s = 'x' AND p", analyzeSchema)
	var got []string
	for _, c := range Conjuncts(e) {
		if op, l, r, ok := Comparison(c); ok {
			got = append(got, l.String()+" "+op+" "+r.String())
		}
	}
	want := []string{"ts >= TIMESTAMP '2026-01-01 00:00:00'", "a < 5", "s = 'x'"}
	if !slices.Equal(got, want) {
		t.Errorf("comparisons %q, want %q", got, want)
	}
}

// opaque is an Expr of another package: analysis must treat it as a leaf
// that is not constant and equals only itself.
type opaque struct{ ColumnRef }

func TestOpaqueExpr(t *testing.T) {
	o := &opaque{ColumnRef{Index: 0, Name: "o", Typ: typInt64}}
	if IsConstant(o) {
		t.Error("an opaque expression is not constant")
	}
	if !Equal(o, o) || Equal(o, &opaque{ColumnRef{Index: 0, Name: "o", Typ: typInt64}}) {
		t.Error("an opaque expression equals only itself")
	}
	if !mayFail(o) || !hasOpaque(o) {
		t.Error("an opaque expression may fail and hides its columns")
	}
	f, err := Fold(o)
	if err != nil || f != o {
		t.Errorf("Fold(opaque) = %v, %v", f, err)
	}
}
