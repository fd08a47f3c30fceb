package query

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
)

// Durable INSERT (weir query --job): exactly-once by two-phase commit on
// checkpoints. The sink is a dataflow.CheckpointListener; its files are
// staged under a prefix of the table's location that readers skip (names
// beginning with "_", not ending in .parquet):
//
//	<loc>/_staging/<job>/_part-<run>-<subtask>-<seq>.parquet.staged
//	<loc>/_staging/<job>/_chk-<id, 20 digits>-<run>-<subtask>.json
//	    {"checkpoint": id, "files": [{"staged": key, "key": key, "rows": n}]}
//	<loc>/part-<run>-<subtask>-<seq>.parquet   (published)
//
// On barrier n a subtask finishes its open files as staged objects and
// then writes its manifest for n (a staged file without a manifest is
// garbage). CommitCheckpoint(n) publishes every manifest of the subtask up
// to n: each file is copied to its published key if that key is absent,
// then the staged files and the manifest are deleted — each step can be
// replayed, so a commit repeated after a crash publishes nothing twice.
// RecoverCheckpoint(m), before the tasks of a restarted job open, does the
// same for every manifest ≤ m left under the job's prefix and deletes
// everything else there (manifests > m, unnamed staged files); a fresh
// start (m = 0) so clears what a crashed attempt staged. Copying rather
// than renaming is what object stores offer; the rejected alternative,
// keeping open multipart uploads as the staged state, does not survive
// the local store's process and cannot be listed on recovery.

