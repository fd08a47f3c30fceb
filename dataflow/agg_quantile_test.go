package dataflow

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// TestDDSketchErrorBound checks approx_percentile's documented bound: the
// answer is within ddAlpha relative error of the exact value of rank
// ⌊q·(n−1)⌋, for several distributions, including negatives and zeros.
func TestDDSketchErrorBound(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	dists := map[string]func() float64{
		"uniform":     func() float64 { return r.Float64() * 1000 },
		"exponential": func() float64 { return r.ExpFloat64() * 50 },
		"lognormal":   func() float64 { return math.Exp(r.NormFloat64() * 3) },
		"signed":      func() float64 { return r.NormFloat64() * 100 },
		"ints":        func() float64 { return float64(r.IntN(20) - 5) },
	}
	for name, gen := range dists {
		vals := make([]float64, 20000)
		var d ddSketch
		for i := range vals {
			vals[i] = gen()
			d.add(vals[i], 1)
		}
		slices.Sort(vals)
		for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1} {
			got, ok := d.quantile(q)
			want := vals[int(math.Floor(q*float64(len(vals)-1)))]
			if !ok || math.Abs(got-want) > ddAlpha*math.Abs(want)+1e-12 {
				t.Errorf("%s q=%v: %v, exact %v (bound %v%%)", name, q, got, want, ddAlpha*100)
			}
		}
	}
}

// TestSketchesOrderIndependent: the same multiset in any order, any split
// into merged parts, and with inserted-then-retracted noise gives the very
// same answer — the property that keeps backfill and live identical.
func TestSketchesOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vals := make([]float64, 5000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64()*2) - 3
	}
	var base ddSketch
	var hbase hllSketch
	for _, v := range vals {
		base.add(v, 1)
		hbase.add(math.Float64bits(v))
	}
	for trial := 0; trial < 5; trial++ {
		perm := r.Perm(len(vals))
		parts := make([]ddSketch, 3)
		hparts := make([]hllSketch, 3)
		for _, i := range perm {
			p := r.IntN(3)
			parts[p].add(vals[i], 1)
			hparts[p].add(math.Float64bits(vals[i]))
			noise := r.NormFloat64()
			parts[p].add(noise, 1)
			parts[p].add(noise, -1)
		}
		var d ddSketch
		var h hllSketch
		for p := range parts {
			d.merge(&parts[p])
			h.merge(&hparts[p])
		}
		for _, q := range []float64{0.05, 0.5, 0.95} {
			a, _ := base.quantile(q)
			b, _ := d.quantile(q)
			if a != b {
				t.Errorf("trial %d q=%v: %v != %v", trial, q, a, b)
			}
		}
		if h.estimate() != hbase.estimate() {
			t.Errorf("trial %d: hll %d != %d", trial, h.estimate(), hbase.estimate())
		}
	}
}

func TestHLLErrorBound(t *testing.T) {
	for _, n := range []int{10, 256, 1000, 5000, 100000} {
		var h hllSketch
		for i := 0; i < n; i++ {
			h.add(uint64(i) * 0x9e3779b97f4a7c15)
			h.add(uint64(i) * 0x9e3779b97f4a7c15) // duplicates do not count
		}
		got := h.estimate()
		// exact below the sparse limit; else within 4 standard errors
		bound := 4 * 1.04 / math.Sqrt(hllM) * float64(n)
		if n <= hllSparseMax {
			bound = 0
		}
		if math.Abs(float64(got-int64(n))) > bound {
			t.Errorf("n=%d: estimate %d (bound ±%.0f)", n, got, bound)
		}
	}
}

func TestApproxAccumulators(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	vals := make([]int64, 1000)
	for i := range vals {
		vals[i] = int64(i + 1)
	}
	rec := columnar.Record(schema, []arrow.Array{columnar.Int64s(vals)}, len(vals))
	aggs := []Agg{{Func: ApproxPercentile, Column: "v", Fraction: 0.5, As: "p50"}, {Func: ApproxCountDistinct, Column: "v", As: "n"}}
	acc, err := newAccumulators(schema, aggs)
	if err != nil {
		t.Fatal(err)
	}
	acc.grow(2)
	if err := acc.add(rec, make([]int32, len(vals))); err != nil {
		t.Fatal(err)
	}
	cols := acc.output(acc.outputFields(aggs), []int32{0, 1})
	p50 := cols[0].(interface{ Value(int) float64 }).Value(0)
	if math.Abs(p50-500) > 5 {
		t.Errorf("p50 = %v, want 500 ±1%%", p50)
	}
	if cols[0].IsValid(1) {
		t.Errorf("p50 of an empty slot is not NULL")
	}
	if n := cols[1].(interface{ Value(int) int64 }).Value(0); math.Abs(float64(n-1000)) > 50 {
		t.Errorf("approx_count_distinct = %d, want 1000 ±5%%", n)
	}
	if err := acc.retract(rec, 0, 0); err == nil {
		t.Errorf("approx_count_distinct took a retraction")
	}
	if _, err := newAccumulators(schema, []Agg{{Func: ApproxPercentile, Column: "v", Fraction: 1.5}}); err == nil {
		t.Errorf("fraction 1.5 accepted")
	}
}
