package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// RunOptions are chosen per run, never in the SQL text (DESIGN §3).
type RunOptions struct {
	Mode Mode
	// From and To bound the event time of the history read ([From, To));
	// zero is open. In live mode From is where history starts.
	From, To time.Time
	// Parallelism of every operator (default 2).
	Parallelism int
	// Durable, if set, runs the script's one SELECT as a durable job:
	// checkpointed, and resumed from its latest checkpoint (durable.go).
	Durable *Durable
}

// locatedError is a compile error at a place in the SQL: the compiler sees
// plans, not statements, so the statement's runner positions it.
type locatedError struct {
	loc int32
	err error
}

func (e *locatedError) Error() string { return e.err.Error() }
func (e *locatedError) Unwrap() error { return e.err }

// compileError turns a compile error into the statement's error, at its
// place in the SQL when the compiler knows it.
func compileError(st Statement, err error) error {
	loc := int32(-1)
	if le, ok := errors.AsType[*locatedError](err); ok {
		loc = le.loc
	}
	return st.errorAt(loc, "%v", err)
}

// compiler turns a logical plan into a dataflow graph. It never runs it.
type compiler struct {
	ctx   context.Context
	eng   *Engine
	opts  RunOptions
	g     *dataflow.Graph
	n     int
	scans []string // source node names, for progress
	// parquet holds the counters of the Parquet sources opened, for
	// progress (bytes and rows out of their totals).
	parquet []*parquet.Progress
	// bounded is false once a source is unbounded (a live feed).
	bounded bool
	// hints are the filters sitting directly on a scan, offered to its
	// provider to skip whole splits (see SourceRequest.SplitHints).
	hints map[*scanPlan][]Hint
}

func newCompiler(ctx context.Context, eng *Engine, opts RunOptions) *compiler {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 2
	}
	return &compiler{ctx: ctx, eng: eng, opts: opts, g: dataflow.NewGraph(opts.Parallelism), bounded: true}
}

func (c *compiler) name(kind string) string {
	c.n++
	return fmt.Sprintf("%s#%d", kind, c.n)
}

func (c *compiler) compile(p Plan) (dataflow.Stream, error) {
	switch p := p.(type) {
	case *scanPlan:
		return c.scan(p)
	case *valuesPlan:
		src := &valuesSource{}
		return c.g.Source(c.name("values"), dataflow.SourceSpec{Source: src, Parallelism: 1}), nil
	case *filterPlan:
		if sp, ok := p.input.(*scanPlan); ok {
			if c.hints == nil {
				c.hints = map[*scanPlan][]Hint{}
			}
			c.hints[sp] = splitHints(p.cond, sp.Schema())
		}
		in, err := c.compile(p.input)
		if err != nil {
			return dataflow.Stream{}, err
		}
		cond := p.cond
		return in.Filter(c.name("filter"), func(rec arrow.RecordBatch, sel []int32) ([]int32, error) {
			arr, err := cond.Eval(rec)
			if err != nil {
				return nil, err
			}
			return selectTrue(arr, sel), nil
		}), nil
	case *projectPlan:
		in, err := c.compile(p.input)
		if err != nil {
			return dataflow.Stream{}, err
		}
		exprs, out := p.exprs, p.out
		return in.Map(c.name("project"), func(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
			cols := make([]arrow.Array, len(exprs))
			for i, e := range exprs {
				a, err := e.Eval(rec)
				if err != nil {
					return nil, err
				}
				cols[i] = a
			}
			return array.NewRecordBatch(out, cols, rec.NumRows()), nil
		}), nil
	case *windowPlan:
		in, err := c.compile(p.input)
		if err != nil {
			return dataflow.Stream{}, err
		}
		if p.spec.kind == sessionWindow {
			return dataflow.Stream{}, fmt.Errorf("SESSION windows must be grouped by their window")
		}
		if err := checkWindowsPerRow(&p.spec); err != nil {
			return dataflow.Stream{}, err
		}
		return in.AssignWindows(c.name("window"), p.input.Schema().Field(p.spec.timeCol).Name, p.spec.assigner()), nil
	case *aggregatePlan:
		return c.aggregate(p)
	case *unionPlan:
		names := make([]string, p.Schema().NumFields())
		for i, f := range p.Schema().Fields() {
			names[i] = f.Name
		}
		var ins []dataflow.Input
		for _, in := range p.inputs {
			s, err := c.compile(in)
			if err != nil {
				return dataflow.Stream{}, err
			}
			ins = append(ins, s.Map(c.name("rename"), renameTo(p.Schema())))
		}
		return c.g.Union(c.name("union"), c.opts.Parallelism, ins...), nil
	case *joinPlan:
		return c.join(p)
	case *topNPlan:
		return c.topN(p)
	case *streamJoinPlan:
		return c.streamJoin(p)
	case *sortPlan:
		// Only a subquery's ORDER BY gets here (a statement's own is run
		// by the engine). Without LIMIT or OFFSET it has no effect on the
		// rows, as in Postgres, and is dropped, with its hidden columns.
		if p.limit >= 0 || p.offset > 0 {
			return dataflow.Stream{}, fmt.Errorf("LIMIT and OFFSET apply to a whole result only (not inside a subquery)")
		}
		if p.hidden > 0 {
			return c.compile(p.input.(*projectPlan).input)
		}
		return c.compile(p.input)
	}
	return dataflow.Stream{}, fmt.Errorf("internal: cannot compile %T", p)
}