// insert runs INSERT INTO t SELECT …: the query's result is appended to
// t's history as new Parquet files, written by a sink operator per
// subtask.
//
// Commit protocol (one run): each sink subtask writes its rows through a
// parquet.Writer and, at end of input (Finish), finishes its files without
// making them visible (Precommit). Only when the whole job succeeded does
// the engine commit every subtask's files; a failed or cancelled job aborts
// them. So a failed INSERT leaves nothing behind, and no reader ever sees a
// half-written file; a commit that fails midway (a store error between two
// files) can leave some files of the statement visible, each whole.
func (e *Engine) insert(ctx context.Context, st Statement, ins *pg.InsertStmt, opts RunOptions, report func(Progress) error) (int64, error) {
	if ins.Relation == nil {
		return 0, st.errorAt(-1, "INSERT without a table")
	}
	relLoc := ins.Relation.Location
	switch {
	case len(ins.Cols) > 0:
		return 0, st.unsupportedAt(loc32(ins.Cols[0]), "INSERT with a column list (columns match by position)")
	case ins.OnConflictClause != nil:
		return 0, st.unsupportedAt(relLoc, "INSERT … ON CONFLICT")
	case len(ins.ReturningList) > 0:
		return 0, st.unsupportedAt(loc32(ins.ReturningList[0]), "INSERT … RETURNING")
	case ins.WithClause != nil:
		return 0, st.unsupportedAt(relLoc, "WITH before INSERT")
	case ins.SelectStmt == nil:
		return 0, st.unsupportedAt(relLoc, "INSERT … DEFAULT VALUES")
	}
	t, ok := e.Catalog.Table(ins.Relation.Relname)
	if !ok {
		return 0, st.errorAt(relLoc, "table %q does not exist", ins.Relation.Relname)
	}
	store, prefix, err := historyLocation(ctx, t)
	if err != nil {
		return 0, st.errorAt(relLoc, "table %q: %v", t.Name, err)
	}
	target, err := e.tableSchema(ctx, t)
	if err != nil {
		return 0, st.errorAt(relLoc, "table %q: %v", t.Name, err)
	}

	p, err := e.plan(ctx, st, ins.SelectStmt)
	if err != nil {
		return 0, err
	}
	selLoc := relLoc
	sel := ins.SelectStmt.GetSelectStmt()
	if sel != nil && len(sel.TargetList) > 0 {
		selLoc = sel.TargetList[0].GetResTarget().GetLocation()
	}
	if _, ok := p.(*sortPlan); ok {
		return 0, st.unsupportedAt(selLoc, "ORDER BY or LIMIT in INSERT … SELECT")
	}
	if p.props().updating {
		loc := selLoc
		if sel != nil && len(sel.GroupClause) > 0 {
			loc = loc32(sel.GroupClause[0])
		}
		return 0, st.errorAt(loc, "INSERT INTO needs an insert-only query; this one updates rows (a GROUP BY without a window emits a changelog)")
	}
	got := p.Schema()
	targetLoc := func(c int) int32 {
		if sel != nil && c < len(sel.TargetList) {
			if rt := sel.TargetList[c].GetResTarget(); rt != nil {
				return rt.Location
			}
		}
		return selLoc
	}
	if got.NumFields() != target.NumFields() {
		return 0, st.errorAt(targetLoc(min(got.NumFields(), target.NumFields())), "INSERT has %d columns but table %q has %d (%s): columns match by position",
			got.NumFields(), t.Name, target.NumFields(), fieldNames(target))
	}
	for c := range got.NumFields() {
		gf, tf := got.Field(c), target.Field(c)
		if !arrow.TypeEqual(gf.Type, tf.Type) {
			return 0, st.errorAt(targetLoc(c), "column %d of the query (%s) is %s, but column %d of table %q (%s) is %s; CAST it",
				c+1, gf.Name, TypeName(gf.Type), c+1, t.Name, tf.Name, TypeName(tf.Type))
		}
	}

	if opts.Durable != nil {
		if err := checkCheckpointable(st, p); err != nil {
			return 0, err
		}
	}
	c := newCompiler(ctx, e, opts)
	out, err := c.compile(p)
	if err != nil {
		return 0, compileError(st, err)
	}
	if !c.bounded && opts.Durable == nil {
		// A live INSERT never ends, so the commit at the end of the job
		// that makes a bounded INSERT's files visible never comes: only a
		// durable job, which commits on its checkpoints, publishes them.
		return 0, st.errorAt(relLoc, "INSERT from a live feed runs as a durable job, which publishes its rows on each checkpoint: give it a name with --job NAME (or run it as a backfill)")
	}
	ins2 := &insertion{ctx: ctx, store: store, schema: target, runID: runID(), opts: parquet.WriterOptions{Prefix: prefix}}
	// Progress, as a query's: rows out are the rows published so far.
	var running atomic.Pointer[dataflow.Job]
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopProgress := e.reportProgress(jobCtx, cancel, &running, c, ins2.rows.Load, report)
	defer func() { cancel(nil); stopProgress() }()
	final := func(rows int64, err error) (int64, error) { // the last progress, as a query's
		if j := running.Load(); err == nil && j != nil && report != nil {
			err = report(e.progress(j, c, rows))
		}
		return rows, err
	}
	if opts.Durable != nil {
		return final(e.insertDurable(jobCtx, st, c, out, t, ins2, opts, &running))
	}
	out.Apply("insert "+t.Name, c.opts.Parallelism, func() dataflow.Operator { return &insertSink{in: ins2} })
	job, err := dataflow.NewJob(c.g, dataflow.JobOptions{Logger: e.Logger})
	if err != nil {
		return 0, err
	}
	running.Store(job)
	if err := job.Run(jobCtx); err != nil {
		ins2.abort(ctx)
		return 0, err
	}
	if err := ins2.commit(ctx); err != nil {
		return 0, fmt.Errorf("INSERT INTO %s: %w", t.Name, err)
	}
	return final(ins2.rows.Load(), nil)
}

