package query

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// Engine runs SQL: it binds statements against its catalog, compiles
// queries to dataflow graphs and runs them, streaming results to a sink.
type Engine struct {
	Catalog   *Catalog
	Providers *Providers
	Logger    *slog.Logger
}

// NewEngine returns an engine over a catalog with the built-in providers.
func NewEngine(c *Catalog) *Engine {
	return &Engine{Catalog: c, Providers: NewProviders(), Logger: slog.Default()}
}

// Sink receives what the statements of a script produce, in order. Calls
// for one statement never overlap.
type Sink interface {
	// Schema announces a statement's result columns; then Rows follow.
	Schema(stmt int, s *arrow.Schema) error
	// Rows delivers result rows: a changelog batch (Batch.Ops; nil = all
	// inserts).
	Rows(stmt int, b dataflow.Batch) error
	// Progress reports a running query's progress.
	Progress(stmt int, p Progress) error
	// Done ends a statement; msg is a command tag for statements without
	// rows ("CREATE TABLE").
	Done(stmt int, d Done) error
}

// Progress is a running query's progress.
type Progress struct {
	RowsIn      int64
	RowsOut     int64
	SplitsDone  int64
	SplitsTotal int64
	Watermark   watermark.Time
	LateRows    int64
	// BytesRead and BytesTotal are the Parquet bytes read so far and what a
	// full read of the row groups left after pruning would fetch; RowsTotal
	// those row groups' rows. All three are 0 for a query that reads no
	// Parquet (a live feed).
	BytesRead, BytesTotal, RowsTotal int64
	// Checkpoint holds the checkpoint figures of a durable run (zero
	// otherwise).
	Checkpoint dataflow.CheckpointStats
}

// Done ends a statement.
type Done struct {
	RowsOut int64
	Elapsed time.Duration
	Message string // command tag for statements without rows
}

// ProgressInterval is how often a running query reports progress.
var ProgressInterval = 250 * time.Millisecond

