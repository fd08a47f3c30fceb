package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/watermark"
)

// Why a job stops early (context causes, shown to viewers).
var (
	errNoViewers  = errors.New("no viewer left")
	errJobDeleted = errors.New("cancelled: the job was stopped (DELETE /api/jobs)")
	errShutdown   = errors.New("cancelled: the server is shutting down")
	errViewerSlow = errors.New("this viewer fell too far behind the live job and was detached; run the cell again to rejoin")
)

// Job states.
const (
	stateRunning   = "running"
	stateDone      = "done"
	stateFailed    = "failed"
	stateCancelled = "cancelled"
)

// keptFinishedJobs is how many ended jobs /api/jobs still lists.
const keptFinishedJobs = 50

// jobKey identifies a live job that other live runs may join.
type jobKey struct{ sql, from string }

// registry holds the server's jobs: every run is a job with an id; live
// jobs are also indexed by what they run, so that equal live runs share
// one job.
type registry struct {
	s *Server

	mu       sync.Mutex
	next     int64
	jobs     map[string]*job
	live     map[jobKey]*job
	durable  map[string]*job // running durable jobs by name
	finished []*job          // most recent last, at most keptFinishedJobs
	// running counts the jobs' goroutines, so that Close can wait for them.
	running sync.WaitGroup
}

func newRegistry(s *Server) *registry {
	return &registry{s: s, jobs: map[string]*job{}, live: map[jobKey]*job{}, durable: map[string]*job{}}
}

// job is one run of SQL. Its results go to its viewers; a live job keeps
// its folded result so that a viewer can join it late.
type job struct {
	reg     *registry
	id      string
	sql     string
	opts    query.RunOptions
	mode    string
	from    string
	to      string
	started time.Time
	shared  bool // a live job: others may join; it never waits for a viewer
	ctx     context.Context
	cancel  context.CancelCauseFunc

	mu         sync.Mutex
	viewers    []*viewer
	maxViewers int
	stmts      []*jobStmt
	state      string
	ended      time.Time
	err        error
	progress   query.Progress
	lastRowsIn int64
	lastTick   time.Time
	rate       float64 // rows in per second, over the last progress interval
	lagMS      int64   // wall clock minus watermark, live jobs, −1 when unknown
	rowsOut    int64
	// external counts viewers outside the websocket (POST /api/query).
	external int
	// stopping is set when the last viewer left: nobody may join.
	stopping bool
	// durable is set for a durable job (durable.go): it checkpoints and
	// keeps running without viewers.
	durable *durableJob
	// done is closed when the job has ended (and a durable job's record
	// has been dealt with).
	done chan struct{}
}

// durableJob is what a durable job adds to a job.
type durableJob struct {
	durableSpec
	// produced is set by the first schema or progress: the job's SQL runs.
	produced bool
	// forget is set by DELETE: the job's record and checkpoints go when
	// it ends.
	forget bool
	// forgotten is set once its record and checkpoints are gone.
	forgotten bool
	// resumedFrom is the checkpoint the job resumed from (0: none).
	resumedFrom int64
	// restarts counts its restarts after failures (query.Durable's
	// restart strategy); lastFailure is the last one's cause.
	restarts    int
	lastFailure string
	// savepoint is set by DELETE ?savepoint=true once the savepoint is
	// written: the job stops, is not restored, and the same job asked
	// for again resumes from it.
	savepoint *query.SavepointRef
}

// jobStmt is what a job holds of one statement for late joiners.
type jobStmt struct {
	schema *arrow.Schema
	fold   *fold          // live jobs
	done   *serverMessage // when the statement ended
}

// viewer is one client run attached to a job.
type viewer struct {
	c     *client
	runID string
	arrow bool
	job   *job
}

// newJob registers a job for sql (not started: see run).
func (r *registry) newJob(sql string, opts query.RunOptions, mode, from, to string) *job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.newJobLocked(sql, opts, mode, from, to)
}

func (r *registry) newJobLocked(sql string, opts query.RunOptions, mode, from, to string) *job {
	ctx, cancel := context.WithCancelCause(r.s.jobsCtx)
	r.next++
	j := &job{reg: r, id: "j" + strconv.FormatInt(r.next, 10), sql: sql, opts: opts, mode: mode, from: from, to: to,
		started: time.Now(), shared: opts.Mode == query.Live, ctx: ctx, cancel: cancel, state: stateRunning, lagMS: -1,
		done: make(chan struct{})}
	r.jobs[j.id] = j
	return j
}

