package dataflow

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/watermark"
)

// LookupJoinSpec describes a lookup join of a stream (left) against a
// bounded table (right, a dimension): each stream row joins the table's rows
// with equal keys (SQL equality). The table is read fully and broadcast to
// every subtask, which builds a hash table of it; stream rows stay on their
// subtask (no exchange) and probe it. Stream rows that arrive before the
// table is complete wait, so every stream row sees the whole table — the
// answer does not depend on which input was faster.
//
// The table is complete when the operator's watermark (the minimum of both
// inputs') first rises above its minimum: the table side must carry no
// event time, so its watermark stays at the minimum until it ends. Without
// watermarks on the stream either, results come when every input ended.
//
// Stream retractions pass through (a retracted row retracts its joins).
// Output columns: as RegularJoinSpec's.
type LookupJoinSpec struct {
	LeftKeys, RightKeys []string
	// Kind is InnerJoin or LeftOuterJoin (unmatched stream rows NULL-padded).
	Kind                    JoinKind
	LeftSchema, RightSchema *arrow.Schema
}

// LookupJoin adds a lookup join: the stream is forwarded (so a retraction
// meets its insertion downstream in order), the table broadcast.
func (g *Graph) LookupJoin(name string, p int, stream, table Stream, spec LookupJoinSpec) Stream {
	return g.Connect(name, p, func() Operator { return &lookupJoinOp{spec: spec} }, stream, table.Broadcast())
}

type lookupJoinOp struct {
	BaseOperator
	spec    LookupJoinSpec
	out     *arrow.Schema
	sides   [2]joinSide
	table   map[string][]*joinRow
	ready   bool
	pending []Batch
	keyBuf  []byte
	// tableRestored is set once a restore took the table from a blob.
	tableRestored bool
}

func (o *lookupJoinOp) Open(tc *TaskContext) error {
	o.TC = tc
	if o.spec.Kind != InnerJoin && o.spec.Kind != LeftOuterJoin {
		return fmt.Errorf("lookup join: only inner and left outer joins are supported, not %s", o.spec.Kind)
	}
	if len(o.spec.LeftKeys) == 0 || len(o.spec.LeftKeys) != len(o.spec.RightKeys) {
		return fmt.Errorf("lookup join: needs equal, non-empty lists of left and right keys")
	}
	if o.spec.LeftSchema == nil || o.spec.RightSchema == nil {
		return fmt.Errorf("lookup join: needs both inputs' schemas")
	}
	o.table = map[string][]*joinRow{}
	for side, schema := range []*arrow.Schema{o.spec.LeftSchema, o.spec.RightSchema} {
		names := o.spec.LeftKeys
		if side == 1 {
			names = o.spec.RightKeys
		}
		keys, err := ColumnIndices(schema, names)
		if err != nil {
			return fmt.Errorf("lookup join: %w", err)
		}
		arena, err := newSlotArena(schema, keys, nil)
		if err != nil {
			return fmt.Errorf("lookup join: %w", err)
		}
		o.sides[side] = joinSide{schema: schema, keys: keys, kinds: arena.keys, timeIdx: -1}
	}
	o.out = JoinSchema(o.spec.LeftSchema, o.spec.RightSchema)
	return nil
}

func (o *lookupJoinOp) key(side int, rec arrow.RecordBatch, r int) (string, bool) {
	s := &o.sides[side]
	for _, k := range s.keys {
		if rec.Column(k).IsNull(r) {
			return "", false
		}
	}
	o.keyBuf = appendKey(o.keyBuf[:0], rec, s.keys, s.kinds, r)
	return string(o.keyBuf), true
}

func (o *lookupJoinOp) ProcessBatch(ctx context.Context, input int, b Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if err := o.drainRestored(ctx); err != nil {
		return err
	}
	if !b.Rec.Schema().Equal(o.sides[input].schema) {
		return fmt.Errorf("lookup join: input %d has schema %s, want %s", input, b.Rec.Schema(), o.sides[input].schema)
	}
	if input == 1 {
		if o.ready {
			return fmt.Errorf("lookup join: table rows after the table was complete")
		}
		for r := 0; r < b.Len(); r++ {
			if b.Op(r) == Retract {
				return fmt.Errorf("lookup join: the table side must not retract")
			}
			if k, ok := o.key(1, b.Rec, r); ok {
				o.table[k] = append(o.table[k], &joinRow{rec: b.Rec, r: r, side: 1})
			}
		}
		return nil
	}
	if !o.ready {
		o.pending = append(o.pending, b)
		return nil
	}
	return o.probe(ctx, b)
}

func (o *lookupJoinOp) probe(ctx context.Context, b Batch) error {
	var pairs []pair
	for r := 0; r < b.Len(); r++ {
		row := &joinRow{rec: b.Rec, r: r}
		var matches []*joinRow
		if k, ok := o.key(0, b.Rec, r); ok {
			matches = o.table[k]
		}
		for _, m := range matches {
			pairs = append(pairs, pair{op: b.Op(r), left: row, right: m})
		}
		if len(matches) == 0 && o.spec.Kind == LeftOuterJoin {
			pairs = append(pairs, pair{op: b.Op(r), left: row})
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	rec, err := assemblePairs(o.out, o.sides[0].schema, o.sides[1].schema, pairs)
	if err != nil {
		return fmt.Errorf("lookup join: %w", err)
	}
	ops := make([]Op, len(pairs))
	for i, p := range pairs {
		ops[i] = p.op
	}
	return o.TC.Out.Emit(ctx, Batch{Rec: rec, Ops: ops})
}

func (o *lookupJoinOp) complete(ctx context.Context) error {
	if o.ready {
		return o.drainRestored(ctx)
	}
	o.ready = true
	for _, b := range o.pending {
		if err := o.probe(ctx, b); err != nil {
			return err
		}
	}
	o.pending = nil
	return nil
}

func (o *lookupJoinOp) ProcessWatermark(ctx context.Context, w watermark.Time) error {
	if w > watermark.MinTime {
		return o.complete(ctx)
	}
	return o.drainRestored(ctx)
}

func (o *lookupJoinOp) Finish(ctx context.Context) error { return o.complete(ctx) }
