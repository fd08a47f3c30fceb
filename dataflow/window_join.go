package dataflow

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// JoinKind is the kind of a join: inner, or outer on one or both sides.
type JoinKind uint8

const (
	// InnerJoin emits the matching pairs only.
	InnerJoin JoinKind = iota
	// LeftOuterJoin also emits each left row without a match, with NULL
	// right columns.
	LeftOuterJoin
	// RightOuterJoin also emits each right row without a match, with NULL
	// left columns.
	RightOuterJoin
	// FullOuterJoin emits the rows without a match of both sides.
	FullOuterJoin
)

func (k JoinKind) String() string {
	switch k {
	case InnerJoin:
		return "INNER"
	case LeftOuterJoin:
		return "LEFT OUTER"
	case RightOuterJoin:
		return "RIGHT OUTER"
	case FullOuterJoin:
		return "FULL OUTER"
	}
	return fmt.Sprintf("JoinKind(%d)", k)
}

func (k JoinKind) keepsLeft() bool  { return k == LeftOuterJoin || k == FullOuterJoin }
func (k JoinKind) keepsRight() bool { return k == RightOuterJoin || k == FullOuterJoin }

// WindowJoinSpec describes a window join (Flink SQL's window join): a left
// and a right row join when they belong to the same window (equal
// window_start and window_end) and their join keys are equal with SQL
// equality (a NULL key matches nothing).
//
// Output columns: all left columns, in order, then the right columns except
// right's window_start and window_end. A right column whose name is already
// taken is prefixed with "right_" (repeatedly, until the name is free): a
// join of (id, name) with (id, seller) outputs (id, name, right_id, seller).
// The window columns are the window's bounds, also in rows of an outer join
// whose left side is NULL.
type WindowJoinSpec struct {
	// LeftKeys and RightKeys are the equi-join columns (besides the
	// window): LeftKeys[i] = RightKeys[i]. They may be empty (every left
	// row joins every right row of its window). Key columns of a pair must
	// have the same type.
	LeftKeys, RightKeys []string
	// Kind is inner (the default) or outer.
	Kind JoinKind
	// LeftSchema and RightSchema are the inputs' schemas. Only outer joins
	// need them, to NULL-pad a side from which a subtask has seen no row at
	// all; otherwise the schema of the rows received is used.
	LeftSchema, RightSchema *arrow.Schema
	// Retention is how long (event time past a window's end) a fired
	// window is kept for updates: 0 means DefaultRetention, negative none.
	// Only live runs can update a fired window (after idleness), so a
	// backfill can set it negative to free each window as it fires.
	Retention time.Duration
}

// WindowJoin adds a window join of two windowed streams (rows carrying
// window_start and window_end). Each window's joined rows are emitted once
// the watermark (the minimum of both inputs') reaches its end.
//
// Rows that may join must meet on one subtask, so both inputs go through a
// hash exchange. An input given as a plain Stream is keyed by its join keys
// or, with no join keys, by window_start (then a window's rows all meet on
// one subtask, and different windows spread over the subtasks). An input
// given as a KeyedStream keeps its keys, which must correspond to the other
// input's: key i of both inputs must be a pair of join keys, or both
// window_start, or both window_end. When only one input is keyed, the
// other is keyed by the corresponding columns.
func (g *Graph) WindowJoin(name string, p int, left, right Input, spec WindowJoinSpec) Stream {
	ls, lk := left.edgeSpec()
	rs, rk := right.edgeSpec()
	lcols, rcols, err := joinExchangeKeys(spec, lk, rk)
	inputs := []Input{left, right}
	if err == nil {
		if lk == nil {
			inputs[0] = ls.KeyBy(lcols...)
		}
		if rk == nil {
			inputs[1] = rs.KeyBy(rcols...)
		}
	}
	return g.Connect(name, p, func() Operator {
		return &windowJoinOp{spec: spec, exchange: [2][]string{lcols, rcols}, err: err}
	}, inputs...)
}

