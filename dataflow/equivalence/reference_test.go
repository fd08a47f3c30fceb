package equivalence

import (
	"bytes"
	"slices"
	"sort"
	"strings"

	"github.com/weirdata/weir/dataflow"
)

// result is what a run (or the reference) produces: each output as a sorted
// multiset of row strings, and the source's late counters.
type result struct {
	out1, out2, late         []string
	lateN, futureN, nullTime int64
}

// verdicts applies DESIGN.md §4 to one split, written out independently of
// package watermark: the first record with a time is on time; after it a
// record is late iff ts < max − delay, future iff skew > 0 and
// ts > max + skew; only on-time records raise max. Verdicts: 'o'n time,
// 'l'ate, 'f'uture, 'n'ull time.
func verdicts(split []record, delay, skew int64) []byte {
	out := make([]byte, len(split))
	var hi int64 // the largest on-time event time so far
	seen := false
	for i, r := range split {
		switch {
		case r.is(nullTS):
			out[i] = 'n'
		case !seen:
			out[i], hi, seen = 'o', r.ts, true
		case r.ts < hi-delay:
			out[i] = 'l'
		case skew > 0 && r.ts > hi+skew:
			out[i] = 'f'
		default:
			out[i], hi = 'o', max(hi, r.ts)
		}
	}
	return out
}

// group is a key (formatted, "_" for NULL) and a window.
type group struct {
	key        string
	start, end int64
}

func keyOf(r record) group { return group{key: r.cells()[0]} }

// reference computes the expected result by brute force: lateness per
// split, then all on-time rows grouped by key and window at once.
func reference(w workload) result {
	var res result
	var rows []record
	for _, split := range w.splits {
		vs := verdicts(split, us(w.delay), us(w.skew))
		res.lateN += int64(bytes.Count(vs, []byte{'l'}))
		res.futureN += int64(bytes.Count(vs, []byte{'f'}))
		res.nullTime += int64(bytes.Count(vs, []byte{'n'}))
		for i, r := range split {
			switch {
			case vs[i] != 'o':
				res.late = append(res.late, strings.Join(r.cells(), " "))
			case !w.q.filter || keep(r.is(nullVI), r.vi):
				rows = append(rows, r)
			}
		}
	}
	q := w.q
	groups := map[group][]record{}
	if q.kind == sessionW {
		// A key's rows in time order; a session ends where the next row is
		// at or past the previous row + gap (their [ts, ts+gap) don't overlap).
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].ts < rows[j].ts })
		byKey := map[group][]record{}
		for _, r := range rows {
			byKey[keyOf(r)] = append(byKey[keyOf(r)], r)
		}
		for g, rs := range byKey {
			for i, j := 0, 1; i < len(rs); i, j = j, j+1 {
				for j < len(rs) && rs[j].ts < rs[j-1].ts+us(q.a) {
					j++
				}
				g.start, g.end = rs[i].ts, rs[j-1].ts+us(q.a)
				groups[g] = rs[i:j]
			}
		}
	}
	for _, r := range rows {
		for _, win := range windowsOf(q, r.ts) {
			g := keyOf(r)
			g.start, g.end = win[0], win[1]
			groups[g] = append(groups[g], r)
		}
	}

	perWindow := map[[2]int64][]float64{} // the n of each of its groups
	for g, members := range groups {
		cells := []string{g.key, fmtTime(g.start), fmtTime(g.end)}
		for _, a := range q.aggs {
			cells = append(cells, aggregate(a, members))
		}
		res.out1 = append(res.out1, strings.Join(cells, " "))
		win := [2]int64{g.start, g.end}
		perWindow[win] = append(perWindow[win], float64(len(members)))
	}
	for win, ns := range perWindow {
		if q.stage2 { // stage2Aggs: count(*), sum(n), avg(n), min(n), max(n)
			total := sum(ns)
			res.out2 = append(res.out2, strings.Join([]string{fmtTime(win[0]), fmtTime(win[1]), fmtNum(float64(len(ns))),
				fmtNum(total), fmtNum(total / float64(len(ns))), fmtNum(slices.Min(ns)), fmtNum(slices.Max(ns))}, " "))
		}
	}
	for _, out := range [][]string{res.out1, res.out2, res.late} {
		sort.Strings(out)
	}
	return res
}

// windowsOf lists the windows containing ts from their definitions, not
// from the engine's assigners. (Sessions are grouped apart.)
func windowsOf(q query, ts int64) [][2]int64 {
	a, b := us(q.a), us(q.b)
	floor := func(size int64) int64 { return ts - (ts%size+size)%size }
	var out [][2]int64
	switch q.kind {
	case tumbleW:
		out = append(out, [2]int64{floor(a), floor(a) + a})
	case hopW: // [s, s+size) for each multiple s of slide with s ≤ ts < s+size
		for s := floor(a); s > ts-b; s -= a {
			out = append(out, [2]int64{s, s + b})
		}
	case cumulateW: // [s, s+i·step) for the size-aligned s, i = 1..size/step
		for s, e := floor(b), floor(b)+a; e <= s+b; e += a {
			if ts < e {
				out = append(out, [2]int64{s, e})
			}
		}
	}
	return out
}

// aggregate evaluates one aggregate over a group's rows.
func aggregate(a dataflow.Agg, rows []record) string {
	var vals []float64
	for _, r := range rows {
		switch {
		case a.Func == dataflow.CountAll:
			vals = append(vals, 0)
		case a.Column == "vi" && !r.is(nullVI):
			vals = append(vals, float64(r.vi))
		case a.Column == "vf" && !r.is(nullVF):
			vals = append(vals, r.vf)
		}
	}
	switch {
	case a.Func == dataflow.CountAll || a.Func == dataflow.Count:
		return fmtNum(float64(len(vals)))
	case len(vals) == 0:
		return "_"
	case a.Func == dataflow.Sum:
		return fmtNum(sum(vals))
	case a.Func == dataflow.Min:
		return fmtNum(slices.Min(vals))
	case a.Func == dataflow.Max:
		return fmtNum(slices.Max(vals))
	}
	return fmtNum(sum(vals) / float64(len(vals)))
}

func sum(vals []float64) (s float64) {
	for _, v := range vals {
		s += v
	}
	return s
}
