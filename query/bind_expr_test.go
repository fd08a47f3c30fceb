package query

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/internal/columnar"
)

// bindText binds the last select-list expression of a whole statement.
func bindText(text string, schema *arrow.Schema, scope Scope) (Expr, error) {
	stmts, err := Parse(text)
	if err != nil {
		return nil, err
	}
	targets := stmts[0].Node.GetSelectStmt().TargetList
	val := targets[len(targets)-1].GetResTarget().Val
	if scope == nil {
		scope = &testScope{text: text, table: "t", schema: schema}
	}
	return BindExpr(text, val, scope)
}

func TestErrorPositions(t *testing.T) {
	cases := []struct {
		text         string
		msg          string
		line, column int
		excerpt      string
	}{
		{"SELECT\n  a +\n    s\nFROM t", "operator does not exist: bigint + text", 2, 5, "    a +\n      ^"},
		{"SELECT a,\n\tlower(a) FROM t", "function lower(bigint) does not exist", 2, 2, "  \tlower(a) FROM t\n   ^"},
		{"SELECT 'é' || a + s FROM t", "operator does not exist: bigint + text", 1, 17, "  SELECT 'é' || a + s FROM t\n                  ^"},
		{"SELECT CAST(\n'x' AS int) FROM t", `invalid input syntax for type integer: "x"`, 2, 1, "  'x' AS int) FROM t\n  ^"},
		{"SELECT now()\nFROM t", "now() is not supported", 1, 8, "  SELECT now()\n         ^"},
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: typInt64}, {Name: "s", Type: typText}}, nil)
	for _, c := range cases {
		_, err := bindText(c.text, schema, nil)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v is not an *Error", c.text, err)
			continue
		}
		if !strings.HasPrefix(e.Msg, c.msg) || e.Line != c.line || e.Column != c.column || e.Excerpt != c.excerpt {
			t.Errorf("%q:\n got %q at %d:%d\n%s\nwant %q at %d:%d\n%s", c.text, e.Msg, e.Line, e.Column, e.Excerpt, c.msg, c.line, c.column, c.excerpt)
		}
	}
}

// TestErrorKinds: every error is an *Error; unsupported SQL (and only it)
// matches ErrUnsupported.
func TestErrorKinds(t *testing.T) {
	unsupported := []string{
		"(SELECT 1)", "now()", "random()", "current_timestamp", "a = ANY(ARRAY[1])", "sum(a) OVER ()",
		"stddev(a)", "s SIMILAR TO 'x'", "s ~ 'x'", "CAST(a AS json)", "INTERVAL '1 month'",
		"INTERVAL '2' YEAR", "ARRAY[1]", "$1", "make_interval(1)", "TIMESTAMP 'now'",
	}
	other := []string{
		"a + s", "nosuch(a)", "zz", "lower(a)", "CAST('x' AS int)", "1 / 0", "CAST(a AS nosuch)",
		"CASE WHEN a THEN 1 END", "abs(DISTINCT a)", "a LIKE 'x'",
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: typInt64}, {Name: "s", Type: typText}}, nil)
	check := func(expr string, wantUnsupported bool) {
		e, text, err := bindSQL(expr, schema)
		if err == nil {
			_, err = Fold(e)
		}
		if err == nil {
			t.Errorf("%s: no error", expr)
			return
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Line == 0 {
			t.Errorf("%s (%s): %v is not a positioned *Error", expr, text, err)
		}
		if errors.Is(err, ErrUnsupported) != wantUnsupported {
			t.Errorf("%s: errors.Is(%v, ErrUnsupported) = %v", expr, err, !wantUnsupported)
		}
	}
	for _, e := range unsupported {
		check(e, true)
	}
	for _, e := range other {
		check(e, false)
	}
}