// insertDurable runs an INSERT as a durable job whose sink commits on
// checkpoints.
//
// Over a live feed (an endless input) the job runs until ctx is cancelled
// (Ctrl-C, --for), and its error is then ctx's: each completed checkpoint
// has published the rows staged up to it, one file per sink subtask and
// checkpoint at most (a checkpoint without new rows publishes nothing);
// rows staged after the last completed checkpoint stay unpublished, and the
// job resumed with the same command discards them and produces them again
// from the checkpoint's source positions. So across runs every row is
// published once.
func (e *Engine) insertDurable(ctx context.Context, st Statement, c *compiler, out dataflow.Stream, t *TableDef, in *insertion, opts RunOptions, running *atomic.Pointer[dataflow.Job]) (int64, error) {
	in.staging = in.opts.Prefix
	if in.staging != "" && !strings.HasSuffix(in.staging, "/") {
		in.staging += "/"
	}
	in.staging += "_staging/" + opts.Durable.Job + "/"
	// A previous attempt that ran to its end but died before it had
	// published everything left its completion record: finish that job,
	// and do not run it again (its rows are all in the staged files).
	if done, err := in.completed(ctx); err != nil {
		return 0, err
	} else if done {
		if err := in.complete(ctx, opts.Durable); err != nil {
			return 0, err
		}
		e.Logger.Info("durable INSERT: finished publishing a job that had run to its end", "job", opts.Durable.Job, "table", t.Name)
		// It is done, unless this run starts it afresh or from a
		// savepoint: then it runs after all.
		if !opts.Durable.Restart && opts.Durable.FromSavepoint == nil {
			return in.rows.Load(), nil
		}
	}
	out.Apply("insert "+t.Name, c.opts.Parallelism, func() dataflow.Operator { return &durableInsertSink{insertSink: insertSink{in: in}} })
	// Each attempt (a restart after a failure is one, restart.go) names its
	// files afresh: a name an earlier attempt published would make the
	// copy-if-absent publish skip the new file's rows.
	if err := e.runDurable(ctx, st, c.g, opts, dataflow.JobOptions{Logger: e.Logger}, func(j *dataflow.Job) { in.runID = runID(); running.Store(j) }); err != nil {
		if !c.bounded && ctx.Err() != nil {
			e.Logger.Info("live INSERT stopped; rows after its last completed checkpoint are published when the job resumes",
				"job", opts.Durable.Job, "table", t.Name, "rows_published", in.rows.Load(), "cause", context.Cause(ctx))
		}
		return 0, err
	}
	// The job ran to its end. Its sinks left their last files staged (a
	// final commit publishes nothing in a durable INSERT): record that the
	// job is complete, then publish, then forget the job, the record last.
	// A crash before the record resumes from the last checkpoint, which
	// discards those staged files and produces their rows again; a crash
	// after it is finished by the next run (above). Either way each row is
	// published once.
	if err := in.markCompleted(ctx); err != nil {
		return 0, err
	}
	if err := in.complete(ctx, opts.Durable); err != nil {
		return 0, err
	}
	return in.rows.Load(), nil
}

// historyLocation opens the store of a table's history for writing: a
// Parquet location (file://, s3://, a path) without glob characters.
func historyLocation(ctx context.Context, t *TableDef) (storage.Store, string, error) {
	if t.History == "" {
		return nil, "", fmt.Errorf("has no history to insert into (only a live feed)")
	}
	if base, pat := storage.SplitGlob(t.History); pat != "" {
		return nil, "", fmt.Errorf("history %q is a glob; INSERT needs a location (%s)", t.History, base)
	}
	u, err := url.Parse(t.History)
	if err == nil && u.Scheme != "" && u.Scheme != "file" && u.Scheme != "s3" {
		return nil, "", fmt.Errorf("history %q is not a Parquet location (file://, s3://)", t.History)
	}
	loc := t.History
	if !strings.HasSuffix(loc, "/") {
		loc += "/"
	}
	return storage.Open(ctx, loc)
}

