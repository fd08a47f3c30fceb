package dataflow

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// KeyedProcessFunction processes a keyed stream row by row with keyed state
// and event-time timers (Flink's KeyedProcessFunction). It is the low-level
// API for Go users, for logic that SQL and the built-in operators cannot
// express.
//
// ProcessRow is called for each row of each input batch, with the row's key
// in c; OnTimer for each timer the watermark reaches (see TimerService for
// the boundary and order), with the timer's key in c. Both may read and
// write state of c's key, register and delete timers of c's key, and emit
// rows. A function value belongs to one subtask: it is called from one
// goroutine and may keep scratch space in its fields, but keyed data must
// live in state (c.State()) to survive checkpoints and rescaling.
//
// Cost: this API runs user code per row. Per row the operator encodes the
// key (a few bytes into a reused buffer) and makes an interface call; each
// state access is a hash-map lookup plus a Codec encode or decode; Emit
// boxes each value into an interface and converts it per column; a timer
// is a heap push and, when it fires, a pop and a call. BenchmarkProcess
// (one subtask, AMD EPYC) measures about 20 ns per row for the runtime
// around the function, 75 ns more for a ValueState read-modify-write,
// 150 ns more for emitting a 3-column row, and 2–3 µs for a row that
// registers a timer which later fires and folds MapState entries. The
// vectorized operators (window aggregates, filters, maps) work on whole
// columns at a few nanoseconds per row: they are the fast path, and this
// API is for logic they cannot express.
type KeyedProcessFunction interface {
	ProcessRow(c *ProcessContext, rec arrow.RecordBatch, row int) error
	OnTimer(c *ProcessContext, t int64) error
}

// ProcessOpener is implemented by a KeyedProcessFunction that prepares
// itself, typically its state handles, before the first row. Open is called
// once per subtask, with no current key.
type ProcessOpener interface {
	Open(c *ProcessContext) error
}

// processTimers is the name of the process operator's timer service in its
// state backend.
const processTimers = "process"

// maxProcessBatchRows bounds the batches the process operator emits: a
// function emitting many rows for one input batch flushes on the way.
const maxProcessBatchRows = 8192

// Process adds an operator that calls a KeyedProcessFunction per row of the
// keyed stream, with keyed state and event-time timers. out is the schema
// of the rows the function emits; timeCol names the event-time column
// (a timestamp column) that ProcessContext.Timestamp reads, or is empty.
// newFn is called once per subtask; p <= 0 means the graph's default
// parallelism.
//
// The operator fires timers when a watermark arrives and emits what they
// produce before the watermark is forwarded: a row emitted for a timer at
// t with event time ≥ t is on time downstream (unless the timer was set at
// or behind the watermark). Emitted rows leave at the end of each input
// batch and after each watermark's timers, so none wait across a
// checkpoint barrier.
func (k KeyedStream) Process(name string, p int, out *arrow.Schema, timeCol string, newFn func() KeyedProcessFunction) Stream {
	keys := k.keys
	return k.Apply(name, p, func() Operator {
		return &processOp{keys: keys.Clone(), timeCol: timeCol, out: out, newFn: newFn}
	})
}

// ProcessContext is what a KeyedProcessFunction sees of its operator: the
// current key, event time and watermark, timers, state and output. It is
// valid only during the call it is passed to.
type ProcessContext struct {
	o      *processOp
	ctx    context.Context
	kg     int
	key    []byte
	hasKey bool
	op     Op
	ts     int64
	hasTS  bool
	wm     watermark.Time
}

// Key returns the encoded key (EncodeKey) of the current row or timer; nil
// in Open. It is valid until the call returns: copy it to keep it. Decode
// it with DecodeKey.
func (c *ProcessContext) Key() []byte { return c.key }

// KeyGroup returns the key group of the current key.
func (c *ProcessContext) KeyGroup() int { return c.kg }

// Op returns the changelog operation of the current row: Insert, or
// Retract when the input is a changelog with updates. It is Insert in
// OnTimer.
func (c *ProcessContext) Op() Op { return c.op }

// Timestamp returns the event time (µs) of the current row, read from the
// time column, or the timer's time in OnTimer. It reports false when the
// operator has no time column or the row's time is NULL.
func (c *ProcessContext) Timestamp() (int64, bool) { return c.ts, c.hasTS }

// CurrentWatermark returns the operator's watermark: in ProcessRow the
// last one processed (MinTime before the first), in OnTimer the one that
// fired the timer.
func (c *ProcessContext) CurrentWatermark() watermark.Time { return c.wm }

