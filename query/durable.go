package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage/pebblestate"
)

// Durable makes a query run a durable job: it checkpoints periodically to
// Store under the name Job, and a run that finds a complete checkpoint of
// Job resumes from it (state by key group, sources rewound) instead of
// starting afresh — re-running the command after a crash goes on where the
// job's last checkpoint left it.
//
// Next to the checkpoints the job keeps a record of what it runs:
//
//	<job>/job.json   {"sql": …, "mode": …, "from": …, "to": …}
//	<job>/chk-<id>/… the checkpoints (dataflow's layout, checkpoint_store.go)
//
// A run whose statement or options differ from the record is refused with
// ErrJobChanged rather than restored: state of another query would be
// restored silently into operators that merely share a name. Comparing the
// SQL text rather than a hash of the compiled graph lets a job resume at
// another parallelism (the graph's text names it; dataflow redistributes
// key groups).
//
// Printed output is at-least-once: rows printed after the restored
// checkpoint and before the crash are printed again. A durable INSERT INTO
// is exactly-once: its sink commits on checkpoints (insert.go).
//
// Within a run, a failure that may pass restarts the job from its latest
// checkpoint, as Restarts allows (restart.go). Lock keeps two runs of one
// job from running at once (job_lock.go).
//
// Savepoints. StopWithSavepoint stops a running job with a savepoint in
// the Savepoints store — the same snapshot as a checkpoint, in the same
// layout (<job>/chk-<id>/, dataflow/savepoint.go), with the job's record
// next to its metadata:
//
//	<job>/chk-<id>/job.json    the record, as <job>/job.json above
//	<job>/chk-<id>/_metadata   and the checkpoint's files
//
// The savepoint is also written as the job's latest checkpoint, so the
// same command run again resumes from it like after a crash. A savepoint
// outlives the job's checkpoints (retention, --restart and the job's end
// do not touch it): FromSavepoint starts a job from one — wherever its
// directory has been moved — after discarding the job's checkpoints, at
// any parallelism; a savepoint whose record differs from the run's is
// refused with ErrJobChanged naming what differs.
//
// A server runs each durable job with a Durable of its own (they share
// one FileLocker on the workspace with weir query) and may call
// StopWithSavepoint from any goroutine, e.g. a request handler: the run
// (Engine.Execute) then returns an error wrapping dataflow.ErrStopped. A
// Durable serves one run at a time; it may serve the next one after the
// previous run returned.
type Durable struct {
	// Job names the job: letters, digits, '_', '-' and '.'.
	Job   string
	Store dataflow.CheckpointStore
	// Interval between checkpoints (default DefaultCheckpointInterval).
	Interval time.Duration
	// Restart discards the job's checkpoints before it starts.
	Restart bool
	// Resumed, if set, is told the checkpoint the job resumes from (also
	// when it is restarted after a failure).
	Resumed func(job string, checkpoint int64)

	// Restarts bounds the automatic restarts after failures (zero:
	// DefaultRestartPolicy).
	Restarts RestartPolicy
	// Restarted, if set, is told of each restart before its backoff;
	// without it restarts are logged.
	Restarted func(Restart)
	// Lock keeps two runs of the job from running at once: the second is
	// refused at once with an error wrapping ErrJobRunning. Nil: a lock
	// within this process only. Processes that share a workspace (weir
	// query, weir serve) use a FileLocker on it.
	Lock JobLocker
	// Savepoints is where StopWithSavepoint writes (nil: the job cannot
	// stop with a savepoint). It must not be Store: checkpoint retention
	// would delete savepoints there.
	Savepoints dataflow.CheckpointStore
	// FromSavepoint, if set, starts the job from a savepoint (see
	// ReadSavepoint) instead of its checkpoints, which are discarded.
	FromSavepoint *Savepoint
	// StateBackend keeps the keyed state of process functions: "memory"
	// (the default) or "pebble" (a Pebble DB per operator subtask under
	// os.TempDir(), checkpointed incrementally; see ParseStateBackend).
	StateBackend string
	// StateDir is where a Pebble backend keeps its local files: a
	// directory the job owns (default: one under os.TempDir()). A run
	// removes what an earlier run that died left there, so it must not
	// be shared with anything else.
	StateDir string

	mu      sync.Mutex
	record  jobRecord                // what the run runs, once prepared
	started time.Time                // when the job first started, once startTime knows
	earlier dataflow.CheckpointStats // of the run's attempts that ended
	ended   *dataflow.Job            // the last of them
	running *runningJob              // the attempt running, if any
}