func (c *compiler) scan(p *scanPlan) (dataflow.Stream, error) {
	t := p.table
	req := SourceRequest{Mode: c.opts.Mode, From: c.opts.From, To: c.opts.To, Partitions: c.opts.Parallelism, EventTime: t.EventTime}
	if d := c.opts.Durable; d != nil {
		start, err := d.startTime(c.ctx)
		if err != nil {
			return dataflow.Stream{}, err
		}
		req.Start = start
	}
	if p.cols != nil {
		req.Columns = p.columnNames()
	}
	req.SplitHints = c.hints[p]
	src, bounded, err := c.eng.openTable(c.ctx, t, req)
	if err != nil {
		return dataflow.Stream{}, &locatedError{loc: p.loc, err: fmt.Errorf("table %q: %w", t.Name, err)}
	}
	if !bounded {
		c.bounded = false
	}
	spec := dataflow.SourceSpec{
		Source:      src,
		EventTime:   t.EventTime,
		Watermarks:  watermark.Strategy{Delay: time.Duration(t.WatermarkDelay)},
		Parallelism: c.opts.Parallelism,
	}
	if c.opts.Mode == Live {
		spec.Live = true
		spec.Watermarks.IdleTimeout = time.Duration(t.IdleTimeout)
	}
	if t.EventTime != "" {
		if !c.opts.From.IsZero() {
			spec.From = watermark.FromTime(c.opts.From)
		}
		if !c.opts.To.IsZero() && c.opts.Mode == Backfill {
			spec.To = watermark.FromTime(c.opts.To)
		}
	}
	c.scans = append(c.scans, t.Name)
	if pr, ok := src.(interface{ Progress() *parquet.Progress }); ok {
		if pp := pr.Progress(); pp != nil {
			c.parquet = append(c.parquet, pp)
		}
	}
	s := c.g.Source(t.Name, spec)
	want := p.Schema()
	switch got := eventTimeUTC(src.Schema(), t.EventTime); {
	case got.Equal(want):
		return s, nil
	case got.Equal(p.schema):
		// The provider read every column: keep the used ones.
		return s.Map(c.name("columns"), dataflow.Project(req.Columns...)), nil
	}
	return dataflow.Stream{}, fmt.Errorf("table %q: its data's schema changed since the query was planned", t.Name)
}

