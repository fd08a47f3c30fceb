package dataflow

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// SortKey is one term of an ORDER BY.
type SortKey struct {
	Column string
	// Desc sorts in descending order.
	Desc bool
	// NullsFirst puts NULLs before every value (whatever the direction);
	// by default they come last. SQL's defaults (NULLS LAST for ASC, NULLS
	// FIRST for DESC) are the planner's to apply.
	NullsFirst bool
}

// TopNSpec describes a window top-N: per window and partition, the first N
// rows by OrderBy (ROW_NUMBER() OVER (PARTITION BY window_start,
// window_end, PartitionBy... ORDER BY OrderBy...) <= N).
type TopNSpec struct {
	// PartitionBy are the partition columns besides the window (may be empty).
	PartitionBy []string
	// OrderBy orders the rows of a partition. Rows equal on OrderBy are
	// ordered by their other columns (ascending, NULLs first, in schema
	// order), so which rows make the top N never depends on arrival order,
	// parallelism or batching.
	OrderBy []SortKey
	// N is how many rows to keep per partition (at least 1).
	N int
	// RankColumn, if not empty, names an int64 column appended to the
	// output with each row's rank in its partition (1..N, ROW_NUMBER).
	RankColumn string
	// Retention is how long (event time past a window's end) a fired
	// window is kept for updates: 0 means DefaultRetention, negative none.
	// Only live runs can update a fired window (after idleness), so a
	// backfill can set it negative to free each window as it fires.
	Retention time.Duration
}

// WindowTopN adds a window top-N over a windowed stream (rows carrying
// window_start and window_end). It emits each window's top rows once the
// watermark reaches the window's end, ordered by partition, then rank.
//
// The stream must be keyed by columns among PartitionBy, window_start and
// window_end, so that a partition's rows all reach one subtask; with no
// PartitionBy, key it by window_start.
func (s KeyedStream) WindowTopN(name string, p int, spec TopNSpec) Stream {
	keys := s.keys.Columns
	return s.Apply(name, p, func() Operator {
		return &windowTopNOp{spec: spec, keyCols: keys}
	})
}

// windowTopNOp computes a window's top N per partition when it fires: it
// copies the window's buffered rows into one batch (so that one typed
// comparator covers them all), groups them by partition with a hash table,
// and selects in one pass with a bounded heap per partition: O(rows · log N)
// comparisons plus O(P log P) to order P partitions, and memory of the
// window's copy plus N row indices per partition. The rejected alternative,
// a full sort of the window, costs O(rows · log rows) for a result of a few
// rows per partition.
type windowTopNOp struct {
	BaseOperator
	spec    TopNSpec
	keyCols []string
	buf     *windowBuffer

	// The plan for schema in.
	in, out  *arrow.Schema
	part     []int
	partSort sortPlan // partition columns, for grouping and group order
	rowSort  sortPlan // OrderBy, then the remaining columns
}

func (o *windowTopNOp) Open(tc *TaskContext) error {
	o.TC = tc
	if o.spec.N < 1 {
		return fmt.Errorf("window top-n: N = %d, want at least 1", o.spec.N)
	}
	allowed := append([]string{WindowStartColumn, WindowEndColumn}, o.spec.PartitionBy...)
	for _, k := range o.keyCols {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("window top-n: the stream is keyed by %q, which is not a partition column (%s): a partition's rows would be split across subtasks",
				k, strings.Join(allowed, ", "))
		}
	}
	o.buf = newWindowBuffer(tc, 1, resolveRetention(tc, o.spec.Retention), []*KeySelector{Keys(o.keyCols...)}, o.compute)
	return registerBuffer(tc, "window-topn", o.buf)
}

// registerBuffer registers a window buffer as managed state.
func registerBuffer(tc *TaskContext, name string, b *windowBuffer) error {
	if tc.State == nil {
		return nil
	}
	return tc.State.Register(name, b)
}

func (o *windowTopNOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	if b.Len() > 0 && b.Rec.Schema() != o.in {
		if err := o.plan(b.Rec.Schema()); err != nil { // fail on the first row, not at the window's end
			return err
		}
	}
	return o.buf.add(ctx, 0, b)
}

func (o *windowTopNOp) ProcessWatermark(ctx context.Context, w watermark.Time) error {
	return o.buf.advance(ctx, w)
}