// runningJob is one attempt of a durable run.
type runningJob struct {
	job  *dataflow.Job
	done chan struct{} // closed when Run returned; err is then set
	err  error
}

// ParseStateBackend returns the dataflow.JobOptions.StateStore of a
// Durable.StateBackend name: nil for "memory" or "".
func ParseStateBackend(name string) (dataflow.StateStoreFactory, error) {
	switch name {
	case "", "memory":
		return nil, nil
	case "pebble":
		return pebblestate.Factory(pebblestate.Options{}), nil
	}
	return nil, fmt.Errorf("state backend %q: use memory or pebble", name)
}

// DefaultCheckpointInterval is a durable job's checkpoint interval unless
// Durable.Interval says otherwise.
const DefaultCheckpointInterval = 10 * time.Second

// ErrJobChanged is wrapped by the error of a durable run whose checkpoints
// were taken by a different query or different run options.
var ErrJobChanged = errors.New("the job's checkpoints are of a different query")

const jobRecordName = "job.json"

// jobRecord is what a durable job runs, kept as <job>/job.json.
type jobRecord struct {
	SQL  string `json:"sql"`
	Mode string `json:"mode"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Started is when the job first started (RFC 3339): a live source
	// that begins at the present without a base of its own takes it as
	// its base, so that the job resumed later reads the same feed
	// (SourceRequest.Start). Not compared: it is not what the job runs.
	Started string `json:"started,omitempty"`
}

// jobNamePattern keeps a job name one path segment that every object store
// takes as is (dataflow path-escapes names; these need no escaping).
var jobNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// CheckJobName reports whether name can name a durable job.
func CheckJobName(name string) error {
	if !jobNamePattern.MatchString(name) || len(name) > 200 {
		return fmt.Errorf("job name %q: use letters, digits, '_', '-' and '.' (not first), at most 200", name)
	}
	return nil
}

func newJobRecord(st Statement, opts RunOptions) jobRecord {
	r := jobRecord{SQL: strings.Join(strings.Fields(st.SQL()), " "), Mode: opts.Mode.String()}
	if !opts.From.IsZero() {
		r.From = opts.From.UTC().Format(time.RFC3339Nano)
	}
	if !opts.To.IsZero() {
		r.To = opts.To.UTC().Format(time.RFC3339Nano)
	}
	return r
}

// diff names what differs between the recorded job r and this run's s.
func (r jobRecord) diff(s jobRecord) string {
	var d []string
	if r.SQL != s.SQL {
		d = append(d, fmt.Sprintf("its query was %q", r.SQL))
	}
	if r.Mode != s.Mode {
		d = append(d, fmt.Sprintf("it ran in %s mode", r.Mode))
	}
	if r.From != s.From {
		d = append(d, fmt.Sprintf("it ran --from %q", r.From))
	}
	if r.To != s.To {
		d = append(d, fmt.Sprintf("it ran --to %q", r.To))
	}
	return strings.Join(d, "; ")
}

func jobChanged(job, why string) error {
	return fmt.Errorf("%w: job %q %s; discard its checkpoints to start it afresh (weir query --restart)", ErrJobChanged, job, why)
}

// prepare readies the store for a durable run of st and returns the
// checkpoint to restore (nil: start afresh). It discards the job's
// checkpoints on Restart, refuses a job whose record differs from st and
// opts, and writes the record for a new job. From a savepoint it refuses a
// savepoint of something else, discards the job and returns the
// savepoint. A restart after a failure (restarting) returns the latest
// checkpoint, or the savepoint the run started from if there is none.
func (d *Durable) prepare(ctx context.Context, st Statement, opts RunOptions, e *Engine, restarting bool) (*dataflow.Checkpoint, error) {
	if err := CheckJobName(d.Job); err != nil {
		return nil, err
	}
	if d.Store == nil {
		return nil, fmt.Errorf("durable job %q: no checkpoint store", d.Job)
	}
	if _, err := ParseStateBackend(d.StateBackend); err != nil {
		return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
	}
	if d.StateDir != "" && !restarting {
		// Local state of a run that died (a SIGKILL skips its cleanup):
		// this run, which holds the job's lock, restores from the
		// checkpoint instead.
		if err := os.RemoveAll(d.StateDir); err != nil {
			return nil, fmt.Errorf("durable job %q: clear its state directory: %w", d.Job, err)
		}
	}
	if d.StateDir != "" {
		if err := os.MkdirAll(d.StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
		}
	}
	want := newJobRecord(st, opts)
	started, err := d.startTime(ctx)
	if err != nil {
		return nil, err
	}
	want.Started = started.Format(time.RFC3339Nano)
	d.mu.Lock()
	d.record = want
	d.mu.Unlock()
	if restarting {
		chk, err := dataflow.LatestCheckpoint(ctx, d.Store, d.Job, e.Logger)
		switch {
		case errors.Is(err, dataflow.ErrNoCheckpoint) && d.FromSavepoint != nil:
			return d.FromSavepoint.Checkpoint, nil
		case errors.Is(err, dataflow.ErrNoCheckpoint):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
		}
		return chk, nil
	}
	if sp := d.FromSavepoint; sp != nil {
		if why := sp.record.diff(want); why != "" {
			return nil, fmt.Errorf("%w: savepoint %s was taken running something else: %s; resume it with the same query and options (the parallelism may differ)",
				ErrJobChanged, sp.Location, why)
		}
		if err := d.discard(ctx); err != nil {
			return nil, err
		}
		if err := d.putRecord(ctx, want); err != nil {
			return nil, err
		}
		return sp.Checkpoint, nil
	}
	if d.Restart {
		if err := d.discard(ctx); err != nil {
			return nil, err
		}
	}
	raw, err := d.Store.Get(ctx, d.Job+"/"+jobRecordName)
	switch {
	case errors.Is(err, dataflow.ErrBlobNotFound):
		// A new job — unless checkpoints exist without a record (written by
		// something else): those are not restored blindly.
		names, err := d.Store.List(ctx, d.Job+"/chk-")
		if err != nil {
			return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
		}
		if len(names) > 0 {
			return nil, jobChanged(d.Job, fmt.Sprintf("has checkpoints in %s but no %s naming their query", d.Store, jobRecordName))
		}
		return nil, d.putRecord(ctx, want)
	case err != nil:
		return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
	}
	got, err := decodeJobRecord(raw)
	if err != nil {
		return nil, jobChanged(d.Job, fmt.Sprintf("has an unreadable %s (%v)", jobRecordName, err))
	}
	if why := got.diff(want); why != "" {
		return nil, jobChanged(d.Job, "was checkpointed running something else: "+why)
	}
	chk, err := dataflow.LatestCheckpoint(ctx, d.Store, d.Job, e.Logger)
	if errors.Is(err, dataflow.ErrNoCheckpoint) {
		return nil, nil // recorded, but it never completed a checkpoint
	}
	if err != nil {
		return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
	}
	return chk, nil
}

// endAttempt adds the checkpoint figures of an attempt that ended to the
// run's, so that they count on across restarts.
func (d *Durable) endAttempt(j *dataflow.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if j != d.ended {
		d.earlier, d.ended = d.mergeStats(j.CheckpointStats()), j
	}
}

// checkpointStats returns the run's checkpoint figures: the attempt
// running (j), and those before it.
func (d *Durable) checkpointStats(j *dataflow.Job) dataflow.CheckpointStats {
	s := j.CheckpointStats()
	d.mu.Lock()
	defer d.mu.Unlock()
	if j == d.ended {
		return d.earlier // counted already
	}
	return d.mergeStats(s)
}

// mergeStats adds the earlier attempts' counts to s, and their last
// checkpoint when s has none. d.mu is held.
func (d *Durable) mergeStats(s dataflow.CheckpointStats) dataflow.CheckpointStats {
	e := d.earlier
	if s.LastID == 0 {
		s.LastID, s.LastDuration, s.LastAlignment, s.LastBytes, s.LastCompleted = e.LastID, e.LastDuration, e.LastAlignment, e.LastBytes, e.LastCompleted
	}
	s.Completed += e.Completed
	s.Failed += e.Failed
	return s
}

// startTime returns when the job first started: from the savepoint it
// starts from, else from its record, else (a new job, one restarted
// afresh, or a record written before records kept it) now. The compiler
// asks for it when it opens a source, before prepare.
func (d *Durable) startTime(ctx context.Context) (time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started.IsZero() {
		return d.started, nil
	}
	var rec string
	switch {
	case d.FromSavepoint != nil:
		rec = d.FromSavepoint.record.Started
	case d.Restart || d.Store == nil:
	default:
		raw, err := d.Store.Get(ctx, d.Job+"/"+jobRecordName)
		if err != nil && !errors.Is(err, dataflow.ErrBlobNotFound) {
			return time.Time{}, fmt.Errorf("durable job %q: %w", d.Job, err)
		}
		if r, derr := decodeJobRecord(raw); err == nil && derr == nil {
			rec = r.Started
		}
	}
	d.started = time.Now().UTC()
	if t, err := time.Parse(time.RFC3339Nano, rec); rec != "" && err == nil {
		d.started = t
	}
	return d.started, nil
}

func (r jobRecord) encode() []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		panic(err) // strings only
	}
	return append(b, '\n')
}

func decodeJobRecord(raw []byte) (jobRecord, error) {
	var r jobRecord
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&r)
	return r, err
}

// putRecord writes the job's record.
func (d *Durable) putRecord(ctx context.Context, r jobRecord) error {
	if err := d.Store.Put(ctx, d.Job+"/"+jobRecordName, r.encode()); err != nil {
		return fmt.Errorf("durable job %q: record the job: %w", d.Job, err)
	}
	return nil
}

// discard removes everything the job keeps: its checkpoints and record.
func (d *Durable) discard(ctx context.Context) error {
	names, err := d.Store.List(ctx, d.Job+"/")
	if err != nil {
		return fmt.Errorf("durable job %q: discard: %w", d.Job, err)
	}
	// The record first: a discard cut short leaves checkpoints without a
	// record, which the next run refuses rather than restores.
	for _, name := range names {
		if name == d.Job+"/"+jobRecordName {
			if err := d.Store.Delete(ctx, name); err != nil {
				return fmt.Errorf("durable job %q: discard: %w", d.Job, err)
			}
		}
	}
	for _, name := range names {
		if err := d.Store.Delete(ctx, name); err != nil {
			return fmt.Errorf("durable job %q: discard: %w", d.Job, err)
		}
	}
	return nil
}

// jobOptions returns the options of a durable job's dataflow.Job, restored
// from chk (nil: afresh).
func (d *Durable) jobOptions(base dataflow.JobOptions, chk *dataflow.Checkpoint) dataflow.JobOptions {
	base.Checkpoints = dataflow.CheckpointOptions{Store: d.Store, Job: d.Job, Interval: d.Interval}
	if base.Checkpoints.Interval <= 0 {
		base.Checkpoints.Interval = DefaultCheckpointInterval
	}
	base.Restore = chk
	base.StateStore, _ = ParseStateBackend(d.StateBackend) // checked by prepare
	base.StateDir = d.StateDir
	return base
}

// newDurableJob creates the dataflow job of one attempt of a durable run:
// it prepares the store, restores the checkpoint prepare chose, and
// refuses one that does not fit the graph (operators the job lacks) as a
// changed job. It returns the checkpoint restored (nil: none).
func (e *Engine) newDurableJob(ctx context.Context, st Statement, g *dataflow.Graph, opts RunOptions, base dataflow.JobOptions, restarting bool) (*dataflow.Job, *dataflow.Checkpoint, error) {
	d := opts.Durable
	chk, err := d.prepare(ctx, st, opts, e, restarting)
	if err != nil {
		return nil, nil, err
	}
	job, err := dataflow.NewJob(g, d.jobOptions(base, chk))
	if err != nil {
		if chk != nil && errors.Is(err, dataflow.ErrIncompatibleSnapshot) {
			return nil, nil, fmt.Errorf("%w: job %q has a %s this query cannot restore (%w); discard its checkpoints to start it afresh (weir query --restart)", ErrJobChanged, d.Job, snapshotKind(chk), err)
		}
		return nil, nil, err
	}
	if chk != nil {
		if d.Resumed != nil {
			d.Resumed(d.Job, chk.ID)
		} else {
			e.Logger.Info("resuming durable job", "job", d.Job, snapshotKind(chk), chk.ID)
		}
	}
	return job, chk, nil
}

// run runs one attempt's job, as the one StopWithSavepoint stops.
func (d *Durable) run(ctx context.Context, job *dataflow.Job) error {
	r := &runningJob{job: job, done: make(chan struct{})}
	d.mu.Lock()
	d.running = r
	d.mu.Unlock()
	err := job.Run(ctx)
	d.mu.Lock()
	d.running, r.err = nil, err
	d.mu.Unlock()
	close(r.done)
	return err
}

// ErrNotRunning is returned by StopWithSavepoint when the job has no
// running attempt: it is starting (restoring its state) or waiting to
// restart after a failure. Cancelling the run stops it then; it resumes
// from its latest checkpoint.
var ErrNotRunning = errors.New("the job is not running")

// SavepointRef names a savepoint StopWithSavepoint wrote.
type SavepointRef struct {
	ID int64
	// Dir is the savepoint's directory in Durable.Savepoints
	// ("<job>/chk-<id>/"); Location is the store's name followed by it.
	Dir, Location string
}

// StopWithSavepoint stops the job's running attempt with a savepoint in
// d.Savepoints (see Durable): once it is written, the job's sinks commit
// it and the job stops; the run (Engine.Execute) returns an error wrapping
// dataflow.ErrStopped. It is safe to call from any goroutine while the run
// goes on, e.g. on a signal or a server request.
//
// It fails, and the job goes on, when the savepoint cannot be written; it
// fails with ErrNotRunning when no attempt is running, and with
// dataflow.ErrJobEnded when the job has ended.
func (d *Durable) StopWithSavepoint(ctx context.Context) (SavepointRef, error) {
	if d.Savepoints == nil {
		return SavepointRef{}, fmt.Errorf("durable job %q: no savepoint store to stop with a savepoint", d.Job)
	}
	d.mu.Lock()
	r, rec := d.running, d.record
	d.mu.Unlock()
	if r == nil {
		return SavepointRef{}, fmt.Errorf("durable job %q: %w (starting, or waiting to restart)", d.Job, ErrNotRunning)
	}
	// A run that ends otherwise (a failure) before the savepoint is taken
	// ends the wait for it; one that ends because the stop is under way
	// (ErrStopped) does not.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-r.done:
			if !errors.Is(r.err, dataflow.ErrStopped) {
				cancel(fmt.Errorf("the job's run ended: %w", r.err))
			}
		case <-ctx.Done():
		}
	}()
	chk, dir, err := r.job.StopWithSavepoint(ctx, dataflow.SavepointOptions{Store: d.Savepoints,
		Attachments: map[string][]byte{jobRecordName: rec.encode()}})
	if chk == nil {
		return SavepointRef{}, fmt.Errorf("durable job %q: %w", d.Job, err)
	}
	ref := SavepointRef{ID: chk.ID, Dir: dir, Location: d.Savepoints.String() + dir}
	if err != nil {
		return ref, fmt.Errorf("durable job %q: %w", d.Job, err)
	}
	return ref, nil
}

// Savepoint is a savepoint read back to start a job from
// (Durable.FromSavepoint).
type Savepoint struct {
	// Location names where it was read from, in messages.
	Location string
	// Job is the name of the job that took it.
	Job        string
	Checkpoint *dataflow.Checkpoint
	record     jobRecord
}

// ReadSavepoint reads the savepoint whose directory is dir in store (""
// for the store's root): its job record and its snapshot, verified.
// dataflow.ReadSavepoint explains why the directory may lie anywhere.
func ReadSavepoint(ctx context.Context, store dataflow.CheckpointStore, dir string) (*Savepoint, error) {
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	sp := &Savepoint{Location: store.String() + dir}
	raw, err := store.Get(ctx, dir+jobRecordName)
	if errors.Is(err, dataflow.ErrBlobNotFound) {
		return nil, fmt.Errorf("savepoint %s: no %s: not the savepoint of a durable job (a checkpoint's directory has none)", sp.Location, jobRecordName)
	}
	if err != nil {
		return nil, fmt.Errorf("savepoint %s: %w", sp.Location, err)
	}
	if sp.record, err = decodeJobRecord(raw); err != nil {
		return nil, fmt.Errorf("savepoint %s: unreadable %s: %w", sp.Location, jobRecordName, err)
	}
	if sp.Checkpoint, sp.Job, err = dataflow.ReadSavepoint(ctx, store, dir); err != nil {
		return nil, err
	}
	return sp, nil
}

// checkCheckpointable refuses a durable job whose stateful operators would
// keep a column their snapshots cannot save (a nested type), before it
// runs rather than at its first checkpoint.
func checkCheckpointable(st Statement, p Plan) error {
	switch p.(type) {
	case *aggregatePlan, *joinPlan, *topNPlan, *streamJoinPlan:
		for _, in := range p.Inputs() {
			for _, f := range in.Schema().Fields() {
				if err := dataflow.CheckSnapshotType(f.Type); err != nil {
					what := fmt.Sprintf("column %q", f.Name)
					if strings.HasPrefix(f.Name, "$") { // planner-made: an aggregate's argument
						what = "an aggregate's argument"
					}
					return unsupportedError{st.errorAt(-1, "a durable job cannot keep %s in its state: %v; leave it out of the aggregate or join, or run the query without --job", what, err)}
				}
			}
		}
	}
	for _, in := range p.Inputs() {
		if err := checkCheckpointable(st, in); err != nil {
			return err
		}
	}
	return nil
}

// checkDurable refuses a script that cannot run as one durable job.
func checkDurable(stmts []Statement) error {
	if len(stmts) != 1 {
		return fmt.Errorf("a durable job runs one statement; the script has %d", len(stmts))
	}
	st := stmts[0]
	if st.Node == nil || (st.Node.GetSelectStmt() == nil && st.Node.GetInsertStmt() == nil) {
		return fmt.Errorf("a durable job runs a SELECT or an INSERT, not %s", strings.ToUpper(strings.SplitN(st.SQL()+" ", " ", 2)[0]))
	}
	return nil
}