// attach starts a viewer on a job: a live run joins the running live job
// of the same SQL and from when there is one, else a new job starts. The
// viewer gets the schema, the folded result and then the changelog. A
// durable run (d not nil) joins only a durable job: a plain live job of
// the same SQL keeps its viewers, and the durable one starts beside it.
func (r *registry) attach(v *viewer, sql string, opts query.RunOptions, mode, from, to string, d *durableSpec) error {
	if d != nil {
		_, err := r.startDurable(v, sql, opts, mode, from, to, *d)
		return err
	}
	if opts.Mode == query.Live {
		key := jobKey{sql, from}
		r.mu.Lock()
		if j := r.live[key]; j != nil && j.join(v) {
			r.mu.Unlock()
			return nil
		}
		j := r.newJobLocked(sql, opts, mode, from, to)
		j.join(v)
		r.live[key] = j
		r.mu.Unlock()
		r.goRun(j)
		return nil
	}
	j := r.newJob(sql, opts, mode, from, to)
	j.join(v)
	r.goRun(j)
	return nil
}

// startDurable joins v (nil: no viewer, a restored job) to the running
// durable job of the same SQL and from, or starts a durable job named
// d.name. It refuses a name that a running durable job of other SQL has.
func (r *registry) startDurable(v *viewer, sql string, opts query.RunOptions, mode, from, to string, d durableSpec) (*job, error) {
	key := jobKey{sql, from}
	r.mu.Lock()
	defer r.mu.Unlock()
	if j := r.live[key]; j != nil && j.durable != nil && (v == nil || j.join(v)) {
		return j, nil
	}
	if other := r.durable[d.name]; other != nil {
		return nil, fmt.Errorf("the durable job name %q is taken by job %s, which runs other SQL", d.name, other.id)
	}
	if d.created.IsZero() {
		d.created = time.Now().UTC()
	}
	j := r.newJobLocked(sql, opts, mode, from, to)
	j.durable = &durableJob{durableSpec: d}
	s := r.s
	j.opts.Durable = &query.Durable{Job: d.name, Store: s.durable.checkpoints, Interval: s.opts.CheckpointInterval,
		Savepoints: s.durable.savepoints, Lock: s.durable.locks,
		StateBackend: s.opts.StateBackend, StateDir: filepath.Join(s.opts.Workspace, "state", d.name),
		Resumed: func(name string, id int64) {
			s.log.Info("durable job resumed from its checkpoint", "name", name, "job", j.id, "checkpoint", id)
			j.mu.Lock()
			j.durable.resumedFrom, j.durable.produced = id, true
			j.mu.Unlock()
		},
		Restarted: func(rs query.Restart) {
			s.log.Warn("durable job failed; restarting it", "name", rs.Job, "job", j.id, "error", rs.Err.Error(),
				"backoff", rs.Backoff.String(), "restart", rs.Restart, "max", rs.Max, "window", rs.Window.String())
			j.mu.Lock()
			j.durable.restarts++
			j.durable.lastFailure = rs.Err.Error()
			j.mu.Unlock()
		}}
	if v != nil {
		j.join(v)
	}
	r.live[key] = j
	r.durable[d.name] = j
	r.goRunLocked(j)
	return j, nil
}

func (r *registry) goRun(j *job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.goRunLocked(j)
}

func (r *registry) goRunLocked(j *job) {
	r.running.Add(1)
	go func() {
		defer r.running.Done()
		j.run()
	}()
}

// failedRestore lists a recorded durable job that could not be started as
// failed, so that DELETE /api/jobs/{id} can forget it.
func (r *registry) failedRestore(rec jobRecord, err error) {
	j := r.newJob(rec.SQL, query.RunOptions{}, rec.Mode, rec.From, rec.To)
	j.durable = &durableJob{durableSpec: durableSpec{name: rec.Name, restored: true, created: rec.Created}}
	j.finish(err)
}

