package server

import (
	"context"
	"errors"
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
	finished []*job // most recent last, at most keptFinishedJobs
}

func newRegistry(s *Server) *registry {
	return &registry{s: s, jobs: map[string]*job{}, live: map[jobKey]*job{}}
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
	ctx, cancel := context.WithCancelCause(r.s.jobsCtx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	j := &job{reg: r, id: "j" + strconv.FormatInt(r.next, 10), sql: sql, opts: opts, mode: mode, from: from, to: to,
		started: time.Now(), shared: opts.Mode == query.Live, ctx: ctx, cancel: cancel, state: stateRunning, lagMS: -1}
	r.jobs[j.id] = j
	return j
}

// attach starts a viewer on a job: a live run joins the running live job
// of the same SQL and from when there is one, else a new job starts. The
// viewer gets the schema, the folded result and then the changelog.
func (r *registry) attach(v *viewer, sql string, opts query.RunOptions, mode, from, to string) {
	if opts.Mode == query.Live {
		key := jobKey{sql, from}
		r.mu.Lock()
		if j := r.live[key]; j != nil && j.join(v) {
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		j := r.newJob(sql, opts, mode, from, to)
		j.join(v)
		r.mu.Lock()
		if old := r.live[key]; old == nil || !old.running() {
			r.live[key] = j
		}
		r.mu.Unlock()
		go j.run()
		return
	}
	j := r.newJob(sql, opts, mode, from, to)
	j.join(v)
	go j.run()
}

func (j *job) running() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state == stateRunning && len(j.viewers) > 0
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
	stop := found && len(j.viewers) == 0 && j.external == 0 && j.state == stateRunning
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
	s.log.Info("job started", "job", j.id, "mode", j.mode, "from", j.from, "to", j.to, "sql", truncate(j.sql, 200))
	err := s.engine.Execute(j.ctx, j.sql, j.opts, &jobSink{j: j})
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
	case errors.Is(err, errNoViewers), errors.Is(err, errJobDeleted), errors.Is(err, errShutdown), errors.Is(err, errCancelled), errors.Is(err, errQueueClosed):
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
	if j.opts.Mode == query.Live && p.Watermark != watermark.MinTime && p.Watermark != watermark.MaxTime {
		j.lagMS = max(now.Sub(p.Watermark.Std()).Milliseconds(), 0)
	}
	m := progressMessage("", p)
	m.Job = j.id
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

func (r *registry) get(id string) (*job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[id]
	return j, ok
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
