package dataflow

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// windowBuffer is the state of the operators that need all of a window's
// rows before they can compute anything (window join, window top-N): it
// buffers each input's rows per window, fires a compute function when the
// watermark completes the window, and keeps the window for its retention so
// that rows arriving later (live mode, after idleness) re-emit it as updates.
//
// Rows are kept zero-copy: a buffered chunk is a received record batch plus
// the indices of its rows that fall into the window (nil when all do). The
// rejected alternative, copying rows into per-window builders on arrival,
// costs a copy of every row whether or not the window ever outputs it (a
// q7-style join outputs one bid in thousands). Memory is therefore the
// received batches themselves, held until the last window using them is
// dropped, plus 4 bytes per row for the index lists of batches that span
// several windows.
//
// A window's state:
//
//	open     rows arrive and are buffered (W < end)
//	fired    W ≥ end: compute ran, its rows were emitted as inserts and are
//	         kept as the window's last output; a row arriving now recomputes
//	         the window and emits the difference (retract, insert)
//	dropped  W ≥ end + retention: forgotten; rows for it are counted in
//	         Metrics.RetentionRows and dropped
//
// Windows fire in order of end, then start. Changelog input is handled: a
// retraction removes one earlier buffered row of its window that is equal to
// it in every column (the most recent such row). A retraction that matches
// nothing (its insert was never seen here) is ignored, with a warning logged
// once per subtask.
//
// Cost: buffering is O(rows) with one map lookup per run of rows of equal
// window; a retraction scans the window's rows of its input backwards
// (retractions only arrive on updates, so they are rare); firing is the
// compute function's cost.
type windowBuffer struct {
	tc        *TaskContext
	compute   windowCompute
	retention int64 // µs past a window's end
	// keys are the exchange keys of each input, for KeyGroups.
	keys []*KeySelector

	windows map[Window]*bufferedWindow
	wm      watermark.Time
	// nextFire is the smallest end of an unfired window, nextDrop the
	// smallest drop time of any window (MaxInt64 if none).
	nextFire, nextDrop int64

	inputs []bufferInput

	// Scratch of add, reused across batches.
	groupOf map[Window]int
	groups  []batchGroup
	rowGrp  []int32
	dirty   []*bufferedWindow
	eq      map[[2]arrow.RecordBatch]rowComparator

	// unmatched counts retractions that found no row to remove.
	unmatched int64

	// restored is set once a snapshot blob was restored; unemitted are
	// restored windows with rows whose output was never emitted
	// (window_buffer_snapshot.go).
	restored  bool
	unemitted []*bufferedWindow
}

// windowCompute computes a window's output rows from its buffered rows,
// inputs[i] being the chunks of input i in arrival order. It must not keep
// or modify the chunks, and its result must depend only on the multiset of
// rows (not on their order or chunking) up to the order of output rows.
type windowCompute func(w Window, inputs [][]rowChunk) ([]arrow.RecordBatch, error)

// bufferInput is what the buffer knows of one input.
type bufferInput struct {
	schema     *arrow.Schema // the last schema seen
	start, end int           // window column indices in schema
}

// rowChunk is a zero-copy run of buffered rows: rows idx of rec, in order,
// or all of rec's rows when idx is nil.
type rowChunk struct {
	rec arrow.RecordBatch
	idx []int32
}

func (c rowChunk) len() int {
	if c.idx == nil {
		return int(c.rec.NumRows())
	}
	return len(c.idx)
}

// row returns the record row of the chunk's k-th row.
func (c rowChunk) row(k int) int {
	if c.idx == nil {
		return k
	}
	return int(c.idx[k])
}

// chunkRows returns the number of rows in chunks.
func chunkRows(chunks []rowChunk) int {
	n := 0
	for _, c := range chunks {
		n += c.len()
	}
	return n
}

type bufferedWindow struct {
	w      Window
	inputs [][]rowChunk
	fired  bool
	dirty  bool
	out    []arrow.RecordBatch // the last output, once fired
}

// batchGroup is the rows of one batch that fall into one window: rows idx,
// or all n rows of the batch when idx is nil.
type batchGroup struct {
	w       Window
	idx     []int32
	n       int
	retract bool // some row is a retraction
}

// resolveRetention turns a spec's retention into µs: nothing is kept past a
// window's end unless a source of the job may go idle (only then can rows
// reach a fired window); otherwise 0 means DefaultRetention and a negative
// value keeps nothing.
func resolveRetention(tc *TaskContext, d time.Duration) int64 {
	switch {
	case !tc.UpdatesPossible:
		return 0
	case d == 0:
		return DefaultRetention.Microseconds()
	case d < 0:
		return 0
	}
	return d.Microseconds()
}

