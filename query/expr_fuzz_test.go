package query

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/weirdata/weir/internal/columnar"
)

// fuzzSchema has a column of every SQL type.
var fuzzSchema = arrow.NewSchema([]arrow.Field{
	{Name: "a", Type: typInt64, Nullable: true}, {Name: "b", Type: typInt32, Nullable: true},
	{Name: "c", Type: typInt16, Nullable: true}, {Name: "x", Type: typFloat64, Nullable: true},
	{Name: "s", Type: typText, Nullable: true}, {Name: "p", Type: typBool, Nullable: true},
	{Name: "ts", Type: typTimestamp, Nullable: true}, {Name: "d", Type: typDate, Nullable: true},
	{Name: "v", Type: typInterval, Nullable: true},
}, nil)

// fuzzBatch makes a batch of fuzzSchema with edge values and NULLs.
func fuzzBatch(seed uint64) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(seed, seed>>32|1))
	n := r.IntN(20)
	valid := func() ([]byte, int) {
		bits := make([]byte, bitutil.BytesForBits(int64(n)))
		nulls := 0
		for i := range n {
			if r.IntN(5) == 0 {
				nulls++
			} else {
				bitutil.SetBit(bits, i)
			}
		}
		return bits, nulls
	}
	pick := func(edges []int64, span int64) int64 {
		if r.IntN(3) == 0 {
			return edges[r.IntN(len(edges))]
		}
		return r.Int64N(2*span+1) - span
	}
	ints := func(edges []int64, span int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = pick(edges, span)
		}
		return out
	}
	a := ints([]int64{0, 1, -1, 2, 123, math.MaxInt64, math.MinInt64, math.MaxInt32 + 1}, 1000)
	b32 := make([]int32, n)
	c16 := make([]int16, n)
	for i := range n {
		b32[i] = int32(pick([]int64{0, 1, -1, math.MaxInt32, math.MinInt32}, 100))
		c16[i] = int16(pick([]int64{0, 1, -1, math.MaxInt16, math.MinInt16}, 100))
	}
	x := make([]float64, n)
	floatEdges := []float64{0, math.Copysign(0, -1), 0.5, -2.5, math.NaN(), math.Inf(1), math.Inf(-1), 1e308, 5e-324, 1e15}
	for i := range x {
		if r.IntN(3) == 0 {
			x[i] = floatEdges[r.IntN(len(floatEdges))]
		} else {
			x[i] = (r.Float64() - 0.5) * 1000
		}
	}
	words := []string{"", "a", "abc", "ABC", "é", "%", "_", "\\", "12", "-7", "2026-01-01", "1 day", "true", "a,b,c", "x y"}
	s := make([]string, n)
	for i := range s {
		s[i] = words[r.IntN(len(words))]
	}
	p := make([]bool, n)
	for i := range p {
		p[i] = r.IntN(2) == 0
	}
	ts := ints([]int64{0, -1, math.MaxInt64, math.MinInt64, 1_767_225_600_000_000}, 10_000_000_000_000_000)
	d32 := make([]int32, n)
	for i := range d32 {
		d32[i] = int32(pick([]int64{0, -1, math.MaxInt32, math.MinInt32, 20454}, 1_000_000))
	}
	v := ints([]int64{0, 1, -1, usPerDay, math.MaxInt64, math.MinInt64}, 1_000_000_000_000)
	cols := make([]arrow.Array, 9)
	withNulls := func(i int, make func(valid []byte, nulls int) arrow.Array) {
		bits, nulls := valid()
		cols[i] = make(bits, nulls)
	}
	withNulls(0, func(vb []byte, nl int) arrow.Array { return columnar.Fixed(typInt64, a, vb, nl) })
	withNulls(1, func(vb []byte, nl int) arrow.Array { return columnar.Fixed(typInt32, b32, vb, nl) })
	withNulls(2, func(vb []byte, nl int) arrow.Array { return columnar.Fixed(typInt16, c16, vb, nl) })
	withNulls(3, func(vb []byte, nl int) arrow.Array { return columnar.Fixed(typFloat64, x, vb, nl) })
	withNulls(4, func(vb []byte, nl int) arrow.Array {
		b := newStrBuilder(n, 0)
		for _, w := range s {
			b.add(w)
		}
		out, _ := b.finish(vb, nl)
		return out
	})
	withNulls(5, func(vb []byte, nl int) arrow.Array {
		bits := make([]byte, bitutil.BytesForBits(int64(n)))
		for i, b := range p {
			if b {
				bitutil.SetBit(bits, i)
			}
		}
		return boolOut(bits, n, vb, nl)
	})
	withNulls(6, func(vb []byte, nl int) arrow.Array { return columnar.Fixed(typTimestamp, ts, vb, nl) })
	withNulls(7, func(vb []byte, nl int) arrow.Array { return columnar.Fixed(typDate, d32, vb, nl) })
	withNulls(8, func(vb []byte, nl int) arrow.Array { return columnar.Fixed(typInterval, v, vb, nl) })
	return array.NewRecordBatch(fuzzSchema, cols, int64(n))
}