// plan resolves the spec against a schema.
func (o *windowTopNOp) plan(schema *arrow.Schema) error {
	if schema == o.in {
		return nil
	}
	part, err := ColumnIndices(schema, o.spec.PartitionBy)
	if err != nil {
		return err
	}
	partKeys := make([]SortKey, len(o.spec.PartitionBy))
	for i, c := range o.spec.PartitionBy {
		partKeys[i] = SortKey{Column: c, NullsFirst: true}
	}
	partSort, err := newSortPlan(schema, partKeys)
	if err != nil {
		return err
	}
	// The order is total up to identical rows: OrderBy, then every other
	// column except the partition and window columns (equal within a
	// partition of a window).
	keys := slices.Clone(o.spec.OrderBy)
	skip := append([]string{WindowStartColumn, WindowEndColumn}, o.spec.PartitionBy...)
	for _, k := range o.spec.OrderBy {
		skip = append(skip, k.Column)
	}
	for _, f := range schema.Fields() {
		if !slices.Contains(skip, f.Name) {
			keys = append(keys, SortKey{Column: f.Name, NullsFirst: true})
		}
	}
	rowSort, err := newSortPlan(schema, keys)
	if err != nil {
		return err
	}
	out := schema
	if o.spec.RankColumn != "" {
		if len(schema.FieldIndices(o.spec.RankColumn)) > 0 {
			return fmt.Errorf("window top-n: rank column %q clashes with an input column", o.spec.RankColumn)
		}
		fields := append(slices.Clone(schema.Fields()), arrow.Field{Name: o.spec.RankColumn, Type: arrow.PrimitiveTypes.Int64})
		out = arrow.NewSchema(fields, nil)
	}
	o.in, o.out, o.part, o.partSort, o.rowSort = schema, out, part, partSort, rowSort
	return nil
}

func (o *windowTopNOp) compute(_ Window, inputs [][]rowChunk) ([]arrow.RecordBatch, error) {
	rec, err := concatChunks(inputs[0])
	if err != nil || rec == nil || rec.NumRows() == 0 {
		return nil, err
	}
	if err := o.plan(rec.Schema()); err != nil {
		return nil, err
	}
	idx, ranks, err := o.topN(rec)
	if err != nil {
		return nil, err
	}
	out, err := columnar.TakeRecord(rec, idx)
	if err != nil {
		return nil, err
	}
	if o.spec.RankColumn != "" {
		cols := append(slices.Clone(out.Columns()), columnar.Int64s(ranks))
		out = columnar.Record(o.out, cols, len(idx))
	}
	return []arrow.RecordBatch{out}, nil
}

// topN returns the rows of rec that are in their partition's top N, ordered
// by partition then rank, with their ranks.
func (o *windowTopNOp) topN(rec arrow.RecordBatch) ([]int32, []int64, error) {
	n := int(rec.NumRows())
	order, err := o.rowSort.bind(rec, rec)
	if err != nil {
		return nil, nil, err
	}
	part, err := o.partSort.bind(rec, rec)
	if err != nil {
		return nil, nil, err
	}
	gid, first, err := o.groups(rec, part)
	if err != nil {
		return nil, nil, err
	}
	ngroups := len(first)

	// A heap of at most N rows per group, worst row at its root, in one
	// arena laid out by group.
	limit := int32(o.spec.N)
	off := make([]int32, ngroups+1)
	for _, g := range gid {
		off[g+1]++
	}
	if gid == nil {
		off[1] = int32(n)
	}
	for g := range ngroups {
		off[g+1] = off[g] + min(off[g+1], limit)
	}
	arena := make([]int32, off[ngroups])
	lens := make([]int32, ngroups)
	worse := func(x, y int32) bool { return order.compare(int(x), int(y)) > 0 }
	for r := range int32(n) {
		g := int32(0)
		if gid != nil {
			g = gid[r]
		}
		h := arena[off[g]:off[g+1]]
		if l := lens[g]; l < int32(len(h)) {
			h[l] = r
			heapUp(h, int(l), worse)
			lens[g]++
		} else if worse(h[0], r) {
			h[0] = r
			heapDown(h, 0, worse)
		}
	}

	groupOrder := make([]int32, ngroups)
	for g := range groupOrder {
		groupOrder[g] = int32(g)
	}
	slices.SortFunc(groupOrder, func(x, y int32) int { return part.compare(int(first[x]), int(first[y])) })
	idx := make([]int32, 0, len(arena))
	ranks := make([]int64, 0, len(arena))
	for _, g := range groupOrder {
		h := arena[off[g] : off[g]+lens[g]]
		slices.SortFunc(h, func(x, y int32) int {
			if c := order.compare(int(x), int(y)); c != 0 {
				return c
			}
			return cmp.Compare(x, y) // identical rows: any order gives the same output
		})
		for i, r := range h {
			idx = append(idx, r)
			ranks = append(ranks, int64(i+1))
		}
	}
	return idx, ranks, nil
}