func newWindowBuffer(tc *TaskContext, nInputs int, retention int64, keys []*KeySelector, compute windowCompute) *windowBuffer {
	return &windowBuffer{
		tc: tc, compute: compute, retention: retention, keys: keys,
		windows:  map[Window]*bufferedWindow{},
		wm:       watermark.MinTime,
		nextFire: math.MaxInt64, nextDrop: math.MaxInt64,
		inputs:  make([]bufferInput, nInputs),
		groupOf: map[Window]int{},
		eq:      map[[2]arrow.RecordBatch]rowComparator{},
	}
}

// dropTime is the event time at which a window ending at end is dropped.
func (b *windowBuffer) dropTime(end int64) int64 {
	if end > math.MaxInt64-b.retention {
		return math.MaxInt64
	}
	return end + b.retention
}

// schema returns the last schema seen on input i, or nil.
func (b *windowBuffer) schema(i int) *arrow.Schema { return b.inputs[i].schema }

// KeyGroups implements ManagedState: the key groups of every buffered row,
// hashed by its input's exchange keys. It walks the whole buffer; it runs
// once per checkpoint, not per row.
func (b *windowBuffer) KeyGroups() []int {
	maxP := b.tc.MaxParallelism
	if maxP < 1 {
		maxP = DefaultMaxParallelism
	}
	seen := make([]bool, maxP)
	var hashes []uint64
	for _, bw := range b.windows {
		for i, chunks := range bw.inputs {
			for _, c := range chunks {
				n := int(c.rec.NumRows())
				hashes = slices.Grow(hashes[:0], n)[:n]
				if err := b.keys[i].Hash(c.rec, hashes); err != nil {
					// The same keys hashed this batch in the exchange.
					panic(fmt.Sprintf("dataflow: window buffer: %v", err))
				}
				for k := range c.len() {
					seen[KeyGroupOf(hashes[c.row(k)], maxP)] = true
				}
			}
		}
	}
	var kgs []int
	for kg, ok := range seen {
		if ok {
			kgs = append(kgs, kg)
		}
	}
	return kgs
}

// resolve finds the window columns of input i's schema.
func (b *windowBuffer) resolve(i int, schema *arrow.Schema) error {
	in := &b.inputs[i]
	if in.schema == schema {
		return nil
	}
	start, err := ColumnIndex(schema, WindowStartColumn)
	if err != nil {
		return fmt.Errorf("input %d is not windowed: %w", i, err)
	}
	end, err := ColumnIndex(schema, WindowEndColumn)
	if err != nil {
		return fmt.Errorf("input %d is not windowed: %w", i, err)
	}
	in.schema, in.start, in.end = schema, start, end
	return nil
}

// add buffers the rows of a batch of input i. Rows of windows that already
// fired re-emit those windows as updates; rows of dropped windows are
// counted and dropped.
func (b *windowBuffer) add(ctx context.Context, input int, batch Batch) error {
	if err := b.flushRestored(ctx); err != nil {
		return err
	}
	n := batch.Len()
	if n == 0 {
		return nil
	}
	rec := batch.Rec
	if err := b.resolve(input, rec.Schema()); err != nil {
		return err
	}
	in := b.inputs[input]
	startCol, endCol := rec.Column(in.start), rec.Column(in.end)
	if startCol.NullN() > 0 || endCol.NullN() > 0 {
		return fmt.Errorf("input %d: null %s or %s", input, WindowStartColumn, WindowEndColumn)
	}
	b.groupRows(columnar.Int64Values(startCol), columnar.Int64Values(endCol), batch.Ops)
	clear(b.eq)
	for _, g := range b.groups {
		if int64(b.wm) >= b.dropTime(g.w.End) {
			b.tc.Metrics.RetentionRows.Add(int64(g.n))
			continue
		}
		bw := b.window(g.w)
		if !g.retract {
			bw.inputs[input] = append(bw.inputs[input], rowChunk{rec: rec, idx: g.idx})
		} else if err := b.applyChangelog(bw, input, rec, batch.Ops, g.idx, g.n); err != nil {
			return err
		}
		if bw.fired && !bw.dirty {
			bw.dirty = true
			b.dirty = append(b.dirty, bw)
		}
	}
	if len(b.dirty) == 0 {
		return nil
	}
	slices.SortFunc(b.dirty, func(x, y *bufferedWindow) int { return compareWindows(x.w, y.w) })
	for _, bw := range b.dirty {
		bw.dirty = false
		if err := b.update(ctx, bw); err != nil {
			return err
		}
	}
	clear(b.dirty)
	b.dirty = b.dirty[:0]
	return nil
}