// joinExchangeKeys returns the hash-exchange columns of both inputs of a
// window join, given the keys the caller partitioned them by (nil: none).
func joinExchangeKeys(spec WindowJoinSpec, lk, rk *KeySelector) ([]string, []string, error) {
	if len(spec.LeftKeys) != len(spec.RightKeys) {
		return nil, nil, fmt.Errorf("window join: %d left keys but %d right keys", len(spec.LeftKeys), len(spec.RightKeys))
	}
	pairs := [][2]string{{WindowStartColumn, WindowStartColumn}, {WindowEndColumn, WindowEndColumn}}
	for i := range spec.LeftKeys {
		pairs = append(pairs, [2]string{spec.LeftKeys[i], spec.RightKeys[i]})
	}
	counterpart := func(col string, from int) (string, bool) {
		for _, p := range pairs {
			if p[from] == col {
				return p[1-from], true
			}
		}
		return "", false
	}
	switch {
	case lk == nil && rk == nil:
		if len(spec.LeftKeys) == 0 {
			return []string{WindowStartColumn}, []string{WindowStartColumn}, nil
		}
		return spec.LeftKeys, spec.RightKeys, nil
	case rk == nil:
		rcols := make([]string, len(lk.Columns))
		for i, c := range lk.Columns {
			o, ok := counterpart(c, 0)
			if !ok {
				return nil, nil, fmt.Errorf("window join: the left input is keyed by %q, which is not a left join key or window column", c)
			}
			rcols[i] = o
		}
		return lk.Columns, rcols, nil
	case lk == nil:
		lcols := make([]string, len(rk.Columns))
		for i, c := range rk.Columns {
			o, ok := counterpart(c, 1)
			if !ok {
				return nil, nil, fmt.Errorf("window join: the right input is keyed by %q, which is not a right join key or window column", c)
			}
			lcols[i] = o
		}
		return lcols, rk.Columns, nil
	}
	bad := len(lk.Columns) != len(rk.Columns)
	for i := 0; !bad && i < len(lk.Columns); i++ {
		bad = !slices.Contains(pairs, [2]string{lk.Columns[i], rk.Columns[i]})
	}
	if bad {
		return nil, nil, fmt.Errorf("window join: the inputs are keyed by (%s) and (%s), which are not corresponding join keys: equal keys would not meet on one subtask",
			strings.Join(lk.Columns, ", "), strings.Join(rk.Columns, ", "))
	}
	return lk.Columns, rk.Columns, nil
}

// windowJoinOp joins each window's rows with a hash join when the window
// fires: the smaller side (by row count) is copied into one batch and
// indexed by its key hash; the other side is probed chunk by chunk where it
// was buffered, without a copy. Cost per window: O(left + right + output)
// expected, memory O(smaller side). Output columns are gathered with typed
// Takes of the matching row indices.
//
// Rejected alternative: a symmetric hash join that emits matches as rows
// arrive. Window joins emit at the window's end anyway (Flink does the
// same), and probing once with the smaller side built is cheaper than
// maintaining two hash tables.
type windowJoinOp struct {
	BaseOperator
	spec     WindowJoinSpec
	exchange [2][]string
	err      error
	buf      *windowBuffer
	plan     *joinPlan
	checked  [2]*arrow.Schema // the input schemas whose keys were found
}

// joinPlan is a join resolved against both inputs' schemas.
type joinPlan struct {
	in   [2]*arrow.Schema
	out  *arrow.Schema
	keys [2][]int
	// start and end are the window columns of the left input (and output).
	start, end int
	// right are the right columns of the output, after the left ones.
	right []int
}

func (o *windowJoinOp) Open(tc *TaskContext) error {
	o.TC = tc
	if o.err != nil {
		return o.err
	}
	if o.spec.Kind > FullOuterJoin {
		return fmt.Errorf("window join: unknown join kind %d", o.spec.Kind)
	}
	keys := []*KeySelector{Keys(o.exchange[0]...), Keys(o.exchange[1]...)}
	o.buf = newWindowBuffer(tc, 2, resolveRetention(tc, o.spec.Retention), keys, o.compute)
	return registerBuffer(tc, "window-join", o.buf)
}

func (o *windowJoinOp) ProcessBatch(ctx context.Context, input int, b Batch) error {
	if b.Len() > 0 && b.Rec.Schema() != o.checked[input] {
		// Fail on the first row rather than at the window's end.
		keys, side := o.spec.LeftKeys, "left"
		if input == 1 {
			keys, side = o.spec.RightKeys, "right"
		}
		if _, err := ColumnIndices(b.Rec.Schema(), keys); err != nil {
			return fmt.Errorf("window join: %s: %w", side, err)
		}
		o.checked[input] = b.Rec.Schema()
	}
	return o.buf.add(ctx, input, b)
}