// TestStringRoundTrip: an expression's SQL binds back to an equal
// expression that computes the same values.
func TestStringRoundTrip(t *testing.T) {
	rec := parseTable(t, `a bigint, b bigint, x double precision, s text, ts timestamp, p boolean, i integer, d date, v interval
1, 2, 1.5, 'it''s', '2026-01-01 10:00:00', true, 3, '2026-01-01', '1 day'
NULL, -2, NULL, NULL, NULL, NULL, NULL, NULL, NULL
-7, 0, 'NaN', '', '1969-07-20 20:17:40.5', false, -1, '1900-02-28', '-00:00:01'`)
	exprs := []string{
		"a + b * 2 - i", "-(a + 1)", "a / NULLIF(b, 0)", "x * 0.5 + a", "s || '!' || a",
		"ts + v > TIMESTAMP '2026-01-01'", "d + i", "ts - INTERVAL '90 minutes'", "d - DATE '2000-01-01'",
		"p AND a > 0 OR s LIKE 'i%'", "NOT p", "a IS NULL", "p IS NOT TRUE", "a IS DISTINCT FROM b",
		"CASE WHEN a > 0 THEN 'pos' WHEN a < 0 THEN 'neg' END", "CASE a WHEN 1 THEN x ELSE -x END",
		"COALESCE(a, b, 0)", "GREATEST(a, b, i)", "LEAST(x, 1)", "a IN (1, 2, NULL)", "s NOT IN ('a', 'b')",
		"a BETWEEN b AND 5", "a NOT BETWEEN SYMMETRIC 5 AND b", "s ILIKE 'IT%'", "s NOT LIKE '%!%%' ESCAPE '!'",
		"CAST(a AS text)", "CAST(x AS integer)", "CAST(s AS varchar(2))", "CAST(ts AS date)", "a::double precision",
		"date_trunc('hour', ts)", "extract(epoch FROM ts)", "substring(s FROM 2 FOR 1)", "position('t' IN s)",
		"trim(both 'i' from s)", "round(x, 1)", "abs(a)", "x = 'NaN'", "i::smallint + 1", "concat(a, s, p)",
		"make_interval(hours => i)", "to_timestamp(a)", "v * 2", "'1 hour'::interval + v", "split_part(s, 't', 1)",
	}
	for _, src := range exprs {
		e, _, err := bindSQL(src, rec.Schema())
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		back, _, err := bindSQL(e.String(), rec.Schema())
		if err != nil {
			t.Errorf("%s renders as %s, which does not bind: %v", src, e, err)
			continue
		}
		if !arrow.TypeEqual(back.Type(), e.Type()) {
			t.Errorf("%s renders as %s of type %s, not %s", src, e, back.Type(), e.Type())
		}
		want, err1 := e.Eval(rec)
		got, err2 := back.Eval(rec)
		if (err1 == nil) != (err2 == nil) || err1 == nil && render(got) != render(want) {
			t.Errorf("%s = %s (%v); rendered %s = %s (%v)", src, render(want), err1, e, render(got), err2)
		}
	}
}

// aggScope turns aggregates into references to columns after the input's.
type aggScope struct {
	testScope
	calls []string
}

func (s *aggScope) Aggregate(call *pg.FuncCall, pos int) (Expr, error) {
	name := funcName(call.Funcname)
	s.calls = append(s.calls, fmt.Sprintf("%s@%d", name, pos))
	return &ColumnRef{Index: 100 + len(s.calls), Name: name, Typ: typInt64}, nil
}

func TestAggregatesGoToScope(t *testing.T) {
	text := "SELECT sum(a) + count(*) * 2 - approx_percentile(a, 0.5) + percentile_approx(a, 0.9) FROM t"
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: typInt64}}, nil)
	s := &aggScope{testScope: testScope{text: text, table: "t", schema: schema}}
	e, err := bindText(text, schema, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.calls, " "); got != "sum@7 count@16 approx_percentile@31 percentile_approx@59" {
		t.Errorf("aggregate calls: %s", got)
	}
	if got := Columns(e); len(got) != 4 || got[0] != 101 {
		t.Errorf("columns %v", got)
	}
	for _, name := range []string{"count", "SUM", "avg", "approx_count_distinct"} {
		if !IsAggregate(name) {
			t.Errorf("IsAggregate(%s) = false", name)
		}
	}
	if IsAggregate("lower") || IsAggregate("stddev") {
		t.Error("IsAggregate is for the aggregates the planner implements")
	}
}