// FuzzExpr binds random expression text over a column of every type and
// evaluates it on a random batch with NULLs. Errors are fine; panics,
// results of the wrong length or type, and a folded expression that
// computes something else than the original are not. Seeds: f.Add below
// and testdata/fuzz/FuzzExpr. Run with
// `go test ./query -run '^$' -fuzz FuzzExpr -fuzztime 1m`.
func FuzzExpr(f *testing.F) {
	for _, seed := range []string{
		"a + b * c", "x / a", "s || p", "ts + v", "d - 1", "CASE WHEN p THEN a ELSE b END",
		"COALESCE(a, b, c)", "a IN (1, 2, NULL)", "s LIKE '%b_'", "date_trunc('hour', ts)",
		"extract(epoch FROM ts)", "CAST(s AS int)", "NULLIF(a, 0)", "GREATEST(a, b, c)",
		"a BETWEEN b AND c", "p AND a > 0 OR NOT p", "lower(s) = upper(s)", "substr(s, b, c)",
		"round(x, c)", "to_timestamp(x)", "make_interval(hours => b)", "v * x", "a % c",
	} {
		f.Add(seed, uint64(len(seed)))
	}
	f.Fuzz(func(t *testing.T, expr string, seed uint64) {
		text := "SELECT " + expr + " FROM t"
		stmts, err := Parse(text)
		if err != nil || len(stmts) != 1 {
			return
		}
		sel := stmts[0].Node.GetSelectStmt()
		if sel == nil {
			return
		}
		rec := fuzzBatch(seed)
		scope := &testScope{text: text, table: "t", schema: fuzzSchema}
		for _, target := range sel.TargetList {
			rt := target.GetResTarget()
			if rt == nil || rt.Val == nil {
				continue
			}
			e, err := BindExpr(text, rt.Val, scope)
			if err != nil {
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("%s: %v", expr, err)
				}
				continue
			}
			checkEval(t, expr, e, rec)
			folded, err := Fold(e)
			if err != nil {
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("%s: %v", expr, err)
				}
				continue
			}
			if !arrow.TypeEqual(folded.Type(), e.Type()) {
				t.Fatalf("%s: folding changed the type from %s to %s", expr, e.Type(), folded.Type())
			}
			want, err1 := e.Eval(rec)
			got, err2 := folded.Eval(rec)
			if err1 == nil && err2 == nil && render(want) != render(got) {
				t.Fatalf("%s: %s, folded (%s) %s", expr, render(want), folded, render(got))
			}
			_ = e.String()
			_ = Columns(e)
		}
	})
}

// checkEval evaluates e on rec and on rec sliced, checking shapes.
func checkEval(t *testing.T, expr string, e Expr, rec arrow.RecordBatch) {
	for _, in := range []arrow.RecordBatch{rec, sliced(rec)} {
		out, err := e.Eval(in)
		if err != nil {
			var pe *Error
			if !asError(err, &pe) {
				t.Fatalf("%s: run-time error %v is not an *Error", expr, err)
			}
			continue
		}
		if out.Len() != int(in.NumRows()) {
			t.Fatalf("%s: %d rows for %d", expr, out.Len(), in.NumRows())
		}
		if !arrow.TypeEqual(out.DataType(), e.Type()) {
			t.Fatalf("%s: result of type %s, declared %s", expr, out.DataType(), e.Type())
		}
		_ = render(out)
	}
}

func asError(err error, target **Error) bool { return errors.As(err, target) }