func (c *compiler) aggregate(p *aggregatePlan) (dataflow.Stream, error) {
	if p.window != nil {
		if err := checkWindowsPerRow(p.window); err != nil {
			return dataflow.Stream{}, err
		}
	}
	in, err := c.compile(p.input)
	if err != nil {
		return dataflow.Stream{}, err
	}
	inSchema := p.input.Schema()
	keys := make([]string, len(p.keys))
	for i, k := range p.keys {
		keys[i] = inSchema.Field(k).Name
	}
	aggs := make([]dataflow.Agg, len(p.aggs))
	for i, a := range p.aggs {
		aggs[i] = dataflow.Agg{Func: a.fn, As: a.name, Fraction: a.frac}
		if a.arg >= 0 {
			aggs[i].Column = inSchema.Field(a.arg).Name
		}
	}
	// The dataflow aggregates need an aggregate; GROUP BY without one
	// (SELECT k, window_start … GROUP BY k, window_start, window_end)
	// counts rows and drops the count.
	var dropCount dataflow.MapFunc
	if len(aggs) == 0 {
		aggs = []dataflow.Agg{{Func: dataflow.CountAll, As: "$rows"}}
		names := make([]string, p.Schema().NumFields())
		for i, f := range p.Schema().Fields() {
			names[i] = f.Name
		}
		dropCount = dataflow.Project(names...)
	}
	out, err := c.aggregateStream(p, in, keys, aggs)
	if err != nil || dropCount == nil {
		return out, err
	}
	return out.Map(c.name("drop-count"), dropCount), nil
}

func (c *compiler) aggregateStream(p *aggregatePlan, in dataflow.Stream, keys []string, aggs []dataflow.Agg) (dataflow.Stream, error) {
	inSchema := p.input.Schema()
	par := c.opts.Parallelism
	partition := keys
	if len(keys) == 0 {
		if p.fromColumns {
			partition = []string{dataflow.WindowStartColumn}
		} else {
			par = 1 // one group: one subtask
		}
	}
	keyed := in.KeyBy(partition...)
	switch {
	case p.window != nil:
		return keyed.WindowAggregate(c.name("window-agg"), par, dataflow.WindowAggSpec{
			Keys: keys, TimeColumn: inSchema.Field(p.window.timeCol).Name, Window: p.window.assigner(), Aggs: aggs,
		}), nil
	case p.fromColumns:
		return keyed.WindowAggregate(c.name("window-agg"), par, dataflow.WindowAggSpec{Keys: keys, FromColumns: true, Aggs: aggs}), nil
	}
	updating := p.input.props().updating
	if out, ok := c.combined(in, p, keys, aggs, par, updating); ok {
		return out, nil
	}
	return keyed.GroupAggregate(c.name("group-agg"), par, dataflow.GroupAggSpec{
		Keys: keys, Aggs: aggs, EmitAtEnd: c.opts.Mode == Backfill, UpdatingInput: updating,
		EmptyGroup: len(keys) == 0, InputSchema: inSchema,
	}), nil
}