func TestUntypedResults(t *testing.T) {
	schema := arrow.NewSchema(nil, nil)
	for expr, want := range map[string]arrow.DataType{
		"'abc'":                        typText,
		"NULL":                         arrow.Null,
		"1":                            typInt32,
		"3000000000":                   typInt64,
		"1.5":                          typFloat64,
		"99999999999999999999":         typFloat64,
		"true":                         typBool,
		"NULL + 1":                     typInt64,
		"NULL || 'a'":                  typText,
		"COALESCE(NULL, NULL)":         typText,
		"CASE WHEN true THEN NULL END": typText,
	} {
		e, _, err := bindSQL(expr, schema)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if !arrow.TypeEqual(e.Type(), want) {
			t.Errorf("%s: type %s, want %s", expr, e.Type(), want)
		}
	}
	if _, err := BindExpr("", nil, &testScope{}); err == nil {
		t.Error("a nil node must be an error")
	}
}

// TestLazyLargeBatch runs guarded expressions over a batch large enough
// for the word-wise paths, sliced at an odd offset.
func TestLazyLargeBatch(t *testing.T) {
	const n = 1000
	vals := make([]int64, n+5)
	strs := make([]string, n+5)
	for i := range vals {
		vals[i] = int64(i%7) - 3 // includes zeros
		strs[i] = fmt.Sprint(i % 5)
		if i%11 == 0 {
			strs[i] = "x"
		}
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: typInt64}, {Name: "s", Type: typText}}, nil)
	cols := []arrow.Array{array.NewSlice(columnar.Int64s(vals), 5, n+5), array.NewSlice(columnar.StringsOf(strs), 5, n+5)}
	rec := array.NewRecordBatch(schema, cols, n)
	cases := map[string]func(a int64, s string) string{
		"a <> 0 AND 100 / a > 10": func(a int64, s string) string { return fmt.Sprint(a != 0 && 100/a > 10) },
		"a = 0 OR 100 / a < 0":    func(a int64, s string) string { return fmt.Sprint(a == 0 || 100/a < 0) },
		"CASE WHEN a = 0 THEN -1 ELSE 12 / a END": func(a int64, s string) string {
			if a == 0 {
				return "-1"
			}
			return fmt.Sprint(12 / a)
		},
		"CASE WHEN s = 'x' THEN 0 ELSE CAST(s AS int) + 1 END": func(a int64, s string) string {
			if s == "x" {
				return "0"
			}
			return fmt.Sprint(s[0] - '0' + 1)
		},
		"COALESCE(NULLIF(a, 0), 100 / a)": func(a int64, s string) string {
			if a == 0 {
				return "error"
			}
			return fmt.Sprint(a)
		},
		"COALESCE(NULLIF(s, 'x'), s || '!')": func(a int64, s string) string {
			if s == "x" {
				return "'x!'"
			}
			return "'" + s + "'"
		},
	}
	for expr, want := range cases {
		e := mustBind(t, expr, schema)
		out, err := e.Eval(rec)
		if err != nil {
			if !strings.Contains(expr, "100 / a)") {
				t.Errorf("%s: %v", expr, err)
			}
			continue
		}
		for i := 0; i < n; i++ {
			if got, w := renderValue(out, i), want(vals[i+5], strs[i+5]); got != w {
				t.Errorf("%s row %d (a=%d s=%s): %s, want %s", expr, i, vals[i+5], strs[i+5], got, w)
				break
			}
		}
	}
}

// TestConcurrentEval evaluates one bound expression from many goroutines
// (go test -race checks that evaluation shares nothing mutable).
func TestConcurrentEval(t *testing.T) {
	rec := benchBatch(true)
	exprs := []string{
		"price > 100 AND auction % 123 = 0", "0.908 * price", "(price + bidder) * 2 - 1",
		"CASE WHEN price > 5000 THEN 'high' ELSE channel END", "channel LIKE 'b%' OR auction IN (1001, 1002)",
		"COALESCE(price, 0) + date_part('second', date_time)", "upper(channel) || price",
	}
	for _, src := range exprs {
		e := mustBind(t, src, rec.Schema())
		want, err := e.Eval(rec)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					got, err := e.Eval(rec)
					if err != nil || !array.Equal(got, want) {
						errs <- fmt.Sprintf("%s: concurrent evaluation differs (%v)", src, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for msg := range errs {
			t.Error(msg)
		}
	}
}
