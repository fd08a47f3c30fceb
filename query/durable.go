package query

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
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
type Durable struct {
	// Job names the job: letters, digits, '_', '-' and '.'.
	Job   string
	Store dataflow.CheckpointStore
	// Interval between checkpoints (default DefaultCheckpointInterval).
	Interval time.Duration
	// Restart discards the job's checkpoints before it starts.
	Restart bool
	// Resumed, if set, is told the checkpoint the job resumes from.
	Resumed func(job string, checkpoint int64)
	// StateBackend keeps the keyed state of process functions: "memory"
	// (the default) or "pebble" (a Pebble DB per operator subtask under
	// os.TempDir(), checkpointed incrementally; see ParseStateBackend).
	StateBackend string
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
// opts, and writes the record for a new job.
func (d *Durable) prepare(ctx context.Context, st Statement, opts RunOptions, e *Engine) (*dataflow.Checkpoint, error) {
	if err := CheckJobName(d.Job); err != nil {
		return nil, err
	}
	if d.Store == nil {
		return nil, fmt.Errorf("durable job %q: no checkpoint store", d.Job)
	}
	if _, err := ParseStateBackend(d.StateBackend); err != nil {
		return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
	}
	if d.Restart {
		if err := d.discard(ctx); err != nil {
			return nil, err
		}
	}
	want := newJobRecord(st, opts)
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
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := d.Store.Put(ctx, d.Job+"/"+jobRecordName, append(b, '\n')); err != nil {
			return nil, fmt.Errorf("durable job %q: record the job: %w", d.Job, err)
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("durable job %q: %w", d.Job, err)
	}
	var got jobRecord
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
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
	return base
}

// newDurableJob creates the dataflow job of a durable run: it prepares the
// store, restores the latest checkpoint, and refuses one that does not fit
// the graph (operators the job lacks) as a changed job.
func (e *Engine) newDurableJob(ctx context.Context, st Statement, g *dataflow.Graph, opts RunOptions, base dataflow.JobOptions) (*dataflow.Job, error) {
	d := opts.Durable
	chk, err := d.prepare(ctx, st, opts, e)
	if err != nil {
		return nil, err
	}
	job, err := dataflow.NewJob(g, d.jobOptions(base, chk))
	if err != nil {
		if chk != nil && errors.Is(err, dataflow.ErrIncompatibleSnapshot) {
			return nil, fmt.Errorf("%w: job %q has a checkpoint this query cannot restore (%w); discard its checkpoints to start it afresh (weir query --restart)", ErrJobChanged, d.Job, err)
		}
		return nil, err
	}
	if chk != nil {
		if d.Resumed != nil {
			d.Resumed(d.Job, chk.ID)
		} else {
			e.Logger.Info("resuming durable job from its checkpoint", "job", d.Job, "checkpoint", chk.ID)
		}
	}
	return job, nil
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