func (o *windowJoinOp) ProcessWatermark(ctx context.Context, w watermark.Time) error {
	return o.buf.advance(ctx, w)
}

// inputSchema returns the schema of input i: of its buffered rows, else the
// last one seen, else the spec's.
func (o *windowJoinOp) inputSchema(i int, chunks []rowChunk) (*arrow.Schema, error) {
	if len(chunks) > 0 {
		return chunks[0].rec.Schema(), nil
	}
	if s := o.buf.schema(i); s != nil {
		return s, nil
	}
	s, side, field := o.spec.LeftSchema, "left", "LeftSchema"
	if i == 1 {
		s, side, field = o.spec.RightSchema, "right", "RightSchema"
	}
	if s == nil {
		return nil, fmt.Errorf("window join: no row of the %s input reached this subtask, so its schema is unknown: set WindowJoinSpec.%s", side, field)
	}
	return s, nil
}

// resolve returns the plan for the schemas of both inputs.
func (o *windowJoinOp) resolve(ls, rs *arrow.Schema) (*joinPlan, error) {
	if p := o.plan; p != nil && p.in[0] == ls && p.in[1] == rs {
		return p, nil
	}
	p := &joinPlan{in: [2]*arrow.Schema{ls, rs}}
	var err error
	if p.keys[0], err = ColumnIndices(ls, o.spec.LeftKeys); err != nil {
		return nil, fmt.Errorf("window join: left: %w", err)
	}
	if p.keys[1], err = ColumnIndices(rs, o.spec.RightKeys); err != nil {
		return nil, fmt.Errorf("window join: right: %w", err)
	}
	for i, l := range p.keys[0] {
		lt, rt := ls.Field(l).Type, rs.Field(p.keys[1][i]).Type
		if !arrow.TypeEqual(lt, rt) {
			return nil, fmt.Errorf("window join: key %s (%s) and %s (%s) have different types",
				ls.Field(l).Name, lt, rs.Field(p.keys[1][i]).Name, rt)
		}
	}
	if p.start, err = ColumnIndex(ls, WindowStartColumn); err != nil {
		return nil, fmt.Errorf("window join: left: %w", err)
	}
	if p.end, err = ColumnIndex(ls, WindowEndColumn); err != nil {
		return nil, fmt.Errorf("window join: left: %w", err)
	}
	fields := make([]arrow.Field, 0, ls.NumFields()+rs.NumFields())
	taken := map[string]bool{}
	for i, f := range ls.Fields() {
		if o.spec.Kind.keepsRight() && i != p.start && i != p.end {
			f.Nullable = true
		}
		fields = append(fields, f)
		taken[f.Name] = true
	}
	for i, f := range rs.Fields() {
		if f.Name == WindowStartColumn || f.Name == WindowEndColumn {
			continue
		}
		for taken[f.Name] {
			f.Name = "right_" + f.Name
		}
		if o.spec.Kind.keepsLeft() {
			f.Nullable = true
		}
		fields = append(fields, f)
		taken[f.Name] = true
		p.right = append(p.right, i)
	}
	p.out = arrow.NewSchema(fields, nil)
	o.plan = p
	return p, nil
}

