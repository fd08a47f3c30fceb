package dataflow

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

func distinctBatch(ints []int64, floats []float64, strs []string) arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	return columnar.Record(schema, []arrow.Array{columnar.Int64s(ints), columnar.Float64s(floats), columnar.StringsOf(strs)}, len(ints))
}

func TestDistinctAccumulators(t *testing.T) {
	rec := distinctBatch(
		[]int64{1, 2, 2, 3, 1, 5},
		[]float64{0.5, math.Copysign(0, -1), 0.0, 0.5, 2, 2},
		[]string{"a", "b", "a", "c", "a", "b"},
	)
	aggs := []Agg{
		{Func: CountDistinct, Column: "i", As: "ci"},
		{Func: CountDistinct, Column: "f", As: "cf"},
		{Func: CountDistinct, Column: "s", As: "cs"},
		{Func: SumDistinct, Column: "i", As: "si"},
		{Func: AvgDistinct, Column: "f", As: "af"},
	}
	acc, err := newAccumulators(rec.Schema(), aggs)
	if err != nil {
		t.Fatal(err)
	}
	acc.grow(3)
	fields := acc.outputFields(aggs)
	// rows 0–2 into slot 0, rows 3–5 into slot 1
	if err := acc.add(rec, []int32{0, 0, 0, 1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	row := func(s int32) string {
		cols := acc.output(fields, []int32{s})
		out := ""
		for _, c := range cols {
			out += c.ValueStr(0) + " "
		}
		return out
	}
	if got, want := row(0), "2 2 2 3 0.25 "; got != want {
		t.Errorf("slot 0 = %q, want %q", got, want)
	}
	if got, want := row(1), "3 2 3 9 1.25 "; got != want {
		t.Errorf("slot 1 = %q, want %q", got, want)
	}
	// merge slot 1 into slot 0 (sessions): {1,2,3,5} {0,0.5,2} {a,b,c}
	acc.merge(0, 1)
	if got, want := row(0), "4 3 3 11 0.8333333333333334 "; got != want {
		t.Errorf("merged = %q, want %q", got, want)
	}
	// retract row 1 (2, -0, "b"): 2 and "b" remain (rows 2 and 5 have them)
	if err := acc.retract(rec, 1, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := row(0), "4 3 3 11 0.8333333333333334 "; got != want {
		t.Errorf("after retracting a duplicate = %q, want %q", got, want)
	}
	if err := acc.retract(rec, 3, 0); err != nil { // 3, 0.5, "c"
		t.Fatal(err)
	}
	if got, want := row(0), "3 3 2 8 0.8333333333333334 "; got != want {
		t.Errorf("after retracting 3 = %q, want %q", got, want)
	}
	// a copy (shadow of a group aggregate) is independent of its source
	acc.reset(2)
	acc.merge(2, 0)
	if err := acc.retract(rec, 0, 2); err != nil {
		t.Fatal(err)
	}
	if row(0) == row(2) {
		t.Errorf("copy shares state with its source: %s", row(2))
	}
	if !acc.sameOutput(0, 0) || acc.sameOutput(0, 2) {
		t.Errorf("sameOutput wrong")
	}
	// an empty slot: count 0, sum and avg NULL
	acc.reset(1)
	if got, want := row(1), "0 0 0 (null) (null) "; got != want {
		t.Errorf("empty slot = %q, want %q", got, want)
	}
	if err := acc.retract(rec, 4, 1); err == nil {
		t.Errorf("retracting a value never added: no error")
	}
}

func TestDistinctRandomRetractions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 2000
	ints := make([]int64, n)
	floats := make([]float64, n)
	strs := make([]string, n)
	for i := range ints {
		ints[i] = r.Int64N(50)
		floats[i] = float64(r.IntN(30)) / 4
		strs[i] = string(rune('a' + r.IntN(20)))
	}
	rec := distinctBatch(ints, floats, strs)
	aggs := []Agg{{Func: CountDistinct, Column: "i"}, {Func: CountDistinct, Column: "f"}, {Func: CountDistinct, Column: "s"}}
	acc, err := newAccumulators(rec.Schema(), aggs)
	if err != nil {
		t.Fatal(err)
	}
	acc.grow(1)
	slots := make([]int32, n)
	if err := acc.add(rec, slots); err != nil {
		t.Fatal(err)
	}
	kept := r.Perm(n)[:n/10]
	keep := map[int]bool{}
	for _, k := range kept {
		keep[k] = true
	}
	wi, wf, ws := map[int64]bool{}, map[float64]bool{}, map[string]bool{}
	for i := 0; i < n; i++ {
		if keep[i] {
			wi[ints[i]], wf[floats[i]], ws[strs[i]] = true, true, true
			continue
		}
		if err := acc.retract(rec, i, 0); err != nil {
			t.Fatal(err)
		}
	}
	cols := acc.output(acc.outputFields(aggs), []int32{0})
	for k, want := range []int{len(wi), len(wf), len(ws)} {
		if got := cols[k].ValueStr(0); got != itoa(want) {
			t.Errorf("agg %d: %s, want %d", k, got, want)
		}
	}
}

func itoa(n int) string { return columnar.Int64s([]int64{int64(n)}).ValueStr(0) }
