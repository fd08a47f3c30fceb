package dataflow

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// MapFunc transforms a whole record batch (a projection, computed columns).
// It must not modify rec.
type MapFunc func(rec arrow.RecordBatch) (arrow.RecordBatch, error)

// FilterFunc returns the indices of the rows of rec to keep, in order. sel
// is scratch space the function may append to and return.
type FilterFunc func(rec arrow.RecordBatch, sel []int32) ([]int32, error)

type mapOp struct {
	BaseOperator
	fn MapFunc
}

func (o *mapOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	rec, err := o.fn(b.Rec)
	if err != nil {
		return err
	}
	if rec.NumRows() != b.Rec.NumRows() && b.Ops != nil {
		return fmt.Errorf("map changed the row count of a changelog batch")
	}
	return o.TC.Out.Emit(ctx, Batch{Rec: rec, Ops: b.Ops})
}

// Map adds a vectorized map operator (chained to its input when possible).
func (s Stream) Map(name string, fn MapFunc) Stream {
	return s.Apply(name, s.node.Parallelism, func() Operator { return &mapOp{fn: fn} })
}

type filterOp struct {
	BaseOperator
	fn  FilterFunc
	sel []int32
}

func (o *filterOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	sel, err := o.fn(b.Rec, o.sel[:0])
	if err != nil {
		return err
	}
	o.sel = sel
	switch len(sel) {
	case 0:
		return nil
	case b.Len():
		return o.TC.Out.Emit(ctx, b)
	}
	out, err := takeBatch(b, sel)
	if err != nil {
		return err
	}
	return o.TC.Out.Emit(ctx, out)
}

// Filter adds a vectorized filter operator (chained to its input when possible).
func (s Stream) Filter(name string, fn FilterFunc) Stream {
	return s.Apply(name, s.node.Parallelism, func() Operator { return &filterOp{fn: fn} })
}

// unionOp forwards every input unchanged; the runtime combines watermarks.
type unionOp struct{ BaseOperator }

func (o *unionOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	return o.TC.Out.Emit(ctx, b)
}

// Union merges streams of one schema (UNION ALL).
func (g *Graph) Union(name string, p int, inputs ...Input) Stream {
	return g.Connect(name, p, func() Operator { return &unionOp{} }, inputs...)
}

// Project keeps the named columns, in that order.
func Project(cols ...string) MapFunc {
	var in, out *arrow.Schema
	var idx []int
	var mu sync.Mutex
	return func(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		mu.Lock()
		if rec.Schema() != in {
			var err error
			if idx, err = ColumnIndices(rec.Schema(), cols); err != nil {
				mu.Unlock()
				return nil, err
			}
			fields := make([]arrow.Field, len(idx))
			for i, j := range idx {
				fields[i] = rec.Schema().Field(j)
			}
			in, out = rec.Schema(), arrow.NewSchema(fields, nil)
		}
		schema, ix := out, idx
		mu.Unlock()
		arrs := make([]arrow.Array, len(ix))
		for i, j := range ix {
			arrs[i] = rec.Column(j)
		}
		return columnar.Record(schema, arrs, int(rec.NumRows())), nil
	}
}