// Execute runs every statement of a script, in order, stopping at the
// first error (an *Error with position for anything in the SQL).
func (e *Engine) Execute(ctx context.Context, script string, opts RunOptions, sink Sink) error {
	stmts, err := Parse(script)
	if err != nil {
		return err
	}
	if opts.Durable != nil {
		if err := checkDurable(stmts); err != nil {
			return err
		}
		unlock, err := opts.Durable.lock()
		if err != nil {
			return err
		}
		defer unlock()
	}
	for i, st := range stmts {
		if err := e.execute(ctx, i, st, opts, sink); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) execute(ctx context.Context, i int, st Statement, opts RunOptions, sink Sink) error {
	start := time.Now()
	done := func(msg string) error { return sink.Done(i, Done{Message: msg, Elapsed: time.Since(start)}) }
	if st.Describe != "" {
		return e.describe(ctx, i, st, sink)
	}
	n := st.Node
	switch {
	case n.GetSelectStmt() != nil:
		return e.runQuery(ctx, i, st, n, opts, sink)
	case n.GetExplainStmt() != nil:
		return e.explain(ctx, i, st, n.GetExplainStmt(), opts, sink)
	case n.GetCreateStmt() != nil:
		if err := e.createTable(ctx, st, n.GetCreateStmt()); err != nil {
			return err
		}
		return done("CREATE TABLE")
	case n.GetViewStmt() != nil:
		if err := e.createView(ctx, st, n.GetViewStmt()); err != nil {
			return err
		}
		return done("CREATE VIEW")
	case n.GetDropStmt() != nil:
		msg, err := e.drop(st, n.GetDropStmt())
		if err != nil {
			return err
		}
		return done(msg)
	case n.GetVariableShowStmt() != nil:
		return e.show(i, st, n.GetVariableShowStmt(), sink)
	case n.GetInsertStmt() != nil:
		rows, err := e.insert(ctx, st, n.GetInsertStmt(), opts, func(p Progress) error { return sink.Progress(i, p) })
		if err != nil {
			return err
		}
		return sink.Done(i, Done{Message: fmt.Sprintf("INSERT 0 %d", rows), RowsOut: rows, Elapsed: time.Since(start)})
	}
	return st.unsupportedAt(-1, "this statement (%s)", strings.SplitN(strings.TrimSpace(st.SQL()), " ", 2)[0])
}

// plan binds a query and optimizes its logical plan.
func (e *Engine) plan(ctx context.Context, st Statement, n *pg.Node) (Plan, error) {
	p, err := newBinder(ctx, e, st).bindQuery(n)
	if err != nil {
		return nil, err
	}
	return pruneColumns(p)
}

func (e *Engine) runQuery(ctx context.Context, i int, st Statement, n *pg.Node, opts RunOptions, sink Sink) error {
	start := time.Now()
	p, err := e.plan(ctx, st, n)
	if err != nil {
		return err
	}
	var sorter *sortPlan
	if sp, ok := p.(*sortPlan); ok {
		sorter, p = sp, sp.input
	}
	if opts.Durable != nil {
		if err := checkCheckpointable(st, p); err != nil {
			return err
		}
	}
	if sorter != nil && opts.Durable != nil {
		// The whole result waits in the folder, which no checkpoint saves:
		// a resumed job would sort only what came after its checkpoint.
		return unsupportedError{st.errorAt(sortLocation(n),
			"ORDER BY and LIMIT in a durable job are not supported: the result they sort is not checkpointed")}
	}
	c := newCompiler(ctx, e, opts)
	out, err := c.compile(p)
	if err != nil {
		return compileError(st, err)
	}
	if sorter != nil && !c.bounded {
		return unsupportedError{st.errorAt(sortLocation(n),
			"ORDER BY and LIMIT over a live feed are not supported: they need the whole result (use a backfill, or top-N per window)")}
	}
	schema := p.Schema()
	visible := schema // without the sort's hidden columns
	if sorter != nil {
		visible = sorter.Schema()
	}
	if err := sink.Schema(i, visible); err != nil {
		return err
	}
	var rowsOut atomic.Int64
	var fold *folder
	if sorter != nil {
		fold = newFolder()
	}
	// The result sink runs at parallelism 1, so rows reach the client in
	// the order the sink sees them, and one goroutine calls the Sink.
	out.Sink("result", 1, func(_ context.Context, _ int, b dataflow.Batch) error {
		if b.Len() == 0 {
			return nil
		}
		if !b.Rec.Schema().Equal(schema) {
			b.Rec = array.NewRecordBatch(schema, b.Rec.Columns(), b.Rec.NumRows())
		}
		if fold != nil {
			return fold.add(b)
		}
		rowsOut.Add(int64(b.Len()))
		if err := sink.Rows(i, b); err != nil {
			return fmt.Errorf("%w: %w", errResultSink, err)
		}
		return nil
	})
	// A durable run may restart its job after a failure: progress reads
	// the attempt running.
	var job atomic.Pointer[dataflow.Job]
	var runJob func(context.Context) error
	if opts.Durable != nil {
		runJob = func(ctx context.Context) error {
			return e.runDurable(ctx, st, c.g, opts, dataflow.JobOptions{Logger: e.Logger}, job.Store)
		}
	} else {
		j, err := dataflow.NewJob(c.g, dataflow.JobOptions{Logger: e.Logger})
		if err != nil {
			return err
		}
		job.Store(j)
		runJob = j.Run
	}
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopProgress := e.reportProgress(jobCtx, cancel, &job, c, rowsOut.Load, func(p Progress) error { return sink.Progress(i, p) })
	err = runJob(jobCtx)
	cancel(nil)
	stopProgress()
	if err != nil {
		return err
	}
	if opts.Durable != nil {
		// The job ran to its end: nothing is left to resume, and the same
		// command runs it again from the start.
		if err := opts.Durable.discard(ctx); err != nil {
			return err
		}
	}
	if fold != nil {
		rec, err := fold.sorted(schema, sorter)
		if err != nil {
			return err
		}
		if sorter.hidden > 0 {
			rec = array.NewRecordBatch(visible, rec.Columns()[:visible.NumFields()], rec.NumRows())
		}
		if rec.NumRows() > 0 {
			rowsOut.Add(rec.NumRows())
			if err := sink.Rows(i, dataflow.Inserts(rec)); err != nil {
				return err
			}
		}
	}
	if err := sink.Progress(i, e.progress(job.Load(), c, rowsOut.Load())); err != nil {
		return err
	}
	return sink.Done(i, Done{RowsOut: rowsOut.Load(), Elapsed: time.Since(start)})
}

// sortLocation is where a query's ORDER BY (its first key) or LIMIT is,
// or −1.
func sortLocation(n *pg.Node) int32 {
	sel := n.GetSelectStmt()
	switch {
	case sel == nil:
	case len(sel.SortClause) > 0 && sel.SortClause[0].GetSortBy() != nil:
		return loc32(sel.SortClause[0].GetSortBy().Node)
	case sel.LimitCount != nil:
		return loc32(sel.LimitCount)
	case sel.LimitOffset != nil:
		return loc32(sel.LimitOffset)
	}
	return -1
}

// reportProgress reports the progress of the job that job points to (a
// durable run's attempt changes it) every ProgressInterval until ctx is
// done; an error from report cancels the run. stop waits for the reporter
// to end.
func (e *Engine) reportProgress(ctx context.Context, cancel context.CancelCauseFunc, job *atomic.Pointer[dataflow.Job], c *compiler,
	rowsOut func() int64, report func(Progress) error) (stop func()) {
	if report == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				j := job.Load()
				if j == nil {
					continue
				}
				if err := report(e.progress(j, c, rowsOut())); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	return func() { <-done }
}

func (e *Engine) progress(job *dataflow.Job, c *compiler, rowsOut int64) Progress {
	p := Progress{RowsOut: rowsOut, Watermark: watermark.MaxTime, Checkpoint: job.CheckpointStats()}
	if d := c.opts.Durable; d != nil {
		p.Checkpoint = d.checkpointStats(job) // counting on across restarts
	}
	for _, pp := range c.parquet {
		p.BytesRead += pp.BytesRead.Load()
		p.BytesTotal += pp.BytesTotal.Load()
		p.RowsTotal += pp.RowsTotal.Load()
	}
	scans := c.scans
	for _, s := range scans {
		for _, m := range job.Metrics(s) {
			p.RowsIn += m.RowsIn.Load()
			p.SplitsDone += m.SplitsDone.Load()
			p.SplitsTotal += m.SplitsTotal.Load()
			p.LateRows += m.Late()
			if w := watermark.Time(m.Watermark.Load()); w < p.Watermark {
				p.Watermark = w
			}
		}
	}
	if len(scans) == 0 {
		p.Watermark = watermark.MinTime
	}
	return p
}

func (e *Engine) explain(ctx context.Context, i int, st Statement, ex *pg.ExplainStmt, opts RunOptions, sink Sink) error {
	if ex.Query.GetSelectStmt() == nil {
		return st.unsupportedAt(-1, "EXPLAIN of this statement")
	}
	p, err := e.plan(ctx, st, ex.Query)
	if err != nil {
		return err
	}
	text := "Logical plan:\n" + indent(explain(p))
	inner := p
	if sp, ok := p.(*sortPlan); ok {
		inner = sp.input
	}
	c := newCompiler(ctx, e, opts)
	if _, err := c.compile(inner); err != nil {
		return compileError(st, err)
	}
	text += fmt.Sprintf("Dataflow (%s, parallelism %d; chained operators on one line):\n", opts.Mode, c.opts.Parallelism) + indent(c.g.String())
	return e.textResult(i, "QUERY PLAN", strings.Split(strings.TrimRight(text, "\n"), "\n"), sink)
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

// textResult sends lines as a one-column result.
func (e *Engine) textResult(i int, col string, lines []string, sink Sink) error {
	schema := arrow.NewSchema([]arrow.Field{{Name: col, Type: arrow.BinaryTypes.String}}, nil)
	if err := sink.Schema(i, schema); err != nil {
		return err
	}
	if len(lines) > 0 {
		rec := columnar.Record(schema, []arrow.Array{columnar.StringsOf(lines)}, len(lines))
		if err := sink.Rows(i, dataflow.Inserts(rec)); err != nil {
			return err
		}
	}
	return sink.Done(i, Done{RowsOut: int64(len(lines))})
}

func (e *Engine) show(i int, st Statement, s *pg.VariableShowStmt, sink Sink) error {
	switch strings.ToLower(s.Name) {
	case "tables":
		return e.textResult(i, "name", e.Catalog.Tables(), sink)
	case "views":
		return e.textResult(i, "name", e.Catalog.Views(), sink)
	}
	return st.unsupportedAt(-1, "SHOW %s (SHOW TABLES and SHOW VIEWS are)", s.Name)
}

func (e *Engine) describe(ctx context.Context, i int, st Statement, sink Sink) error {
	var schema *arrow.Schema
	var timeCol string
	if t, ok := e.Catalog.Table(st.Describe); ok {
		s, err := e.tableSchema(ctx, t)
		if err != nil {
			return st.errorAt(int32(st.Start), "table %q: %v", t.Name, err)
		}
		schema, timeCol = s, t.EventTime
	} else if _, ok := e.Catalog.View(st.Describe); ok {
		b := newBinder(ctx, e, st)
		p, err := b.bindRelation(st.Describe, int32(st.Start))
		if err != nil {
			return err
		}
		schema = p.Schema()
		if pr := p.props(); pr.timeCol >= 0 {
			timeCol = schema.Field(pr.timeCol).Name
		}
	} else {
		return st.errorAt(int32(st.Start), "relation %q does not exist", st.Describe)
	}
	out := arrow.NewSchema([]arrow.Field{{Name: "column", Type: arrow.BinaryTypes.String}, {Name: "type", Type: arrow.BinaryTypes.String}, {Name: "event_time", Type: arrow.FixedWidthTypes.Boolean}}, nil)
	if err := sink.Schema(i, out); err != nil {
		return err
	}
	var names, types []string
	var isTime []bool
	for _, f := range schema.Fields() {
		names, types, isTime = append(names, f.Name), append(types, TypeName(f.Type)), append(isTime, f.Name == timeCol)
	}
	rec := columnar.Record(out, []arrow.Array{columnar.StringsOf(names), columnar.StringsOf(types), columnar.Bools(isTime)}, len(names))
	if err := sink.Rows(i, dataflow.Inserts(rec)); err != nil {
		return err
	}
	return sink.Done(i, Done{RowsOut: int64(len(names))})
}

// tableSchema returns a table's schema: from its data, checked against the
// declared columns.
func (e *Engine) tableSchema(ctx context.Context, t *TableDef) (*arrow.Schema, error) {
	raw := t.History
	if raw == "" {
		raw = t.Live
	}
	if raw == "" {
		return nil, fmt.Errorf("has neither history nor live feed")
	}
	pr, u, err := e.Providers.lookup(raw)
	if err != nil {
		return nil, err
	}
	schema, err := pr.Schema(ctx, u)
	if err != nil {
		// An empty history with declared columns (before the first INSERT).
		if s, ok := e.declaredSchema(ctx, t); ok {
			return s, nil
		}
		return nil, err
	}
	schema = eventTimeUTC(schema, t.EventTime)
	for _, c := range t.Columns {
		is := schema.FieldIndices(c.Name)
		if len(is) != 1 {
			return nil, fmt.Errorf("declared column %q is not in its data (%s)", c.Name, fieldNames(schema))
		}
		if got := TypeName(schema.Field(is[0]).Type); !strings.EqualFold(got, c.Type) {
			return nil, fmt.Errorf("declared column %q has type %s, but its data has %s", c.Name, c.Type, got)
		}
	}
	return schema, nil
}

func fieldNames(s *arrow.Schema) string {
	var ns []string
	for _, f := range s.Fields() {
		ns = append(ns, f.Name)
	}
	return strings.Join(ns, ", ")
}

// openTable opens a table's data for a run: the history for a backfill,
// the live feed for a live run (or whichever the table has); for a live
// run of a table with both, the history from the run's from and then the
// live feed (see hybrid.go). A Parquet history read alone is read per
// lineage split when weir wrote it (see hybrid_replay.go).
func (e *Engine) openTable(ctx context.Context, t *TableDef, req SourceRequest) (dataflow.Source, bool, error) {
	if req.Mode == Live && t.Live != "" && t.History != "" {
		return e.openLive(ctx, t, req)
	}
	raw := t.History
	if req.Mode == Live && t.Live != "" || raw == "" {
		raw = t.Live
	}
	pr, u, err := e.Providers.lookup(raw)
	if err != nil {
		return nil, false, err
	}
	if pp, ok := pr.(parquetProvider); ok && raw == t.History {
		return e.openHistoryAlone(ctx, t, req, pp, u)
	}
	return pr.Open(ctx, u, req)
}

// folder folds a changelog into its final rows (for ORDER BY and LIMIT,
// which need the whole result).
type folder struct {
	batches []dataflow.Batch
}

func newFolder() *folder { return &folder{} }

func (f *folder) add(b dataflow.Batch) error {
	f.batches = append(f.batches, b)
	return nil
}

// sorted returns the folded rows, ordered and limited by s.
func (f *folder) sorted(schema *arrow.Schema, s *sortPlan) (arrow.RecordBatch, error) {
	var recs []arrow.RecordBatch
	var keep [][]int32
	// Fold: count each row's inserts minus retractions, by its text.
	count := map[string]int{}
	rowKey := func(rec arrow.RecordBatch, r int) string {
		var sb strings.Builder
		for c := 0; c < int(rec.NumCols()); c++ {
			sb.WriteString(rec.Column(c).ValueStr(r))
			sb.WriteByte(0)
		}
		return sb.String()
	}
	hasRetractions := false
	for _, b := range f.batches {
		if b.Ops != nil {
			hasRetractions = true
		}
	}
	if hasRetractions {
		for _, b := range f.batches {
			for r := 0; r < b.Len(); r++ {
				if b.Op(r) == dataflow.Retract {
					count[rowKey(b.Rec, r)]--
				} else {
					count[rowKey(b.Rec, r)]++
				}
			}
		}
	}
	for _, b := range f.batches {
		var idx []int32
		for r := 0; r < b.Len(); r++ {
			if b.Op(r) == dataflow.Retract {
				continue
			}
			if hasRetractions {
				k := rowKey(b.Rec, r)
				if count[k] <= 0 {
					continue
				}
				count[k]--
			}
			idx = append(idx, int32(r))
		}
		recs, keep = append(recs, b.Rec), append(keep, idx)
	}
	var parts []arrow.RecordBatch
	for i, rec := range recs {
		if len(keep[i]) == 0 {
			continue
		}
		t, err := columnar.TakeRecord(rec, keep[i])
		if err != nil {
			return nil, err
		}
		parts = append(parts, array.NewRecordBatch(schema, t.Columns(), t.NumRows()))
	}
	if len(parts) == 0 {
		return columnar.Empty(schema), nil
	}
	all, err := concat(schema, parts)
	if err != nil {
		return nil, err
	}
	idx := make([]int32, all.NumRows())
	for i := range idx {
		idx[i] = int32(i)
	}
	if len(s.keys) > 0 {
		keys := make([]dataflow.SortKey, len(s.keys))
		for i, k := range s.keys {
			keys[i] = dataflow.SortKey{Column: schema.Field(k.col).Name, Desc: k.desc, NullsFirst: k.nullsFirst}
		}
		if idx, err = dataflow.SortIndices(all, keys); err != nil {
			return nil, err
		}
	}
	lo := min(int(s.offset), len(idx))
	hi := len(idx)
	if s.limit >= 0 {
		hi = min(hi, lo+int(s.limit))
	}
	return columnar.TakeRecord(all, idx[lo:hi])
}

func concat(schema *arrow.Schema, parts []arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	for c := range cols {
		arrs := make([]arrow.Array, len(parts))
		for i, p := range parts {
			arrs[i] = p.Column(c)
		}
		a, err := array.Concatenate(arrs, memory.DefaultAllocator)
		if err != nil {
			return nil, err
		}
		cols[c] = a
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// eventTimeUTC returns schema with the event-time column typed as the
// source runner delivers it: timestamp[us, UTC] whatever the unit or zone
// of the data (a Parquet TIMESTAMP without time zone, milliseconds, …).
func eventTimeUTC(schema *arrow.Schema, col string) *arrow.Schema {
	is := schema.FieldIndices(col)
	if col == "" || len(is) != 1 || schema.Field(is[0]).Type.ID() != arrow.TIMESTAMP ||
		arrow.TypeEqual(schema.Field(is[0]).Type, columnar.TimestampType) {
		return schema
	}
	fields := append([]arrow.Field(nil), schema.Fields()...)
	fields[is[0]].Type = columnar.TimestampType
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}