// groupRows splits a batch's rows by window into b.groups, in order of each
// window's first row; each group's idx is its own slice (capacity-limited)
// of one array allocated for the batch, since chunks keep it.
func (b *windowBuffer) groupRows(starts, ends []int64, ops []Op) {
	n := len(starts)
	b.groups = b.groups[:0]
	hasRetract := slices.Contains(ops, Retract)
	// Fast path: the whole batch is one window (tumbling windows, sorted input).
	w0 := Window{starts[0], ends[0]}
	same := true
	for i := 1; i < n; i++ {
		if starts[i] != w0.Start || ends[i] != w0.End {
			same = false
			break
		}
	}
	if same {
		b.groups = append(b.groups, batchGroup{w: w0, n: n, retract: hasRetract})
		return
	}
	clear(b.groupOf)
	b.rowGrp = slices.Grow(b.rowGrp[:0], n)[:n]
	last, lastG := Window{}, -1
	var counts []int
	for i := range n {
		w := Window{starts[i], ends[i]}
		if lastG < 0 || w != last {
			g, ok := b.groupOf[w]
			if !ok {
				g = len(b.groups)
				b.groupOf[w] = g
				b.groups = append(b.groups, batchGroup{w: w})
				counts = append(counts, 0)
			}
			last, lastG = w, g
		}
		b.rowGrp[i] = int32(lastG)
		counts[lastG]++
		if ops != nil && ops[i] == Retract {
			b.groups[lastG].retract = true
		}
	}
	all := make([]int32, n)
	off := 0
	for g, c := range counts {
		b.groups[g].idx = all[off : off : off+c]
		b.groups[g].n = c
		off += c
	}
	for i, g := range b.rowGrp {
		b.groups[g].idx = append(b.groups[g].idx, int32(i))
	}
}

// window returns the state of window w, creating it. A window created after
// the watermark passed its end (a row that arrived after idleness) counts as
// fired with no output yet, so that its rows are emitted as an update.
func (b *windowBuffer) window(w Window) *bufferedWindow {
	if bw, ok := b.windows[w]; ok {
		return bw
	}
	bw := &bufferedWindow{w: w, inputs: make([][]rowChunk, len(b.inputs))}
	b.windows[w] = bw
	if int64(b.wm) >= w.End {
		bw.fired = true
	} else {
		b.nextFire = min(b.nextFire, w.End)
	}
	b.nextDrop = min(b.nextDrop, b.dropTime(w.End))
	return bw
}

// applyChangelog buffers the rows idx (all n rows if nil) of a batch with
// retractions, in order: runs of inserts become chunks, and each retraction
// removes a matching row.
func (b *windowBuffer) applyChangelog(bw *bufferedWindow, input int, rec arrow.RecordBatch, ops []Op, idx []int32, n int) error {
	if idx == nil {
		idx = make([]int32, n)
		for i := range idx {
			idx[i] = int32(i)
		}
	}
	runStart := 0
	flush := func(end int) {
		if end > runStart {
			bw.inputs[input] = append(bw.inputs[input], rowChunk{rec: rec, idx: idx[runStart:end:end]})
		}
	}
	for k, r := range idx {
		if ops[r] != Retract {
			continue
		}
		flush(k)
		runStart = k + 1
		found, err := b.remove(bw, input, rec, int(r))
		if err != nil {
			return err
		}
		if !found {
			b.unmatched++
			if b.unmatched == 1 && b.tc.Logger != nil {
				b.tc.Logger.Warn("window buffer: a retraction matched no buffered row; ignoring it and any later ones",
					"window_start", watermark.Time(bw.w.Start), "window_end", watermark.Time(bw.w.End))
			}
		}
	}
	flush(len(idx))
	return nil
}

// remove deletes from window bw's input the most recent buffered row equal
// (in every column, NULL equal to NULL) to row r of rec.
func (b *windowBuffer) remove(bw *bufferedWindow, input int, rec arrow.RecordBatch, r int) (bool, error) {
	chunks := bw.inputs[input]
	for ci := len(chunks) - 1; ci >= 0; ci-- {
		c := chunks[ci]
		eq, err := b.rowEqual(c.rec, rec)
		if err != nil {
			return false, err
		}
		for k := c.len() - 1; k >= 0; k-- {
			if eq.compare(c.row(k), r) != 0 {
				continue
			}
			if c.len() == 1 {
				bw.inputs[input] = slices.Delete(chunks, ci, ci+1)
				return true, nil
			}
			if c.idx == nil {
				c.idx = make([]int32, c.len())
				for i := range c.idx {
					c.idx[i] = int32(i)
				}
			}
			chunks[ci].idx = slices.Delete(c.idx, k, k+1)
			return true, nil
		}
	}
	return false, nil
}