// join adds v to a running job and queues what v missed: each statement's
// schema, folded rows and end. It fails when the job has ended or is
// stopping (no viewer left).
func (j *job) join(v *viewer) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != stateRunning || j.stopping {
		return false
	}
	v.job = j
	for i, st := range j.stmts {
		if st.schema != nil {
			_ = v.c.queue.push(v.schemaMessage(i, st.schema))
		}
		if st.fold != nil {
			if b := st.fold.snapshot(); len(b.keys) > 0 {
				_ = v.c.queue.pushRows(v.runID, i, v.arrowSchema(st.schema), b, false, nil)
			}
		}
		if st.done != nil {
			d := *st.done
			d.ID = v.runID
			_ = v.c.queue.push(d)
		}
	}
	j.viewers = append(j.viewers, v)
	j.maxViewers = max(j.maxViewers, len(j.viewers))
	return true
}

// detach removes a viewer; the last one to leave stops the job. It
// reports whether v was attached.
func (j *job) detach(v *viewer) bool {
	j.reg.mu.Lock()
	j.mu.Lock()
	found := false
	for i, w := range j.viewers {
		if w == v {
			j.viewers = append(j.viewers[:i], j.viewers[i+1:]...)
			found = true
			break
		}
	}
	stop := found && len(j.viewers) == 0 && j.external == 0 && j.state == stateRunning && j.durable == nil
	if stop {
		j.stopping = true
	}
	if stop && j.shared {
		key := jobKey{j.sql, j.from}
		if j.reg.live[key] == j {
			delete(j.reg.live, key)
		}
	}
	j.mu.Unlock()
	j.reg.mu.Unlock()
	if stop {
		j.cancel(errNoViewers)
		v.c.queue.wake() // a backfill may wait for room in v's queue
	}
	return found
}

func (v *viewer) schemaMessage(stmt int, s *arrow.Schema) serverMessage {
	m := schemaMessage(v.runID, stmt, s)
	m.Job = v.job.id
	return m
}

func (v *viewer) arrowSchema(s *arrow.Schema) *arrow.Schema {
	if v.arrow {
		return s
	}
	return nil
}

// snapshotViewers returns the viewers (under j.mu).
func (j *job) snapshotViewers() []*viewer {
	return append([]*viewer(nil), j.viewers...)
}

// sendAll queues m for each viewer under the viewer's own run id. A queue
// that is closed (its client left) refuses it; nothing else is to be done.
func sendAll(vs []*viewer, m serverMessage) {
	for _, v := range vs {
		vm := m
		vm.ID = v.runID
		_ = v.c.queue.push(vm)
	}
}

// run executes the job and ends it: its viewers get done or error, it
// leaves the registry's live index and is kept among the finished jobs.
func (j *job) run() {
	s := j.reg.s
	s.metrics.jobsStarted.Add(1)
	s.metrics.jobsRunning.Add(1)
	attrs := []any{"job", j.id, "mode", j.mode, "from", j.from, "to", j.to, "sql", truncate(j.sql, 200)}
	var err error
	if d := j.durable; d != nil {
		attrs = append(attrs, "durable", d.name)
		if !d.restored {
			// Recorded before it runs: a server stopped a moment later
			// starts it again.
			err = s.durable.put(j.ctx, jobRecord{Name: d.name, SQL: j.sql, Mode: j.mode, From: j.from, To: j.to, Created: d.created})
		}
	}
	s.log.Info("job started", attrs...)
	if err == nil {
		err = s.engine.Execute(j.ctx, j.sql, j.opts, &jobSink{j: j})
	}
	if err != nil && j.ctx.Err() != nil {
		if cause := context.Cause(j.ctx); cause != nil {
			err = cause
		}
	}
	s.metrics.jobsRunning.Add(-1)
	j.finish(err)
}

