package query

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestCastAPI(t *testing.T) {
	rec := parseTable(t, "a bigint, s text, ts timestamp\n1, '12', '2026-01-01 10:00'\nNULL, 'x', NULL")
	col := func(name string) Expr { return mustBind(t, name, rec.Schema()) }
	cases := []struct {
		e    Expr
		to   arrow.DataType
		want string
	}{
		{col("a"), typText, "text: '1', NULL"},
		{col("a"), typFloat64, "double precision: 1, NULL"},
		{col("a"), typInt64, "bigint: 1, NULL"},
		{col("ts"), typDate, "date: 2026-01-01, NULL"},
		{col("s"), typInt32, "error"},
		{mustBind(t, "'5'", rec.Schema()), typInt16, "smallint: 5, 5"},
		{mustBind(t, "NULL", rec.Schema()), typTimestamp, "timestamp: NULL, NULL"},
	}
	for _, c := range cases {
		e, err := Cast(c.e, c.to)
		if err != nil {
			t.Errorf("Cast(%s, %s): %v", c.e, c.to, err)
			continue
		}
		got := "error"
		if out, err := e.Eval(rec); err == nil {
			got = TypeName(out.DataType()) + ": " + render(out)
		} else if !strings.Contains(err.Error(), `invalid input syntax for type integer: "x"`) {
			t.Errorf("Cast(%s, %s): %v", c.e, c.to, err)
		}
		if got != c.want {
			t.Errorf("Cast(%s, %s) = %s, want %s", c.e, c.to, got, c.want)
		}
	}
	if _, err := Cast(col("a"), typTimestamp); err == nil || err.Error() != "cannot cast type bigint to timestamp" {
		t.Errorf("bigint to timestamp: %v", err)
	}
	if _, err := Cast(mustBind(t, "'x'", rec.Schema()), typInt64); err == nil {
		t.Error("a bad constant must fail at once")
	}
	if _, err := Cast(col("a"), arrow.PrimitiveTypes.Uint8); !errors.Is(err, ErrUnsupported) {
		t.Errorf("cast to uint8: %v", err)
	}
	if e, _ := Cast(col("a"), typText); e.String() != "CAST(a AS text)" {
		t.Errorf("String() = %s", e)
	}
}

// panicky is an expression whose evaluation panics (a bug).
type panicky struct{ ColumnRef }

func (p *panicky) Eval(arrow.RecordBatch) (arrow.Array, error) { panic("boom") }

func TestEvaluateRecovers(t *testing.T) {
	rec := parseTable(t, "a bigint\n1")
	out, err := Evaluate(mustBind(t, "a + 1", rec.Schema()), rec)
	if err != nil || render(out) != "2" {
		t.Errorf("Evaluate(a + 1) = %v, %v", out, err)
	}
	if _, err := Evaluate(&panicky{ColumnRef{Name: "p", Typ: typInt64}}, rec); err == nil || !strings.Contains(err.Error(), "internal error evaluating p: boom") {
		t.Errorf("a panic must become an error: %v", err)
	}
}