// compute joins the rows of window w.
func (o *windowJoinOp) compute(w Window, inputs [][]rowChunk) ([]arrow.RecordBatch, error) {
	kind := o.spec.Kind
	n := [2]int{chunkRows(inputs[0]), chunkRows(inputs[1])}
	someOutput := n[0] > 0 && n[1] > 0 || n[0] > 0 && kind.keepsLeft() || n[1] > 0 && kind.keepsRight()
	if !someOutput {
		return nil, nil
	}
	ls, err := o.inputSchema(0, inputs[0])
	if err != nil {
		return nil, err
	}
	rs, err := o.inputSchema(1, inputs[1])
	if err != nil {
		return nil, err
	}
	p, err := o.resolve(ls, rs)
	if err != nil {
		return nil, err
	}
	j := &windowJoin{plan: p, w: w}
	// Build on the smaller side; on a tie, on the right (the usual shape:
	// many facts joined with one row per window and key).
	bs := 1
	if n[0] < n[1] {
		bs = 0
	}
	ps := 1 - bs
	keepBuild, keepProbe := kind.keepsLeft(), kind.keepsRight()
	if bs == 1 {
		keepBuild, keepProbe = keepProbe, keepBuild
	}
	build, err := concatChunks(inputs[bs])
	if err != nil {
		return nil, err
	}
	var table *hashChains
	var matched []bool
	if build != nil {
		if table, err = buildTable(build, p.keys[bs]); err != nil {
			return nil, err
		}
		if keepBuild {
			matched = make([]bool, build.NumRows())
		}
	}
	var out []arrow.RecordBatch
	var hashes []uint64
	for _, c := range inputs[ps] {
		probe := c.rec
		keyCols := columnsOf(probe, p.keys[ps])
		nullable := nullableColumns(keyCols)
		if table != nil {
			rows := int(probe.NumRows())
			hashes = slices.Grow(hashes[:0], rows)[:rows]
			if err := columnar.HashColumns(keyCols, hashes); err != nil {
				return nil, err
			}
		}
		var eq rowComparator
		if table != nil {
			if eq, err = keyComparator(build, p.keys[bs], keyCols); err != nil {
				return nil, err
			}
		}
		var bIdx, pIdx, lone []int32
		// flush outputs the pairs found so far: a window's output (a cross
		// product with no keys) can be huge, and is emitted in batches of
		// about coalesceRows.
		flush := func() error {
			if len(bIdx) == 0 {
				return nil
			}
			var rec arrow.RecordBatch
			var err error
			if bs == 1 {
				rec, err = j.output(probe, pIdx, build, bIdx, len(bIdx))
			} else {
				rec, err = j.output(build, bIdx, probe, pIdx, len(bIdx))
			}
			if err != nil {
				return err
			}
			out = append(out, rec)
			bIdx, pIdx = bIdx[:0], pIdx[:0] // Take copied the rows
			return nil
		}
		for k := range c.len() {
			r := c.row(k)
			found := false
			if table != nil && !anyNull(nullable, r) {
				for b := table.head(hashes[r]); b >= 0; b = table.next[b] {
					if eq.compare(int(b), r) == 0 {
						bIdx, pIdx = append(bIdx, b), append(pIdx, int32(r))
						found = true
						if matched != nil {
							matched[b] = true
						}
					}
				}
			}
			if !found && keepProbe {
				lone = append(lone, int32(r))
			}
			if len(bIdx) >= coalesceRows {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
		if len(lone) > 0 {
			rec, err := j.padded(ps, probe, lone)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	if keepBuild && build != nil {
		var lone []int32
		for b, m := range matched {
			if !m {
				lone = append(lone, int32(b))
			}
		}
		if len(lone) > 0 {
			rec, err := j.padded(bs, build, lone)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// buildTable indexes the rows of rec by the hash of their key columns
// (rows with a NULL key are left out: they match nothing), with each
// hash's rows chained in row order.
func buildTable(rec arrow.RecordBatch, keys []int) (*hashChains, error) {
	n := int(rec.NumRows())
	cols := columnsOf(rec, keys)
	hashes := make([]uint64, n)
	if err := columnar.HashColumns(cols, hashes); err != nil {
		return nil, err
	}
	nullable := nullableColumns(cols)
	t := newHashChains(n, n)
	for r := n - 1; r >= 0; r-- {
		if !anyNull(nullable, r) {
			t.push(hashes[r], int32(r))
		}
	}
	return t, nil
}

// keyComparator compares the keys of build's rows with those of probe's.
func keyComparator(build arrow.RecordBatch, keys []int, probe []arrow.Array) (rowComparator, error) {
	rc := rowComparator{cols: make([]rowCmp, len(keys))}
	for i, k := range keys {
		f, err := compareArrays(build.Column(k), probe[i], false, false)
		if err != nil {
			return rowComparator{}, fmt.Errorf("window join: key %q: %w", build.ColumnName(k), err)
		}
		rc.cols[i] = f
	}
	return rc, nil
}

func columnsOf(rec arrow.RecordBatch, idx []int) []arrow.Array {
	cols := make([]arrow.Array, len(idx))
	for i, c := range idx {
		cols[i] = rec.Column(c)
	}
	return cols
}

// nullableColumns returns the columns of cols that hold a NULL.
func nullableColumns(cols []arrow.Array) []arrow.Array {
	var out []arrow.Array
	for _, c := range cols {
		if c.NullN() > 0 {
			out = append(out, c)
		}
	}
	return out
}

func anyNull(cols []arrow.Array, r int) bool {
	for _, c := range cols {
		if c.IsNull(r) {
			return true
		}
	}
	return false
}

// windowJoin assembles the output of one window.
type windowJoin struct {
	plan *joinPlan
	w    Window
}

// output gathers rows lIdx of left and rIdx of right into n output rows; a
// nil side is NULL.
func (j *windowJoin) output(left arrow.RecordBatch, lIdx []int32, right arrow.RecordBatch, rIdx []int32, n int) (arrow.RecordBatch, error) {
	p := j.plan
	cols := make([]arrow.Array, 0, p.out.NumFields())
	for c, f := range p.in[0].Fields() {
		var a arrow.Array
		var err error
		switch {
		case c == p.start:
			a = constantColumn(f.Type, j.w.Start, n)
		case c == p.end:
			a = constantColumn(f.Type, j.w.End, n)
		case left == nil:
			a = array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, n)
		default:
			a, err = columnar.Take(left.Column(c), lIdx)
		}
		if err != nil {
			return nil, fmt.Errorf("window join: column %q: %w", f.Name, err)
		}
		cols = append(cols, a)
	}
	for _, c := range p.right {
		f := p.in[1].Field(c)
		if right == nil {
			cols = append(cols, array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, n))
			continue
		}
		a, err := columnar.Take(right.Column(c), rIdx)
		if err != nil {
			return nil, fmt.Errorf("window join: column %q: %w", f.Name, err)
		}
		cols = append(cols, a)
	}
	return columnar.Record(p.out, cols, n), nil
}

// padded outputs rows idx of side's rec with the other side NULL.
func (j *windowJoin) padded(side int, rec arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	if side == 0 {
		return j.output(rec, idx, nil, nil, len(idx))
	}
	return j.output(nil, nil, rec, idx, len(idx))
}

// constantColumn returns n copies of a 64-bit value as an array of type dt.
func constantColumn(dt arrow.DataType, v int64, n int) arrow.Array {
	vals := make([]int64, n)
	for i := range vals {
		vals[i] = v
	}
	return columnar.Fixed(dt, vals, nil, 0)
}

// hashChains maps 64-bit hashes to chains of int32 ids (build rows, groups):
// the ids pushed with one hash, most recent first. It is an open-addressing
// table with linear probing, at most half full. A hash's home slot comes
// from its high bits (Fibonacci hashing): the low bits of the hashes that
// reach one subtask are skewed, since they chose its key groups.
//
// Rejected alternative: map[uint64][]int32, which allocates a slice per key
// and costs about three times as much per lookup.
type hashChains struct {
	shift uint
	slots []chainSlot
	// next[id] is the id pushed before id with the same hash, or -1.
	next []int32
}

type chainSlot struct {
	hash uint64
	head int32 // the chain's first id + 1; 0 marks an empty slot
}

// newHashChains returns a table for up to keys distinct hashes and ids in
// [0, ids).
func newHashChains(keys, ids int) *hashChains {
	size := 8
	for size < 2*keys {
		size <<= 1
	}
	return &hashChains{
		shift: uint(64 - bits.TrailingZeros(uint(size))),
		slots: make([]chainSlot, size),
		next:  make([]int32, ids),
	}
}

func (t *hashChains) slot(h uint64) int {
	mask := len(t.slots) - 1
	i := int((h * 0x9e3779b97f4a7c15) >> t.shift)
	for t.slots[i].head != 0 && t.slots[i].hash != h {
		i = (i + 1) & mask
	}
	return i
}

// head returns the first id of h's chain, or -1.
func (t *hashChains) head(h uint64) int32 { return t.slots[t.slot(h)].head - 1 }

// push prepends id to h's chain.
func (t *hashChains) push(h uint64, id int32) {
	s := &t.slots[t.slot(h)]
	s.hash = h
	t.next[id] = s.head - 1
	s.head = id + 1
}