// finish ends the job with err (nil: done).
func (j *job) finish(err error) {
	s := j.reg.s
	r := j.reg
	r.mu.Lock()
	j.mu.Lock()
	switch {
	case err == nil:
		j.state = stateDone
	case errors.Is(err, errNoViewers), errors.Is(err, errJobDeleted), errors.Is(err, errShutdown), errors.Is(err, errCancelled), errors.Is(err, errQueueClosed),
		errors.Is(err, dataflow.ErrStopped):
		j.state = stateCancelled
	default:
		j.state = stateFailed
		s.metrics.jobsFailed.Add(1)
	}
	j.err, j.ended = err, time.Now()
	j.maxViewers = max(j.maxViewers, j.external)
	j.external = 0
	viewers := j.snapshotViewers()
	j.viewers = nil
	key := jobKey{j.sql, j.from}
	if r.live[key] == j {
		delete(r.live, key)
	}
	delete(r.jobs, j.id)
	if j.durable != nil && r.durable[j.durable.name] == j {
		delete(r.durable, j.durable.name)
	}
	r.finished = append(r.finished, j)
	if len(r.finished) > keptFinishedJobs {
		r.finished = append([]*job(nil), r.finished[len(r.finished)-keptFinishedJobs:]...)
	}
	state, rows, maxViewers := j.state, j.rowsOut, j.maxViewers
	j.mu.Unlock()
	r.mu.Unlock()
	attrs := []any{"job", j.id, "state", state, "rows_out", rows, "elapsed_ms", time.Since(j.started).Milliseconds(), "viewers_max", maxViewers}
	if err != nil && state == stateFailed {
		s.log.Warn("job ended", append(attrs, "error", err.Error())...)
	} else {
		s.log.Info("job ended", attrs...)
	}
	for _, v := range viewers {
		v.c.forget(v)
		if err != nil && !errors.Is(err, errNoViewers) {
			m := errorMessage(v.runID, err)
			m.Cancelled = state == stateCancelled
			_ = v.c.queue.push(m)
		}
	}
	if j.durable != nil {
		j.settleDurable(state, err)
	}
	close(j.done)
}

// settleDurable deals with an ended durable job's record: forgotten when
// deleted (record and checkpoints), removed when the job ran to its end
// (query.Durable discarded its checkpoints), stopped with a savepoint
// (kept, with the checkpoints, to resume from) or when a new job failed
// before producing anything (its SQL does not run: restoring it would fail
// at every start); kept otherwise (shutdown, a failure after a start).
func (j *job) settleDurable(state string, end error) {
	s := j.reg.s
	j.mu.Lock()
	d := *j.durable
	j.mu.Unlock()
	ctx := context.Background()
	var err error
	switch {
	case d.forget:
		err = s.durable.forget(ctx, d.name)
		if err == nil {
			j.mu.Lock()
			j.durable.forgotten = true
			j.mu.Unlock()
			s.log.Info("durable job forgotten", "name", d.name, "job", j.id)
		}
	case state == stateDone, errors.Is(end, dataflow.ErrStopped), state == stateFailed && !d.restored && !d.produced:
		// Only the record: checkpoints of that name that the job did not
		// write (weir query --job NAME) stay.
		if err = s.durable.records.Delete(ctx, d.name+".json"); err == nil {
			j.mu.Lock()
			j.durable.forgotten = true
			j.mu.Unlock()
		}
	}
	if err != nil {
		s.log.Warn("durable job: its record is left", "name", d.name, "job", j.id, "error", err.Error())
	}
}

// stop cancels the job for every viewer (DELETE /api/jobs/{id}) and wakes
// a backfill that waits for room in its viewer's queue.
func (j *job) stop(cause error) {
	j.cancel(cause)
	j.mu.Lock()
	vs := j.snapshotViewers()
	j.mu.Unlock()
	for _, v := range vs {
		v.c.queue.wake()
	}
}

// jobSink receives the engine's output for a job and hands it to the
// viewers. A shared (live) job never waits for a viewer: one that cannot
// take more rows is detached with an error; a backfill job waits for its
// one viewer (backpressure to the sources).
type jobSink struct{ j *job }

var _ query.Sink = (*jobSink)(nil)

func (k *jobSink) stmt(i int) *jobStmt {
	j := k.j
	for len(j.stmts) <= i {
		st := &jobStmt{}
		if j.shared {
			st.fold = newFold(j.reg.s.opts.MaxFoldedRows)
		}
		j.stmts = append(j.stmts, st)
	}
	return j.stmts[i]
}