// combined plans a GROUP BY as local/global aggregation when every
// aggregate decomposes (count, sum, min, max, avg): each subtask of the
// input first folds its rows into one partial row per key (chained, no
// exchange), and only those cross the hash exchange to the final
// aggregate, which combines them — count and sum by sum, min by min, max by
// max, avg by summing both its sum and its count. A backfill's partials are
// emitted once, at the end of input; a live run's as a changelog per batch,
// which the final aggregate folds exactly. Rejected alternative: always
// shipping every row to the owner of its key, which moves the whole input
// through the exchange (20 M rows for 1,000 groups).
func (c *compiler) combined(in dataflow.Stream, p *aggregatePlan, keys []string, aggs []dataflow.Agg, par int, updating bool) (dataflow.Stream, bool) {
	var local, global []dataflow.Agg
	type final struct {
		col      string // the global aggregate's column
		count    string // for avg: the summed count
		avg      bool
		zeroNull bool // a count: 0 rather than NULL when no partial
	}
	finals := make([]final, len(aggs))
	for i, a := range aggs {
		part := fmt.Sprintf("$part%d", i)
		switch a.Func {
		case dataflow.CountAll, dataflow.Count:
			local = append(local, dataflow.Agg{Func: a.Func, Column: a.Column, As: part})
			global = append(global, dataflow.Agg{Func: dataflow.Sum, Column: part, As: a.As})
			finals[i] = final{col: a.As, zeroNull: true}
		case dataflow.Sum, dataflow.Min, dataflow.Max:
			local = append(local, dataflow.Agg{Func: a.Func, Column: a.Column, As: part})
			global = append(global, dataflow.Agg{Func: a.Func, Column: part, As: a.As})
			finals[i] = final{col: a.As}
		case dataflow.Avg:
			cnt := part + "n"
			local = append(local, dataflow.Agg{Func: dataflow.Sum, Column: a.Column, As: part},
				dataflow.Agg{Func: dataflow.Count, Column: a.Column, As: cnt})
			global = append(global, dataflow.Agg{Func: dataflow.Sum, Column: part, As: a.As},
				dataflow.Agg{Func: dataflow.Sum, Column: cnt, As: cnt})
			finals[i] = final{col: a.As, count: cnt, avg: true}
		default:
			return dataflow.Stream{}, false
		}
	}
	localSpec := dataflow.GroupAggSpec{
		Keys: keys, Aggs: local, EmitAtEnd: c.opts.Mode == Backfill, UpdatingInput: updating, Partial: true,
	}
	partSchema, err := dataflow.GroupAggSchema(p.input.Schema(), localSpec)
	if err != nil {
		return dataflow.Stream{}, false
	}
	partials := in.GroupAggregate(c.name("partial-agg"), localSpec)
	partition := keys
	if len(keys) == 0 {
		partition = nil
	}
	merged := partials.KeyBy(partition...).GroupAggregate(c.name("final-agg"), par, dataflow.GroupAggSpec{
		Keys: keys, Aggs: global, EmitAtEnd: c.opts.Mode == Backfill,
		// Live partials are a changelog; backfill ones are inserts.
		UpdatingInput: c.opts.Mode == Live || updating,
		EmptyGroup:    len(keys) == 0, InputSchema: partSchema,
	})
	out := p.Schema()
	nk := len(keys)
	return merged.Map(c.name("finish-agg"), func(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		cols := make([]arrow.Array, out.NumFields())
		for i := 0; i < nk; i++ {
			cols[i] = rec.Column(i)
		}
		j := nk
		for i, f := range finals {
			col := rec.Column(j)
			j++
			switch {
			case f.avg:
				n := rec.Column(j)
				j++
				cols[nk+i] = divide(col, n)
			case f.zeroNull:
				cols[nk+i] = nullToZero(col)
			default:
				cols[nk+i] = col
			}
			if !arrow.TypeEqual(cols[nk+i].DataType(), out.Field(nk+i).Type) {
				return nil, fmt.Errorf("internal: combined aggregate %s has type %s, want %s", f.col, cols[nk+i].DataType(), out.Field(nk+i).Type)
			}
		}
		return array.NewRecordBatch(out, cols, rec.NumRows()), nil
	}), true
}

// divide computes sum/count as float64, NULL where count is 0 or NULL.
func divide(sum, count arrow.Array) arrow.Array {
	n := sum.Len()
	vals := make([]float64, n)
	valid := make([]byte, (n+7)/8)
	nulls := 0
	counts := columnar.Int64Values(count)
	for i := 0; i < n; i++ {
		if sum.IsNull(i) || count.IsNull(i) || counts[i] == 0 {
			nulls++
			continue
		}
		var s float64
		switch a := sum.(type) {
		case *array.Float64:
			s = a.Value(i)
		case *array.Int64:
			s = float64(a.Value(i))
		}
		vals[i] = s / float64(counts[i])
		valid[i>>3] |= 1 << (i & 7)
	}
	return columnar.Fixed(arrow.PrimitiveTypes.Float64, vals, valid, nulls)
}