// rowEqual returns a full-row comparator of a's rows with b's, cached for
// the current batch.
func (b *windowBuffer) rowEqual(x, y arrow.RecordBatch) (rowComparator, error) {
	key := [2]arrow.RecordBatch{x, y}
	if c, ok := b.eq[key]; ok {
		return c, nil
	}
	c, err := recordComparator(x, y)
	if err != nil {
		return rowComparator{}, err
	}
	b.eq[key] = c
	return c, nil
}

// advance moves the buffer's watermark to w: it fires the windows that w
// completes, in order of end then start, and drops those past retention.
func (b *windowBuffer) advance(ctx context.Context, w watermark.Time) error {
	if err := b.flushRestored(ctx); err != nil {
		return err
	}
	if w <= b.wm {
		return nil
	}
	b.wm = w
	if int64(w) >= b.nextFire {
		var due []*bufferedWindow
		next := int64(math.MaxInt64)
		for _, bw := range b.windows {
			switch {
			case bw.fired:
			case int64(w) >= bw.w.End:
				due = append(due, bw)
			default:
				next = min(next, bw.w.End)
			}
		}
		b.nextFire = next
		slices.SortFunc(due, func(x, y *bufferedWindow) int { return compareWindows(x.w, y.w) })
		for _, bw := range due {
			if err := b.fire(ctx, bw); err != nil {
				return err
			}
		}
	}
	if int64(w) >= b.nextDrop {
		next := int64(math.MaxInt64)
		for k, bw := range b.windows {
			if d := b.dropTime(bw.w.End); int64(w) >= d {
				delete(b.windows, k)
			} else {
				next = min(next, d)
			}
		}
		b.nextDrop = next
	}
	return nil
}

func compareWindows(x, y Window) int {
	if c := cmp.Compare(x.End, y.End); c != 0 {
		return c
	}
	return cmp.Compare(x.Start, y.Start)
}

// fire computes a complete window and emits its rows as inserts.
func (b *windowBuffer) fire(ctx context.Context, bw *bufferedWindow) error {
	out, err := b.run(bw)
	if err != nil {
		return err
	}
	bw.fired, bw.out = true, out
	for _, rec := range out {
		if err := b.tc.Out.Emit(ctx, Inserts(rec)); err != nil {
			return err
		}
	}
	return nil
}