// RegisterEventTimer asks for OnTimer to be called with the current key
// once the watermark reaches t (µs). A timer registered again for the same
// key and time is one timer. A time at or before the current watermark
// fires with the next watermark (or, from OnTimer, in the current one).
// It panics outside ProcessRow and OnTimer, which have a key.
func (c *ProcessContext) RegisterEventTimer(t int64) {
	c.mustHaveKey("RegisterEventTimer")
	c.o.timers.Register(c.kg, c.key, t)
}

// DeleteEventTimer removes the current key's timer at t, if there is one.
func (c *ProcessContext) DeleteEventTimer(t int64) {
	c.mustHaveKey("DeleteEventTimer")
	c.o.timers.Delete(c.kg, c.key, t)
}

func (c *ProcessContext) mustHaveKey(what string) {
	if !c.hasKey {
		panic("dataflow: " + what + " called without a current key (outside ProcessRow and OnTimer)")
	}
}

// State returns the subtask's keyed state; address it with KeyGroup and Key.
func (c *ProcessContext) State() *StateBackend { return c.o.TC.State }

// Context returns the context of the current call; it is done when the
// job stops.
func (c *ProcessContext) Context() context.Context { return c.ctx }

// Logger returns the operator subtask's logger.
func (c *ProcessContext) Logger() *slog.Logger { return c.o.TC.Logger }

// Emit appends an inserted row to the output: one value per column of the
// output schema, of a Go type RowWriter.Append accepts. It fails, emitting
// nothing, if a value does not fit its column.
func (c *ProcessContext) Emit(values ...any) error { return c.emit(Insert, values) }

// EmitRetract appends a retraction of a row emitted earlier, so that a
// function can emit updates (retract the old row, insert the new one).
func (c *ProcessContext) EmitRetract(values ...any) error { return c.emit(Retract, values) }

func (c *ProcessContext) emit(op Op, values []any) error {
	w := c.o.w
	if err := w.Append(op, values...); err != nil {
		return err
	}
	if w.Len() >= maxProcessBatchRows {
		return c.o.flush(c.ctx)
	}
	return nil
}

func (c *ProcessContext) setKey(kg int, key []byte) {
	c.kg, c.key, c.hasKey = kg, key, true
}

func (c *ProcessContext) clearKey() {
	c.kg, c.key, c.hasKey, c.op, c.ts, c.hasTS = 0, nil, false, Insert, 0, false
}

// processOp runs a KeyedProcessFunction.
type processOp struct {
	BaseOperator
	keys    *KeySelector
	timeCol string
	out     *arrow.Schema
	newFn   func() KeyedProcessFunction

	fn     KeyedProcessFunction
	timers *TimerService
	w      *RowWriter
	c      ProcessContext

	in     *arrow.Schema // the input schema the fields below were resolved for
	keyIdx []int
	tsCol  int                 // -1 without a time column
	toUS   func(v int64) int64 // the time column's unit to µs
	hashes []uint64
	keyBuf []byte
}

func (o *processOp) Open(tc *TaskContext) error {
	o.TC = tc
	w, err := NewRowWriter(o.out)
	if err != nil {
		return err
	}
	o.w = w
	o.fn = o.newFn()
	o.timers = tc.State.Timers(processTimers)
	o.c = ProcessContext{o: o, ctx: context.Background(), wm: watermark.MinTime}
	if op, ok := o.fn.(ProcessOpener); ok {
		return op.Open(&o.c)
	}
	return nil
}

func (o *processOp) resolve(schema *arrow.Schema) error {
	idx, err := o.keys.Resolve(schema)
	if err != nil {
		return err
	}
	for _, i := range idx {
		if f := schema.Field(i); !KeyEncodable(f.Type) {
			return fmt.Errorf("key column %q: type %s cannot be a key", f.Name, f.Type)
		}
	}
	o.keyIdx, o.tsCol, o.toUS = idx, -1, nil
	if o.timeCol != "" {
		col, err := ColumnIndex(schema, o.timeCol)
		if err != nil {
			return err
		}
		tt, ok := schema.Field(col).Type.(*arrow.TimestampType)
		if !ok {
			return fmt.Errorf("time column %q: type %s is not a timestamp", o.timeCol, schema.Field(col).Type)
		}
		o.tsCol, o.toUS = col, unitToMicros(tt.Unit)
	}
	o.in = schema
	return nil
}