// declaredSchema is the schema of a table's declared columns when its
// history location holds no data files yet (CREATE TABLE t (cols) WITH
// (history = …) before the first INSERT): there is no data to infer from
// or check against. Hidden objects (parquet.Hidden: a durable INSERT's
// staged files and manifests) are not data.
func (e *Engine) declaredSchema(ctx context.Context, t *TableDef) (*arrow.Schema, bool) {
	if len(t.Columns) == 0 || t.History == "" {
		return nil, false
	}
	st, _, pattern, err := storage.OpenGlob(ctx, t.History)
	if err != nil {
		return nil, false
	}
	files, err := storage.Glob(ctx, st, pattern)
	if err != nil {
		return nil, false
	}
	for _, f := range files {
		if !parquet.Hidden(f.Key) {
			return nil, false
		}
	}
	fields := make([]arrow.Field, len(t.Columns))
	for i, c := range t.Columns {
		k, ok := sqlTypes[c.Type]
		if !ok || k.typ() == nil {
			return nil, false
		}
		fields[i] = arrow.Field{Name: c.Name, Type: k.typ(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil), true
}

// runID names one INSERT's files: time-ordered, so a table's files sort
// in insertion order, and random, so two engines never collide.
func runID() string {
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	now := time.Now().UTC()
	return fmt.Sprintf("%s%06dZ-%s", now.Format("20060102T150405"), now.Nanosecond()/1000, hex.EncodeToString(rnd[:]))
}

// insertion is one INSERT's state shared by its sink subtasks.
type insertion struct {
	// ctx is the statement's: files outlive the job's tasks (they are
	// committed after it), so they are written under this context.
	ctx    context.Context
	store  storage.Store
	schema *arrow.Schema
	runID  string
	opts   parquet.WriterOptions
	rows   atomic.Int64
	// staging is the durable sink's prefix (durable INSERT only).
	staging   string
	recoverMu sync.Mutex

	mu      sync.Mutex
	writers []*parquet.Writer // precommitted, waiting for the job to succeed
}

func (in *insertion) commit(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	var errs []error
	for _, w := range in.writers {
		if _, err := w.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	in.writers = nil
	return errors.Join(errs...)
}

func (in *insertion) abort(ctx context.Context) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, w := range in.writers {
		_ = w.Abort(context.WithoutCancel(ctx))
	}
	in.writers = nil
}

// insertSink is the sink operator of an INSERT: one writer per subtask,
// files finished at end of input and committed by the engine.
type insertSink struct {
	dataflow.BaseOperator
	in       *insertion
	w        *parquet.Writer
	rows     int64
	finished bool
}

func (o *insertSink) Open(tc *dataflow.TaskContext) error {
	o.TC = tc
	opts := o.in.opts
	opts.ID = fmt.Sprintf("%s-%03d", o.in.runID, tc.Subtask)
	w, err := parquet.NewWriter(o.in.store, o.in.schema, opts)
	if err != nil {
		return err
	}
	o.w = w
	return nil
}

func (o *insertSink) ProcessBatch(_ context.Context, _ int, b dataflow.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	for _, op := range b.Ops {
		if op == dataflow.Retract {
			return errors.New("INSERT INTO needs an insert-only query; this one updates rows")
		}
	}
	rec := b.Rec
	if !rec.Schema().Equal(o.in.schema) {
		rec = array.NewRecordBatch(o.in.schema, rec.Columns(), rec.NumRows())
	}
	o.rows += rec.NumRows()
	return o.w.Write(o.in.ctx, rec)
}

// Finish finishes the subtask's files (end of input of a bounded query);
// the engine commits them once every subtask finished.
func (o *insertSink) Finish(context.Context) error {
	if err := o.w.Precommit(o.in.ctx); err != nil {
		return err
	}
	o.in.mu.Lock()
	o.in.writers = append(o.in.writers, o.w)
	o.in.mu.Unlock()
	o.in.rows.Add(o.rows)
	o.finished = true
	return nil
}

func (o *insertSink) Close() error {
	if o.w != nil && !o.finished {
		return o.w.Abort(context.Background())
	}
	return nil
}