// nullToZero turns NULL counts (no partial at all) into 0.
func nullToZero(a arrow.Array) arrow.Array {
	if a.NullN() == 0 {
		return a
	}
	vals := append([]int64(nil), columnar.Int64Values(a)...)
	for i := range vals {
		if a.IsNull(i) {
			vals[i] = 0
		}
	}
	return columnar.Int64s(vals)
}

func (c *compiler) join(p *joinPlan) (dataflow.Stream, error) {
	left, err := c.compile(p.left)
	if err != nil {
		return dataflow.Stream{}, err
	}
	right, err := c.compile(p.right)
	if err != nil {
		return dataflow.Stream{}, err
	}
	names := func(s *arrow.Schema, idx []int) []string {
		out := make([]string, len(idx))
		for i, j := range idx {
			out[i] = s.Field(j).Name
		}
		return out
	}
	lk, rk := names(p.left.Schema(), p.leftKeys), names(p.right.Schema(), p.rightKeys)
	lpart, rpart := lk, rk
	if len(lk) == 0 {
		lpart, rpart = []string{dataflow.WindowStartColumn}, []string{dataflow.WindowStartColumn}
	}
	return c.g.WindowJoin(c.name("window-join"), c.opts.Parallelism, left.KeyBy(lpart...), right.KeyBy(rpart...), dataflow.WindowJoinSpec{
		LeftKeys: lk, RightKeys: rk, Kind: p.kind, LeftSchema: p.left.Schema(), RightSchema: p.right.Schema(),
	}), nil
}

// maxWindowsPerRow bounds how many HOP or CUMULATE windows one row may
// fall in: HOP(INTERVAL '1' MICROSECOND, INTERVAL '1' DAY) would put every
// row in 86,400,000,000 windows, a job that runs out of memory long before
// it ends (and cannot be cancelled mid-row).
const maxWindowsPerRow = 10_000

func checkWindowsPerRow(w *windowSpec) error {
	var per time.Duration
	switch w.kind {
	case hopWindow:
		per = w.slide
	case cumulateWindow:
		per = w.step
	default:
		return nil
	}
	if per > 0 && w.size/per > maxWindowsPerRow {
		return fmt.Errorf("%s puts each row in %d windows (size / %s); at most %d are allowed",
			w.funcName, int64(w.size/per), map[windowKind]string{hopWindow: "slide", cumulateWindow: "step"}[w.kind], maxWindowsPerRow)
	}
	return nil
}

// renameTo returns a map that relabels a batch with schema s (same column
// count and types; names and metadata from s).
func renameTo(s *arrow.Schema) dataflow.MapFunc {
	return func(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		if int(rec.NumCols()) != s.NumFields() {
			return nil, fmt.Errorf("expected %d columns, got %d", s.NumFields(), rec.NumCols())
		}
		cols := rec.Columns()
		for i, f := range s.Fields() {
			if !arrow.TypeEqual(f.Type, cols[i].DataType()) {
				return nil, fmt.Errorf("column %q: expected %s, got %s", f.Name, TypeName(f.Type), TypeName(cols[i].DataType()))
			}
		}
		return array.NewRecordBatch(s, cols, rec.NumRows()), nil
	}
}

// selectTrue appends the indices of true (non-null) values to sel.
func selectTrue(arr arrow.Array, sel []int32) []int32 {
	switch a := arr.(type) {
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			if a.Value(i) && a.IsValid(i) {
				sel = append(sel, int32(i))
			}
		}
	case *array.Null:
	}
	return sel
}

// valuesSource is the source of SELECT without FROM: one row, no columns.
type valuesSource struct{}

func (valuesSource) Schema() *arrow.Schema { return emptySchema }
func (valuesSource) Splits(context.Context) ([]dataflow.Split, error) {
	return []dataflow.Split{valuesSplit{}}, nil
}

type valuesSplit struct{}

func (valuesSplit) ID() string { return "values" }
func (valuesSplit) Open(context.Context, dataflow.Position) (dataflow.SplitReader, error) {
	return &valuesReader{}, nil
}

type valuesReader struct{ done bool }