func unitToMicros(u arrow.TimeUnit) func(int64) int64 {
	switch u {
	case arrow.Second:
		return func(v int64) int64 { return v * 1_000_000 }
	case arrow.Millisecond:
		return func(v int64) int64 { return v * 1_000 }
	case arrow.Nanosecond:
		return func(v int64) int64 { return floorDiv(v, 1_000) }
	}
	return func(v int64) int64 { return v }
}

func (o *processOp) ProcessBatch(ctx context.Context, _ int, b Batch) error {
	rec := b.Rec
	n := b.Len()
	if n == 0 {
		return nil
	}
	if rec.Schema() != o.in {
		if err := o.resolve(rec.Schema()); err != nil {
			return err
		}
	}
	o.hashes = slices.Grow(o.hashes[:0], n)[:n]
	if err := o.keys.Hash(rec, o.hashes); err != nil {
		return err
	}
	var ts []int64
	var tsCol arrow.Array
	if o.tsCol >= 0 {
		tsCol = rec.Column(o.tsCol)
		ts = columnar.Int64Values(tsCol)
	}
	c := &o.c
	c.ctx = ctx
	defer c.clearKey()
	for row := range n {
		kg := KeyGroupOf(o.hashes[row], o.TC.MaxParallelism)
		if !o.TC.KeyGroups.Contains(kg) {
			return fmt.Errorf("row %d: key group %d is not in this subtask's %s (input not hash-partitioned by the key?)", row, kg, o.TC.KeyGroups)
		}
		o.keyBuf = EncodeKey(rec, o.keyIdx, row, o.keyBuf[:0])
		c.setKey(kg, o.keyBuf)
		c.op = b.Op(row)
		c.hasTS = tsCol != nil && tsCol.IsValid(row)
		if c.hasTS {
			c.ts = o.toUS(ts[row])
		}
		if err := o.fn.ProcessRow(c, rec, row); err != nil {
			return err
		}
	}
	return o.flush(ctx)
}

func (o *processOp) ProcessWatermark(ctx context.Context, w watermark.Time) error {
	c := &o.c
	c.ctx, c.wm = ctx, w
	err := o.timers.Advance(w, func(kg int, key []byte, t int64) error {
		c.setKey(kg, key)
		c.op, c.ts, c.hasTS = Insert, t, true
		return o.fn.OnTimer(c, t)
	})
	c.clearKey()
	if err != nil {
		return err
	}
	return o.flush(ctx)
}

func (o *processOp) flush(ctx context.Context) error {
	if err := o.TC.State.Err(); err != nil {
		return err
	}
	if o.w.Len() == 0 {
		return nil
	}
	return o.TC.Out.Emit(ctx, o.w.Batch())
}

// RowWriter builds changelog batches of one schema row by row, for code
// that produces rows one at a time (process functions). It uses arrow's
// array builders: convenient, not the vectorized path.
//
// Append accepts, per column type (nil is NULL, for nullable fields):
//
//	int8…int64, uint8…uint64  any Go integer (int, int64, uint8, …) in range
//	float32, float64          float32, float64 or any Go integer
//	bool                      bool
//	string, binary            string or []byte
//	timestamp                 time.Time, arrow.Timestamp (in the column's
//	                          unit), watermark.Time (µs) or a Go integer (µs)
//	date32, date64            time.Time (its UTC day), arrow.Date32 or
//	                          arrow.Date64 (converted), or a Go integer (the
//	                          column's own unit: days or milliseconds)
//
// so values returned by DecodeKey can be emitted as they are.
type RowWriter struct {
	schema *arrow.Schema
	cols   []*rowColumn
	vals   []rowValue
	ops    []Op
	retr   bool
	n      int
}

// NewRowWriter returns a writer of rows of schema; it fails for a column
// type it does not support.
func NewRowWriter(schema *arrow.Schema) (*RowWriter, error) {
	if schema == nil {
		return nil, fmt.Errorf("row writer: nil output schema")
	}
	w := &RowWriter{schema: schema, vals: make([]rowValue, schema.NumFields())}
	for _, f := range schema.Fields() {
		cw, err := newRowColumn(f)
		if err != nil {
			return nil, err
		}
		w.cols = append(w.cols, cw)
	}
	return w, nil
}

// Schema returns the schema of the rows.
func (w *RowWriter) Schema() *arrow.Schema { return w.schema }

// Len returns the number of rows appended since the last Batch.
func (w *RowWriter) Len() int { return w.n }

