package dataflow

import (
	"math"
	"slices"
)

// ddSketch is a DDSketch (Masson, Rim and Lee, VLDB 2019) with a fixed
// logarithmic bucket mapping and exact counts per bucket, for
// approx_percentile. A positive value x falls in bucket ceil(log_γ x) with
// γ = (1+α)/(1−α); negative values in a mirrored store; zero in its own
// count. A quantile is answered with its bucket's midpoint 2γ^i/(γ+1), whose
// relative error to the value of that rank is at most α (ddAlpha = 1%).
//
// Why this sketch: its state is a function of the multiset of values only —
// not of their arrival order, batch boundaries or parallelism — so weir's
// "same answer in backfill and live" holds for it exactly, where a t-digest
// (order-dependent centroids) would give slightly different values per run.
// Counts per bucket also make retractions and merges exact. Memory is bounded
// by the range of the values, not their number: about 2·ln(max/min)/ln(γ)
// buckets — some 1,400 for values spanning twelve decades, and never more
// than ~71,000 (the whole float64 range). NaN values are ignored; ±Inf are
// clamped to the largest float.
type ddSketch struct {
	pos, neg map[int32]int64
	zero     int64
}

const ddAlpha = 0.01

var (
	ddGamma    = (1 + ddAlpha) / (1 - ddAlpha)
	ddLogGamma = math.Log(ddGamma)
)

func ddIndex(x float64) int32 {
	if x > math.MaxFloat64 {
		x = math.MaxFloat64
	}
	return int32(math.Ceil(math.Log(x) / ddLogGamma))
}

func ddValue(i int32) float64 { return 2 * math.Pow(ddGamma, float64(i)) / (ddGamma + 1) }

// add counts x k times (k < 0 retracts). It reports whether x was counted.
func (d *ddSketch) add(x float64, k int64) bool {
	switch {
	case math.IsNaN(x):
		return false
	case x == 0:
		d.zero += k
		return true
	}
	store := &d.pos
	if x < 0 {
		store, x = &d.neg, -x
	}
	if *store == nil {
		*store = map[int32]int64{}
	}
	i := ddIndex(x)
	if (*store)[i] += k; (*store)[i] == 0 {
		delete(*store, i)
	}
	return true
}

func (d *ddSketch) merge(src *ddSketch) {
	d.zero += src.zero
	for i, k := range src.pos {
		if d.pos == nil {
			d.pos = map[int32]int64{}
		}
		d.pos[i] += k
	}
	for i, k := range src.neg {
		if d.neg == nil {
			d.neg = map[int32]int64{}
		}
		d.neg[i] += k
	}
}

// quantile returns the value of rank ⌊q·(n−1)⌋ in the sorted multiset (as
// percentile_disc would), within relative error ddAlpha; false when empty.
func (d *ddSketch) quantile(q float64) (float64, bool) {
	if d == nil {
		return 0, false
	}
	var n int64
	for _, k := range d.neg {
		n += k
	}
	for _, k := range d.pos {
		n += k
	}
	n += d.zero
	if n <= 0 {
		return 0, false
	}
	rank := int64(math.Floor(q * float64(n-1)))
	var seen int64
	neg := sortedKeys(d.neg)
	for j := len(neg) - 1; j >= 0; j-- { // most negative first
		if seen += d.neg[neg[j]]; seen > rank {
			return -ddValue(neg[j]), true
		}
	}
	if seen += d.zero; seen > rank {
		return 0, true
	}
	pos := sortedKeys(d.pos)
	for _, i := range pos {
		if seen += d.pos[i]; seen > rank {
			return ddValue(i), true
		}
	}
	return ddValue(pos[len(pos)-1]), true
}

func sortedKeys(m map[int32]int64) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortFloats(v []float64) { slices.Sort(v) }
