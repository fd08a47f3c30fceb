package equivalence

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/weirdata/weir/dataflow"
)

// Event times are whole ticks after base, so that ties (ts = max − delay
// exactly, a row on a window boundary) are common rather than rare.
const (
	tick = 250 * time.Millisecond
	base = int64(1_767_225_600_000_000) // 2026-01-01T00:00:00Z in µs
)

func ticks(n int) time.Duration { return time.Duration(n) * tick }
func us(d time.Duration) int64  { return d.Microseconds() }

// record is one row of a split: key k, event time ts (µs), values vi and
// vf; null has a bit per column, in that order, set for NULL.
type record struct {
	k, ts, vi int64
	vf        float64
	null      uint8
}

const (
	nullK uint8 = 1 << iota
	nullTS
	nullVI
	nullVF
)

func (r record) is(bit uint8) bool { return r.null&bit != 0 }

// cells formats k, ts, vi and vf as fold formats the engine's rows.
func (r record) cells() []string {
	cells := []string{fmtNum(float64(r.k)), fmtTime(r.ts), fmtNum(float64(r.vi)), fmtNum(r.vf)}
	for i := range cells {
		if r.is(1 << i) {
			cells[i] = "_"
		}
	}
	return cells
}

// fmtNum formats integers and fractions alike, so that the reference can
// compute in float64 (exactly: all values are small integers and quarters).
func fmtNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func fmtTime(ts int64) string { return fmtNum(float64(ts-base) / float64(us(tick))) }

type windowKind int

const (
	tumbleW windowKind = iota
	hopW
	cumulateW
	sessionW
)

// query is GROUP BY k and a window, optionally after the filter
// WHERE vi IS NULL OR vi % 3 <> 0, optionally followed by a second stage
// over its output, GROUP BY window (keyed by window_start), with stage2Aggs.
// In live runs the second stage receives the first one's updates.
type query struct {
	kind   windowKind
	a, b   time.Duration // size; slide, size; step, size; gap
	filter bool
	aggs   []dataflow.Agg // count(*) AS n first
	stage2 bool
}

var stage2Aggs = []dataflow.Agg{{Func: dataflow.CountAll, As: "groups"}, {Func: dataflow.Sum, Column: "n", As: "total"},
	{Func: dataflow.Avg, Column: "n", As: "mean"}, {Func: dataflow.Min, Column: "n", As: "least"}, {Func: dataflow.Max, Column: "n", As: "most"}}

func (q query) assigner() dataflow.Assigner {
	return [...]dataflow.Assigner{dataflow.Tumble(q.a), dataflow.Hop(q.a, q.b), dataflow.Cumulate(q.a, q.b), dataflow.Session(q.a)}[q.kind]
}

// keep is the filter's predicate, shared by the engine run and the reference.
func keep(viNull bool, vi int64) bool { return viNull || vi%3 != 0 }

// workload is everything a seed generates: splits, watermark strategy, query.
type workload struct {
	splits      [][]record
	delay, skew time.Duration // skew 0: no future guard
	q           query
}

// generate draws a workload. Its size is drawn first, so that many seeds
// have small workloads, which read well when they fail.
func generate(r *rand.Rand) workload {
	w := workload{delay: ticks(pick(r, 0, 0, 1, 2, 4, 8, 20))}
	if r.IntN(2) == 0 {
		w.skew = ticks(10 + r.IntN(60))
	}
	maxRecs := pick(r, 3, 10, 30, 80, 200)
	for range 1 + r.IntN(8) {
		var split []record
		clock := base + us(ticks(r.IntN(40)))
		for range r.IntN(maxRecs + 1) {
			clock += us(ticks(r.IntN(4)))
			rec := record{ts: clock - us(ticks(r.IntN(int(w.delay/tick)+3))), // jitter: up to delay + 2 ticks
				vi: int64(r.IntN(201) - 100), vf: float64(r.IntN(801)-400) / 4}
			switch x := r.IntN(100); {
			case x < 5:
				rec.ts = clock - us(w.delay+ticks(1+r.IntN(20))) // late
			case x < 8 && w.skew > 0:
				rec.ts = clock + us(w.skew+ticks(1+r.IntN(20))) // far in the future
			case x < 9:
				rec.null |= nullTS
			}
			switch x := r.IntN(100); {
			case x < 3:
				rec.null |= nullK
			case x < 55:
				rec.k = int64(r.IntN(3)) // hot keys
			default:
				rec.k = int64(r.IntN(40) - 5)
			}
			for _, bit := range []uint8{nullVI, nullVF} {
				if r.IntN(10) == 0 {
					rec.null |= bit
				}
			}
			split = append(split, rec)
		}
		w.splits = append(w.splits, split)
	}

	q := &w.q
	q.kind, q.a = windowKind(r.IntN(4)), ticks(1+r.IntN(12))
	switch q.kind {
	case tumbleW:
		q.a = ticks(2 + r.IntN(40))
	case hopW, cumulateW:
		q.b = q.a * time.Duration(1+r.IntN(4))
	}
	q.filter, q.stage2 = r.IntN(3) == 0, r.IntN(5) < 2
	q.aggs = []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}}
	for i := range r.IntN(5) {
		f := []dataflow.AggFunc{dataflow.Count, dataflow.Sum, dataflow.Min, dataflow.Max, dataflow.Avg}[r.IntN(5)]
		q.aggs = append(q.aggs, dataflow.Agg{Func: f, Column: []string{"vi", "vf"}[r.IntN(2)], As: fmt.Sprintf("a%d", i)})
	}
	return w
}

func pick(r *rand.Rand, xs ...int) int { return xs[r.IntN(len(xs))] }

// String prints the workload compactly: the query, then each split's rows
// as k@ts:vi/vf, times in ticks after base, "_" for NULL.
func (w workload) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "delay=%s skew=%s %s filter=%v stage2=%v aggs:", w.delay, w.skew, w.q.assigner(), w.q.filter, w.q.stage2)
	for _, a := range w.q.aggs {
		fmt.Fprintf(&b, " %s(%s)", strings.TrimSuffix(a.Func.String(), "(*)"), a.Column)
	}
	for i, s := range w.splits {
		fmt.Fprintf(&b, "\nsplit %d:", i)
		for _, r := range s {
			c := r.cells()
			fmt.Fprintf(&b, " %s@%s:%s/%s", c[0], c[1], c[2], c[3])
		}
	}
	return b.String()
}