// Append adds a row with operation op. It checks every value before it
// appends any, so a failed Append leaves the writer as it was.
func (w *RowWriter) Append(op Op, values ...any) error {
	if len(values) != len(w.cols) {
		return fmt.Errorf("row writer: %d values for %d columns %s", len(values), len(w.cols), schemaNames(w.schema))
	}
	for i, v := range values {
		if err := w.cols[i].convert(v, &w.vals[i]); err != nil {
			return fmt.Errorf("row writer: column %q (%s): %w", w.cols[i].field.Name, w.cols[i].field.Type, err)
		}
	}
	for i, cw := range w.cols {
		cw.append(&w.vals[i])
	}
	w.ops = append(w.ops, op)
	w.retr = w.retr || op == Retract
	w.n++
	return nil
}

// Batch returns the rows appended since the last call as one batch (with
// nil Ops when all are inserts) and starts a new one.
func (w *RowWriter) Batch() Batch {
	cols := make([]arrow.Array, len(w.cols))
	for i, cw := range w.cols {
		cols[i] = cw.b.NewArray()
	}
	b := Batch{Rec: columnar.Record(w.schema, cols, w.n)}
	if w.retr {
		b.Ops = w.ops
		w.ops = nil
	} else {
		w.ops = w.ops[:0]
	}
	w.n, w.retr = 0, false
	return b
}

type rowColKind uint8

const (
	rowSigned rowColKind = iota
	rowUnsigned
	rowFloat
	rowBool
	rowString
	rowBinary
)

// rowColumn converts values for one column and appends them to its builder.
type rowColumn struct {
	field    arrow.Field
	kind     rowColKind
	min, max int64  // range of a signed column
	umax     uint64 // range of an unsigned column
	b        array.Builder
}

// rowValue is a converted value, held between checking a row and appending it.
type rowValue struct {
	null bool
	i    int64
	u    uint64
	f    float64
	s    string
	bs   []byte
}

func newRowColumn(f arrow.Field) (*rowColumn, error) {
	cw := &rowColumn{field: f}
	signed := func(bits uint) { cw.kind, cw.min, cw.max = rowSigned, -1<<(bits-1), 1<<(bits-1)-1 }
	unsigned := func(bits uint) { cw.kind, cw.umax = rowUnsigned, math.MaxUint64>>(64-bits) }
	switch f.Type.ID() {
	case arrow.INT8:
		signed(8)
	case arrow.INT16:
		signed(16)
	case arrow.INT32, arrow.DATE32:
		signed(32)
	case arrow.INT64, arrow.TIMESTAMP, arrow.DATE64:
		signed(64)
	case arrow.UINT8:
		unsigned(8)
	case arrow.UINT16:
		unsigned(16)
	case arrow.UINT32:
		unsigned(32)
	case arrow.UINT64:
		unsigned(64)
	case arrow.FLOAT32, arrow.FLOAT64:
		cw.kind = rowFloat
	case arrow.BOOL:
		cw.kind = rowBool
	case arrow.STRING:
		cw.kind = rowString
	case arrow.BINARY:
		cw.kind = rowBinary
	default:
		return nil, fmt.Errorf("row writer: column %q: unsupported type %s", f.Name, f.Type)
	}
	cw.b = array.NewBuilder(memory.DefaultAllocator, f.Type)
	return cw, nil
}

// anyInt extracts a Go integer of any width.
func anyInt(v any) (i int64, u uint64, unsigned, ok bool) {
	switch x := v.(type) {
	case int:
		return int64(x), 0, false, true
	case int8:
		return int64(x), 0, false, true
	case int16:
		return int64(x), 0, false, true
	case int32:
		return int64(x), 0, false, true
	case int64:
		return x, 0, false, true
	case uint:
		return 0, uint64(x), true, true
	case uint8:
		return 0, uint64(x), true, true
	case uint16:
		return 0, uint64(x), true, true
	case uint32:
		return 0, uint64(x), true, true
	case uint64:
		return 0, x, true, true
	}
	return 0, 0, false, false
}

const (
	rowMicrosPerDay = 86_400_000_000
	rowMillisPerDay = 86_400_000
)