func (k *jobSink) Schema(i int, s *arrow.Schema) error {
	j := k.j
	j.mu.Lock()
	k.stmt(i).schema = s
	if j.durable != nil {
		j.durable.produced = true
	}
	vs := j.snapshotViewers()
	j.mu.Unlock()
	for _, v := range vs {
		_ = v.c.queue.push(v.schemaMessage(i, s))
	}
	return nil
}

func (k *jobSink) Rows(i int, b dataflow.Batch) error {
	j := k.j
	br, err := renderBatch(b)
	if err != nil {
		return err
	}
	j.mu.Lock()
	st := k.stmt(i)
	if st.fold != nil {
		st.fold.apply(br)
	}
	j.rowsOut += int64(b.Len())
	vs := j.snapshotViewers()
	schema := st.schema
	j.mu.Unlock()
	s := j.reg.s
	for _, v := range vs {
		err := v.c.queue.pushRows(v.runID, i, v.arrowSchema(schema), br, !j.shared, j.ctx.Done())
		switch {
		case err == nil:
			s.metrics.rowsOut.Add(int64(b.Len()))
		case errors.Is(err, errBehind):
			s.log.Warn("viewer detached: too slow for the live job", "job", j.id, "run", v.runID)
			if v.c.forget(v) {
				_ = v.c.queue.push(errorMessage(v.runID, errViewerSlow))
			}
			j.detach(v)
		case !j.shared:
			return err // the only viewer is gone
		}
	}
	return nil
}

func (k *jobSink) Progress(i int, p query.Progress) error {
	j := k.j
	now := time.Now()
	j.mu.Lock()
	if !j.lastTick.IsZero() {
		if dt := now.Sub(j.lastTick).Seconds(); dt > 0 {
			j.rate = float64(p.RowsIn-j.lastRowsIn) / dt
		}
	}
	j.lastTick, j.lastRowsIn, j.progress = now, p.RowsIn, p
	if j.durable != nil {
		j.durable.produced = true
	}
	if j.opts.Mode == query.Live && p.Watermark != watermark.MinTime && p.Watermark != watermark.MaxTime {
		j.lagMS = max(now.Sub(p.Watermark.Std()).Milliseconds(), 0)
	}
	m := progressMessage("", p)
	m.Job = j.id
	if j.durable != nil {
		m.checkpointFigures = newCheckpointFigures(p.Checkpoint)
	}
	m.RowsPerSec = ptr(int64(j.rate + 0.5))
	if j.lagMS >= 0 {
		m.LagMS = ptr(j.lagMS)
	}
	vs := j.snapshotViewers()
	j.mu.Unlock()
	sendAll(vs, m)
	return nil
}

func (k *jobSink) Done(i int, d query.Done) error {
	j := k.j
	m := serverMessage{Type: "done", Stmt: ptr(i), RowsOut: ptr(d.RowsOut), ElapsedMS: ptr(d.Elapsed.Milliseconds()), Message: d.Message, Job: j.id}
	j.mu.Lock()
	k.stmt(i).done = &m
	vs := j.snapshotViewers()
	j.mu.Unlock()
	sendAll(vs, m)
	return nil
}

// jobInfo is one entry of GET /api/jobs.
type jobInfo struct {
	ID      string `json:"id"`
	SQL     string `json:"sql"`
	Mode    string `json:"mode"`
	From    string `json:"from"`
	To      string `json:"to"`
	State   string `json:"state"`
	Started string `json:"started"`
	Ended   string `json:"ended,omitempty"`
	Viewers int    `json:"viewers"`
	RowsOut int64  `json:"rows_out"`
	RowsIn  int64  `json:"rows_in"`
	// LagMS is the watermark's lag behind the wall clock (live jobs).
	LagMS *int64 `json:"lag_ms,omitempty"`
	Error string `json:"error,omitempty"`
	// Durable jobs: their name, when they were first asked for, the
	// checkpoint they resumed from (absent: they started afresh), their
	// restarts after failures and the last failure, and the savepoint
	// they stopped with.
	Durable     bool          `json:"durable,omitempty"`
	Name        string        `json:"name,omitempty"`
	Created     string        `json:"created,omitempty"`
	ResumedFrom int64         `json:"resumed_from,omitempty"`
	Restarts    int           `json:"restarts,omitempty"`
	LastFailure string        `json:"last_failure,omitempty"`
	Savepoint   *savepointRef `json:"savepoint,omitempty"`
	// checkpointFigures of a running durable job (as in its progress).
	checkpointFigures
}

