package server

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// DefaultMaxFoldedRows is how many result rows a live job keeps for the
// viewers that join it late (Options.MaxFoldedRows).
const DefaultMaxFoldedRows = 10_000

// fold is a live job's result so far, folded: each distinct row with its
// count, in order of first appearance. A viewer that joins the job gets it
// as its first rows, then the changelog from there on.
//
// It is bounded: past max rows the oldest rows are dropped (for a windowed
// query, the oldest windows; a dashboard shows the newest). A retraction of
// a dropped row is ignored. So a late joiner sees at most max rows — the
// newest — while a viewer that was there from the start holds them all;
// both agree on every row the fold still holds. The rows keep references
// to the engine's Arrow batches (for Arrow viewers); when those batches
// hold many more rows than the fold, the fold copies its rows out into one
// batch (compact), so its memory is O(max), not O(stream).
type fold struct {
	max     int
	rows    map[string]*deltaRow
	order   []string
	total   int   // rows held, counting repeats
	dropped int64 // rows dropped for the bound
	// refRows is the sum of the sizes of the batches that rows refer to.
	refs    map[arrow.RecordBatch]int
	refRows int64
}

func newFold(max int) *fold {
	return &fold{max: max, rows: map[string]*deltaRow{}, refs: map[arrow.RecordBatch]int{}}
}

func (f *fold) ref(r rowRef, delta int) {
	if r.rec == nil {
		return
	}
	n := f.refs[r.rec] + delta
	switch {
	case n <= 0:
		delete(f.refs, r.rec)
		f.refRows -= r.rec.NumRows()
	case delta > 0 && n == 1:
		f.refs[r.rec] = n
		f.refRows += r.rec.NumRows()
	default:
		f.refs[r.rec] = n
	}
}

// apply folds a batch in.
func (f *fold) apply(b *batchRows) {
	for i, k := range b.keys {
		r, ok := f.rows[k]
		if b.ops[i] < 0 {
			if !ok {
				continue // dropped for the bound, or never here
			}
			r.n--
			f.total--
			if r.n == 0 {
				delete(f.rows, k)
				f.ref(r.ref, -1)
			}
			continue
		}
		if !ok {
			r = &deltaRow{vals: b.vals[i], ref: b.refs[i]}
			f.rows[k] = r
			f.order = append(f.order, k)
			f.ref(r.ref, 1)
		}
		r.n++
		f.total++
	}
	for f.total > f.max && len(f.order) > 0 {
		k := f.order[0]
		f.order = f.order[1:]
		if r, ok := f.rows[k]; ok {
			delete(f.rows, k)
			f.total -= r.n
			f.dropped += int64(r.n)
			f.ref(r.ref, -1)
		}
	}
	if len(f.order) > 2*len(f.rows)+64 {
		keys := make([]string, 0, len(f.rows))
		for _, k := range f.order {
			if _, ok := f.rows[k]; ok {
				keys = append(keys, k)
			}
		}
		f.order = keys
	}
	if f.refRows > 4*int64(f.max)+8192 {
		f.compact()
	}
}

// compact copies the rows' Arrow values out of the engine's batches into
// one batch, so the fold no longer holds the rest of those batches. A
// type the copy does not support leaves the references as they are.
func (f *fold) compact() {
	var schema *arrow.Schema
	parts := []arrow.RecordBatch{}
	var keys []string
	var start int
	flush := func(end int) bool {
		if start == end {
			return true
		}
		idx := make([]int32, 0, end-start)
		for _, k := range keys[start:end] {
			idx = append(idx, int32(f.rows[k].ref.idx))
		}
		rec, err := columnar.TakeRecord(f.rows[keys[start]].ref.rec, idx)
		if err != nil {
			return false
		}
		parts = append(parts, rec)
		start = end
		return true
	}
	for _, k := range f.order {
		r, ok := f.rows[k]
		if !ok || r.ref.rec == nil {
			continue
		}
		if schema == nil {
			schema = r.ref.rec.Schema()
		}
		if len(keys) > start && f.rows[keys[len(keys)-1]].ref.rec != r.ref.rec {
			if !flush(len(keys)) {
				return
			}
		}
		keys = append(keys, k)
	}
	if !flush(len(keys)) || len(parts) == 0 {
		return
	}
	cols := make([]arrow.Array, schema.NumFields())
	for c := range cols {
		arrs := make([]arrow.Array, len(parts))
		for i, p := range parts {
			arrs[i] = p.Column(c)
		}
		a, err := array.Concatenate(arrs, memory.DefaultAllocator)
		if err != nil {
			return
		}
		cols[c] = a
	}
	all := array.NewRecordBatch(schema, cols, int64(len(keys)))
	f.refs, f.refRows = map[arrow.RecordBatch]int{all: len(keys)}, all.NumRows()
	for i, k := range keys {
		f.rows[k].ref = rowRef{all, i}
	}
}

// snapshot returns the folded rows as a batch of insertions, oldest first.
func (f *fold) snapshot() *batchRows {
	b := &batchRows{}
	for _, k := range f.order {
		r, ok := f.rows[k]
		if !ok {
			continue
		}
		for c := 0; c < r.n; c++ {
			b.ops = append(b.ops, 1)
			b.vals = append(b.vals, r.vals)
			b.keys = append(b.keys, k)
			b.refs = append(b.refs, r.ref)
		}
	}
	return b
}