func (r *valuesReader) Next(context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.done {
		return nil, 1, errEOF
	}
	r.done = true
	return array.NewRecordBatch(emptySchema, nil, 1), 1, nil
}
func (r *valuesReader) Close() error { return nil }

func (c *compiler) topN(p *topNPlan) (dataflow.Stream, error) {
	in, err := c.compile(p.input)
	if err != nil {
		return dataflow.Stream{}, err
	}
	schema := p.input.Schema()
	spec := dataflow.TopNSpec{N: int(p.n), RankColumn: p.rankName}
	keys := []string{dataflow.WindowStartColumn, dataflow.WindowEndColumn}
	for _, k := range p.partition {
		spec.PartitionBy = append(spec.PartitionBy, schema.Field(k).Name)
		keys = append(keys, schema.Field(k).Name)
	}
	for _, k := range p.order {
		spec.OrderBy = append(spec.OrderBy, dataflow.SortKey{Column: schema.Field(k.col).Name, Desc: k.desc, NullsFirst: k.nullsFirst})
	}
	return in.KeyBy(keys...).WindowTopN(c.name("window-topn"), c.opts.Parallelism, spec), nil
}

func (c *compiler) streamJoin(p *streamJoinPlan) (dataflow.Stream, error) {
	left, err := c.compile(p.left)
	if err != nil {
		return dataflow.Stream{}, err
	}
	right, err := c.compile(p.right)
	if err != nil {
		return dataflow.Stream{}, err
	}
	ls, rs := p.left.Schema(), p.right.Schema()
	names := func(s *arrow.Schema, idx []int) []string {
		out := make([]string, len(idx))
		for i, j := range idx {
			out[i] = s.Field(j).Name
		}
		return out
	}
	timeName := func(pl Plan) string {
		if t := pl.props().timeCol; t >= 0 {
			return pl.Schema().Field(t).Name
		}
		return ""
	}
	lk, rk := names(ls, p.leftKeys), names(rs, p.rightKeys)
	par := c.opts.Parallelism
	switch p.join {
	case intervalJoin:
		return c.g.IntervalJoin(c.name("interval-join"), par, left, right, dataflow.IntervalJoinSpec{
			LeftKeys: lk, RightKeys: rk, LeftTime: timeName(p.left), RightTime: timeName(p.right),
			Lower: p.lower, Upper: p.upper, LeftSchema: ls, RightSchema: rs,
		}), nil
	case lookupJoin:
		return c.g.LookupJoin(c.name("lookup-join"), left.Node().Parallelism, left, right, dataflow.LookupJoinSpec{
			LeftKeys: lk, RightKeys: rk, Kind: p.kind, LeftSchema: ls, RightSchema: rs,
		}), nil
	}
	spec := dataflow.RegularJoinSpec{LeftKeys: lk, RightKeys: rk, Kind: p.kind, LeftSchema: ls, RightSchema: rs}
	if p.ttl > 0 {
		spec.TTL, spec.LeftTime, spec.RightTime = p.ttl, timeName(p.left), timeName(p.right)
	}
	return c.g.RegularJoin(c.name("regular-join"), par, left, right, spec), nil
}

// splitHints turns the conjuncts of cond that compare a column with a
// constant into hints for the source (over schema, the scan's output).
func splitHints(cond Expr, schema *arrow.Schema) []Hint {
	flip := map[string]string{"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
	var hints []Hint
	for _, c := range Conjuncts(cond) {
		op, l, r, ok := Comparison(c)
		if !ok {
			continue
		}
		col, isCol := l.(*ColumnRef)
		if !isCol || !IsConstant(r) {
			if col, isCol = r.(*ColumnRef); !isCol || !IsConstant(l) {
				continue
			}
			op, r = flip[op], l
		}
		v, err := constValue(r)
		if err != nil || v == nil || op == "" {
			continue
		}
		hints = append(hints, Hint{Column: schema.Field(col.Index).Name, Op: op, Value: v})
	}
	return hints
}