func (j *job) info() jobInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	ji := jobInfo{ID: j.id, SQL: j.sql, Mode: j.mode, From: j.from, To: j.to, State: j.state,
		Started: j.started.UTC().Format(time.RFC3339Nano), Viewers: len(j.viewers) + j.external, RowsOut: j.rowsOut, RowsIn: j.progress.RowsIn}
	if !j.ended.IsZero() {
		ji.Ended = j.ended.UTC().Format(time.RFC3339Nano)
	}
	if j.lagMS >= 0 && j.state == stateRunning {
		ji.LagMS = ptr(j.lagMS)
	}
	if j.err != nil && j.state == stateFailed {
		ji.Error = errorMessage("", j.err).Message
	}
	if d := j.durable; d != nil {
		ji.Durable, ji.Name, ji.ResumedFrom, ji.Restarts, ji.LastFailure = true, d.name, d.resumedFrom, d.restarts, d.lastFailure
		if d.savepoint != nil {
			ji.Savepoint = &savepointRef{ID: d.savepoint.ID, Location: d.savepoint.Location}
		}
		if j.state == stateRunning {
			ji.checkpointFigures = newCheckpointFigures(j.progress.Checkpoint)
		}
		if !d.created.IsZero() {
			ji.Created = d.created.UTC().Format(time.RFC3339Nano)
		}
	}
	return ji
}

// list returns the running jobs (oldest first), then the recently ended.
func (r *registry) list() []jobInfo {
	r.mu.Lock()
	running := make([]*job, 0, len(r.jobs))
	for _, j := range r.jobs {
		running = append(running, j)
	}
	finished := append([]*job(nil), r.finished...)
	r.mu.Unlock()
	sort.Slice(running, func(a, b int) bool { return running[a].started.Before(running[b].started) })
	out := make([]jobInfo, 0, len(running)+len(finished))
	for _, j := range running {
		out = append(out, j.info())
	}
	for i := len(finished) - 1; i >= 0; i-- {
		out = append(out, finished[i].info())
	}
	return out
}

// stats returns the running jobs, their viewers and the largest watermark
// lag of a live job (ms, −1 when none), for /metrics.
func (r *registry) stats() (running, viewers int, maxLagMS int64) {
	r.mu.Lock()
	jobs := make([]*job, 0, len(r.jobs))
	for _, j := range r.jobs {
		jobs = append(jobs, j)
	}
	r.mu.Unlock()
	maxLagMS = -1
	for _, j := range jobs {
		j.mu.Lock()
		running++
		viewers += len(j.viewers) + j.external
		if j.shared && j.lagMS > maxLagMS {
			maxLagMS = j.lagMS
		}
		j.mu.Unlock()
	}
	return running, viewers, maxLagMS
}

// runningDurable returns the running durable job named name.
func (r *registry) runningDurable(name string) (*job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.durable[name]
	return j, ok
}

// find returns a running job, or a recently ended one.
func (r *registry) find(id string) (*job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if j, ok := r.jobs[id]; ok {
		return j, true
	}
	for _, j := range r.finished {
		if j.id == id {
			return j, true
		}
	}
	return nil, false
}

// durableStats returns each running durable job's name and checkpoint
// figures, by name, for /metrics.
func (r *registry) durableStats() (names []string, stats []dataflow.CheckpointStats) {
	r.mu.Lock()
	jobs := make([]*job, 0, len(r.durable))
	for _, j := range r.durable {
		jobs = append(jobs, j)
	}
	r.mu.Unlock()
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].durable.name < jobs[b].durable.name })
	for _, j := range jobs {
		j.mu.Lock()
		names, stats = append(names, j.durable.name), append(stats, j.progress.Checkpoint)
		j.mu.Unlock()
	}
	return names, stats
}

// stopAll cancels every job (shutdown).
func (r *registry) stopAll(cause error) {
	r.mu.Lock()
	jobs := make([]*job, 0, len(r.jobs))
	for _, j := range r.jobs {
		jobs = append(jobs, j)
	}
	r.mu.Unlock()
	for _, j := range jobs {
		j.stop(cause)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