// update recomputes a fired window whose rows changed and emits the
// difference to its last output: retractions of the rows that are gone,
// then inserts of the new ones (nothing if the output is unchanged).
func (b *windowBuffer) update(ctx context.Context, bw *bufferedWindow) error {
	out, err := b.run(bw)
	if err != nil {
		return err
	}
	changes, err := diffOutputs(bw.out, out)
	if err != nil {
		return fmt.Errorf("window %s: %w", windowString(bw.w), err)
	}
	bw.out = out
	for _, c := range changes {
		b.tc.Metrics.Updates.Add(int64(c.Len()))
		if err := b.tc.Out.Emit(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// run calls the compute function and coalesces its small outputs.
func (b *windowBuffer) run(bw *bufferedWindow) ([]arrow.RecordBatch, error) {
	out, err := b.compute(bw.w, bw.inputs)
	if err != nil {
		return nil, fmt.Errorf("window %s: %w", windowString(bw.w), err)
	}
	return coalesce(out, coalesceRows)
}

func windowString(w Window) string {
	return fmt.Sprintf("[%s, %s)", watermark.Time(w.Start), watermark.Time(w.End))
}

// coalesceRows is the size up to which coalesce merges output batches: the
// engine's typical batch size.
const coalesceRows = 8192

// coalesce merges runs of consecutive small record batches of one schema
// into batches of up to target rows (a copy of the small ones only), so that
// a compute function producing a few rows per input chunk does not flood
// downstream with tiny batches. Empty batches are dropped.
func coalesce(recs []arrow.RecordBatch, target int) ([]arrow.RecordBatch, error) {
	out := recs[:0:0]
	var run []arrow.RecordBatch
	runRows := 0
	flush := func() error {
		switch len(run) {
		case 0:
			return nil
		case 1:
			out = append(out, run[0])
		default:
			rec, err := concatRecords(run)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		run, runRows = run[:0], 0
		return nil
	}
	for _, r := range recs {
		n := int(r.NumRows())
		if n == 0 {
			continue
		}
		if len(run) > 0 && (runRows+n > target || !run[0].Schema().Equal(r.Schema())) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		run = append(run, r)
		runRows += n
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// concatRecords concatenates record batches of one schema (a copy).
func concatRecords(recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema := recs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	parts := make([]arrow.Array, len(recs))
	rows := 0
	for _, r := range recs {
		rows += int(r.NumRows())
	}
	for c := range cols {
		for i, r := range recs {
			parts[i] = r.Column(c)
		}
		a, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = a
	}
	return columnar.Record(schema, cols, rows), nil
}

// concatChunks returns the rows of chunks as one record batch: the chunk's
// own batch when there is one chunk of whole batch (zero-copy), else a copy.
// It returns nil for no chunks.
func concatChunks(chunks []rowChunk) (arrow.RecordBatch, error) {
	switch {
	case len(chunks) == 0:
		return nil, nil
	case len(chunks) == 1 && chunks[0].idx == nil:
		return chunks[0].rec, nil
	}
	recs := make([]arrow.RecordBatch, len(chunks))
	for i, c := range chunks {
		if c.idx == nil {
			recs[i] = c.rec
			continue
		}
		r, err := columnar.TakeRecord(c.rec, c.idx)
		if err != nil {
			return nil, err
		}
		recs[i] = r
	}
	if len(recs) == 1 {
		return recs[0], nil
	}
	return concatRecords(recs)
}

// diffOutputs returns the changelog from output prev to output cur as
// batches: retractions of prev rows without an equal cur row, then inserts of
// cur rows without an equal prev row (rows matched as multisets, so an
// unchanged output yields nothing whatever its order).
func diffOutputs(prev, cur []arrow.RecordBatch) ([]Batch, error) {
	if len(prev) == 0 || len(cur) == 0 {
		out := make([]Batch, 0, len(prev)+len(cur))
		for _, r := range prev {
			b, _ := changeBatch(r, nil, Retract)
			out = append(out, b)
		}
		for _, r := range cur {
			out = append(out, Inserts(r))
		}
		return out, nil
	}
	prevH, err := hashRecords(prev)
	if err != nil {
		return nil, err
	}
	curH, err := hashRecords(cur)
	if err != nil {
		return nil, err
	}
	type ref struct{ rec, row int32 }
	byHash := map[uint64][]ref{}
	for i, hs := range prevH {
		for r, h := range hs {
			byHash[h] = append(byHash[h], ref{int32(i), int32(r)})
		}
	}
	prevUsed := make([][]bool, len(prev))
	for i, r := range prev {
		prevUsed[i] = make([]bool, r.NumRows())
	}
	cmps := map[[2]int]rowComparator{}
	inserts := make([][]int32, len(cur))
	for j, hs := range curH {
		for r, h := range hs {
			matched := false
			for _, c := range byHash[h] {
				if prevUsed[c.rec][c.row] {
					continue
				}
				key := [2]int{int(c.rec), j}
				rc, ok := cmps[key]
				if !ok {
					if rc, err = recordComparator(prev[c.rec], cur[j]); err != nil {
						return nil, err
					}
					cmps[key] = rc
				}
				if rc.compare(int(c.row), r) == 0 {
					prevUsed[c.rec][c.row], matched = true, true
					break
				}
			}
			if !matched {
				inserts[j] = append(inserts[j], int32(r))
			}
		}
	}
	var out []Batch
	for i, used := range prevUsed {
		var idx []int32
		for r, u := range used {
			if !u {
				idx = append(idx, int32(r))
			}
		}
		if len(idx) == 0 {
			continue
		}
		b, err := changeBatch(prev[i], idx, Retract)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	for j, idx := range inserts {
		if len(idx) == 0 {
			continue
		}
		b, err := changeBatch(cur[j], idx, Insert)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// changeBatch returns rows idx of rec (all of them if idx is nil), all with
// operation op.
func changeBatch(rec arrow.RecordBatch, idx []int32, op Op) (Batch, error) {
	n := int(rec.NumRows())
	if idx != nil && len(idx) != n {
		n = len(idx)
		var err error
		if rec, err = columnar.TakeRecord(rec, idx); err != nil {
			return Batch{}, err
		}
	}
	b := Batch{Rec: rec}
	if op == Retract {
		b.Ops = make([]Op, n)
		for i := range b.Ops {
			b.Ops[i] = Retract
		}
	}
	return b, nil
}

// hashRecords hashes every row of every record over all its columns.
func hashRecords(recs []arrow.RecordBatch) ([][]uint64, error) {
	out := make([][]uint64, len(recs))
	for i, r := range recs {
		out[i] = make([]uint64, r.NumRows())
		if err := columnar.HashColumns(r.Columns(), out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