func (cw *rowColumn) convert(v any, s *rowValue) error {
	*s = rowValue{}
	if v == nil {
		if !cw.field.Nullable {
			return fmt.Errorf("NULL in a non-nullable column")
		}
		s.null = true
		return nil
	}
	switch cw.kind {
	case rowSigned:
		i, err := cw.signed(v)
		if err != nil {
			return err
		}
		if i < cw.min || i > cw.max {
			return fmt.Errorf("value %v out of range", v)
		}
		s.i = i
	case rowUnsigned:
		i, u, unsigned, ok := anyInt(v)
		switch {
		case !ok:
			return fmt.Errorf("cannot use %T", v)
		case !unsigned && i < 0:
			return fmt.Errorf("value %v out of range", v)
		case !unsigned:
			u = uint64(i)
		}
		if u > cw.umax {
			return fmt.Errorf("value %v out of range", v)
		}
		s.u = u
	case rowFloat:
		switch x := v.(type) {
		case float64:
			s.f = x
		case float32:
			s.f = float64(x)
		default:
			i, u, unsigned, ok := anyInt(v)
			switch {
			case !ok:
				return fmt.Errorf("cannot use %T", v)
			case unsigned:
				s.f = float64(u)
			default:
				s.f = float64(i)
			}
		}
	case rowBool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("cannot use %T", v)
		}
		if b {
			s.i = 1
		}
	case rowString, rowBinary:
		switch x := v.(type) {
		case string:
			s.s = x
		case []byte:
			s.bs = x
			if cw.kind == rowString {
				s.s = string(x)
			}
		default:
			return fmt.Errorf("cannot use %T", v)
		}
	}
	return nil
}

// signed converts v for a signed column: plain integers, and the time types
// for timestamp and date columns.
func (cw *rowColumn) signed(v any) (int64, error) {
	switch cw.field.Type.ID() {
	case arrow.TIMESTAMP:
		unit := cw.field.Type.(*arrow.TimestampType).Unit
		switch x := v.(type) {
		case time.Time:
			switch unit {
			case arrow.Second:
				return x.Unix(), nil
			case arrow.Millisecond:
				return x.UnixMilli(), nil
			case arrow.Nanosecond:
				return x.UnixNano(), nil
			}
			return x.UnixMicro(), nil
		case arrow.Timestamp:
			return int64(x), nil
		case watermark.Time:
			return microsToUnit(int64(x), unit), nil
		}
		i, err := anySigned(v)
		return microsToUnit(i, unit), err
	case arrow.DATE32:
		switch x := v.(type) {
		case time.Time:
			return floorDiv(x.UnixMicro(), rowMicrosPerDay), nil
		case arrow.Date32:
			return int64(x), nil
		case arrow.Date64:
			return floorDiv(int64(x), rowMillisPerDay), nil
		}
	case arrow.DATE64:
		switch x := v.(type) {
		case time.Time:
			return floorDiv(x.UnixMicro(), rowMicrosPerDay) * rowMillisPerDay, nil
		case arrow.Date64:
			return int64(x), nil
		case arrow.Date32:
			return int64(x) * rowMillisPerDay, nil
		}
	}
	return anySigned(v)
}

func anySigned(v any) (int64, error) {
	i, u, unsigned, ok := anyInt(v)
	switch {
	case !ok:
		return 0, fmt.Errorf("cannot use %T", v)
	case unsigned && u > math.MaxInt64:
		return 0, fmt.Errorf("value %v out of range", v)
	case unsigned:
		return int64(u), nil
	}
	return i, nil
}

func microsToUnit(us int64, u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return floorDiv(us, 1_000_000)
	case arrow.Millisecond:
		return floorDiv(us, 1_000)
	case arrow.Nanosecond:
		return us * 1_000
	}
	return us
}

func (cw *rowColumn) append(s *rowValue) {
	if s.null {
		cw.b.AppendNull()
		return
	}
	switch b := cw.b.(type) {
	case *array.Int8Builder:
		b.Append(int8(s.i))
	case *array.Int16Builder:
		b.Append(int16(s.i))
	case *array.Int32Builder:
		b.Append(int32(s.i))
	case *array.Int64Builder:
		b.Append(s.i)
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(s.i))
	case *array.Date32Builder:
		b.Append(arrow.Date32(s.i))
	case *array.Date64Builder:
		b.Append(arrow.Date64(s.i))
	case *array.Uint8Builder:
		b.Append(uint8(s.u))
	case *array.Uint16Builder:
		b.Append(uint16(s.u))
	case *array.Uint32Builder:
		b.Append(uint32(s.u))
	case *array.Uint64Builder:
		b.Append(s.u)
	case *array.Float32Builder:
		b.Append(float32(s.f))
	case *array.Float64Builder:
		b.Append(s.f)
	case *array.BooleanBuilder:
		b.Append(s.i != 0)
	case *array.StringBuilder:
		b.Append(s.s)
	case *array.BinaryBuilder:
		if s.bs != nil {
			b.Append(s.bs)
		} else {
			b.AppendString(s.s)
		}
	default:
		panic(fmt.Sprintf("dataflow: row writer: no append for %T", cw.b))
	}
}