// groups assigns each row of rec a partition group (nil when there are no
// partition columns: one group) and returns the first row of each group.
// NULLs form one partition, as in GROUP BY.
func (o *windowTopNOp) groups(rec arrow.RecordBatch, part rowComparator) ([]int32, []int32, error) {
	n := int(rec.NumRows())
	if len(o.part) == 0 {
		return nil, []int32{0}, nil
	}
	cols := make([]arrow.Array, len(o.part))
	for i, c := range o.part {
		cols[i] = rec.Column(c)
	}
	hashes := make([]uint64, n)
	if err := columnar.HashColumns(cols, hashes); err != nil {
		return nil, nil, err
	}
	t := newHashChains(n, n)
	gid := make([]int32, n)
	var first []int32
	for r, h := range hashes {
		g := t.head(h)
		for g >= 0 && part.compare(int(first[g]), r) != 0 {
			g = t.next[g]
		}
		if g < 0 {
			g = int32(len(first))
			first = append(first, int32(r))
			t.push(h, g)
		}
		gid[r] = g
	}
	return gid, first, nil
}

// heapUp restores the heap property of h (worst at the root) after h[i] was
// set.
func heapUp(h []int32, i int, worse func(x, y int32) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !worse(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

// heapDown restores the heap property of h after h[i] was replaced.
func heapDown(h []int32, i int, worse func(x, y int32) bool) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && worse(h[c+1], h[c]) {
			c++
		}
		if !worse(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// SortIndices returns the permutation of rec's rows that sorts them by keys:
// out[k] is the row at position k. The sort is stable (rows equal on keys
// keep their order); append the remaining columns as keys to make the order
// independent of the input order. Comparators are typed per column, built
// once per call; supported types are the integers, floats (NaN after every
// number, -0 equal to +0), booleans, strings, binary, and the temporal types.
func SortIndices(rec arrow.RecordBatch, keys []SortKey) ([]int32, error) {
	plan, err := newSortPlan(rec.Schema(), keys)
	if err != nil {
		return nil, err
	}
	c, err := plan.bind(rec, rec)
	if err != nil {
		return nil, err
	}
	idx := make([]int32, rec.NumRows())
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(x, y int32) int {
		if r := c.compare(int(x), int(y)); r != 0 {
			return r
		}
		return cmp.Compare(x, y)
	})
	return idx, nil
}

// sortPlan is an ORDER BY resolved against a schema; bind makes it a typed
// comparator over particular arrays.
type sortPlan struct {
	cols       []int
	desc       []bool
	nullsFirst []bool
}

func newSortPlan(schema *arrow.Schema, keys []SortKey) (sortPlan, error) {
	p := sortPlan{cols: make([]int, len(keys)), desc: make([]bool, len(keys)), nullsFirst: make([]bool, len(keys))}
	for i, k := range keys {
		c, err := ColumnIndex(schema, k.Column)
		if err != nil {
			return sortPlan{}, err
		}
		p.cols[i], p.desc[i], p.nullsFirst[i] = c, k.Desc, k.NullsFirst
	}
	return p, nil
}

// bind returns a comparator of a's rows with b's rows (a and b of one schema).
func (p sortPlan) bind(a, b arrow.RecordBatch) (rowComparator, error) {
	rc := rowComparator{cols: make([]rowCmp, len(p.cols))}
	for i, c := range p.cols {
		f, err := compareArrays(a.Column(c), b.Column(c), p.desc[i], p.nullsFirst[i])
		if err != nil {
			return rowComparator{}, fmt.Errorf("column %q: %w", a.ColumnName(c), err)
		}
		rc.cols[i] = f
	}
	return rc, nil
}

// rowCmp compares row i of one array with row j of another (or the same)
// array: negative, zero or positive.
type rowCmp func(i, j int) int

// rowComparator compares rows of two records column by column.
type rowComparator struct{ cols []rowCmp }

func (c rowComparator) compare(i, j int) int {
	for _, f := range c.cols {
		if r := f(i, j); r != 0 {
			return r
		}
	}
	return 0
}

// recordComparator compares whole rows of a and b, which must have the
// same column types; it is zero exactly for rows equal in every column
// (NULL equal to NULL).
func recordComparator(a, b arrow.RecordBatch) (rowComparator, error) {
	if a.NumCols() != b.NumCols() {
		return rowComparator{}, fmt.Errorf("rows of %d and %d columns", a.NumCols(), b.NumCols())
	}
	rc := rowComparator{cols: make([]rowCmp, a.NumCols())}
	for c := range rc.cols {
		f, err := compareArrays(a.Column(c), b.Column(c), false, true)
		if err != nil {
			return rowComparator{}, fmt.Errorf("column %q: %w", a.ColumnName(c), err)
		}
		rc.cols[c] = f
	}
	return rc, nil
}

// compareArrays returns a typed comparator of a's rows with b's rows, which
// must be of one type. NULLs equal each other and sort first or last as
// asked; desc reverses the order of values only.
func compareArrays(a, b arrow.Array, desc, nullsFirst bool) (rowCmp, error) {
	if !arrow.TypeEqual(a.DataType(), b.DataType()) {
		return nil, fmt.Errorf("cannot compare %s with %s", a.DataType(), b.DataType())
	}
	f, err := compareValues(a, b)
	if err != nil {
		return nil, err
	}
	if desc {
		asc := f
		f = func(i, j int) int { return -asc(i, j) }
	}
	if a.NullN() == 0 && b.NullN() == 0 || a.DataType().ID() == arrow.NULL {
		return f, nil
	}
	nullOrder := 1
	if nullsFirst {
		nullOrder = -1
	}
	am, ao := a.NullBitmapBytes(), a.Data().Offset()
	bm, bo := b.NullBitmapBytes(), b.Data().Offset()
	return func(i, j int) int {
		an := am != nil && !bitutil.BitIsSet(am, ao+i)
		bn := bm != nil && !bitutil.BitIsSet(bm, bo+j)
		switch {
		case an && bn:
			return 0
		case an:
			return nullOrder
		case bn:
			return -nullOrder
		}
		return f(i, j)
	}, nil
}

// compareValues compares the values (ignoring validity) of a's row i with
// b's row j, ascending.
func compareValues(a, b arrow.Array) (rowCmp, error) {
	switch a.DataType().ID() {
	case arrow.INT64, arrow.TIMESTAMP, arrow.DATE64, arrow.TIME64, arrow.DURATION:
		return ordered(columnar.Int64Values(a), columnar.Int64Values(b)), nil
	case arrow.INT32, arrow.DATE32, arrow.TIME32:
		return ordered(columnar.Int32Values(a), columnar.Int32Values(b)), nil
	case arrow.INT16:
		return ordered(a.(*array.Int16).Int16Values(), b.(*array.Int16).Int16Values()), nil
	case arrow.INT8:
		return ordered(a.(*array.Int8).Int8Values(), b.(*array.Int8).Int8Values()), nil
	case arrow.UINT64:
		return ordered(a.(*array.Uint64).Uint64Values(), b.(*array.Uint64).Uint64Values()), nil
	case arrow.UINT32:
		return ordered(a.(*array.Uint32).Uint32Values(), b.(*array.Uint32).Uint32Values()), nil
	case arrow.UINT16:
		return ordered(a.(*array.Uint16).Uint16Values(), b.(*array.Uint16).Uint16Values()), nil
	case arrow.UINT8:
		return ordered(a.(*array.Uint8).Uint8Values(), b.(*array.Uint8).Uint8Values()), nil
	case arrow.FLOAT64:
		return floats(columnar.Float64Values(a), columnar.Float64Values(b)), nil
	case arrow.FLOAT32:
		return floats(a.(*array.Float32).Float32Values(), b.(*array.Float32).Float32Values()), nil
	case arrow.BOOL:
		x, y := a.(*array.Boolean), b.(*array.Boolean)
		return func(i, j int) int {
			xv, yv := x.Value(i), y.Value(j)
			switch {
			case xv == yv:
				return 0
			case xv:
				return 1
			}
			return -1
		}, nil
	case arrow.STRING:
		x, y := a.(*array.String), b.(*array.String)
		return func(i, j int) int { return strings.Compare(x.Value(i), y.Value(j)) }, nil
	case arrow.LARGE_STRING:
		x, y := a.(*array.LargeString), b.(*array.LargeString)
		return func(i, j int) int { return strings.Compare(x.Value(i), y.Value(j)) }, nil
	case arrow.BINARY:
		x, y := a.(*array.Binary), b.(*array.Binary)
		return func(i, j int) int { return bytes.Compare(x.Value(i), y.Value(j)) }, nil
	case arrow.LARGE_BINARY:
		x, y := a.(*array.LargeBinary), b.(*array.LargeBinary)
		return func(i, j int) int { return bytes.Compare(x.Value(i), y.Value(j)) }, nil
	case arrow.NULL:
		return func(int, int) int { return 0 }, nil
	}
	return nil, fmt.Errorf("cannot compare values of type %s", a.DataType())
}

func ordered[T cmp.Ordered](x, y []T) rowCmp {
	return func(i, j int) int { return cmp.Compare(x[i], y[j]) }
}

// floats orders NaN after every number (as PostgreSQL does) and -0 equal to
// +0, so that the order agrees with HashColumns' equality.
func floats[T float32 | float64](x, y []T) rowCmp {
	return func(i, j int) int {
		xv, yv := x[i], y[j]
		switch {
		case xv < yv:
			return -1
		case xv > yv:
			return 1
		case xv == yv:
			return 0
		}
		// At least one is NaN.
		xn, yn := xv != xv, yv != yv
		switch {
		case xn && yn:
			return 0
		case xn:
			return 1
		}
		return -1
	}
}
