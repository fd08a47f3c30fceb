package dataflow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// coordinator injects checkpoint barriers at the sources and collects the
// acknowledgements of every task, each with the synchronous copy of its
// operators' state. A checkpoint is complete in memory once every task has
// forwarded its barrier (or had finished); with a CheckpointStore it exists
// only once Job.Checkpoint has uploaded the state and written its metadata
// last (checkpoint_store.go). Then the sinks are told to commit.
type coordinator struct {
	mu      sync.Mutex
	tasks   int
	nextID  int64
	done    map[int]bool // finished tasks
	pending map[int64]*pendingCheckpoint
	// ended holds the final states of the splits of source subtasks that
	// finished: they take no barrier any more, but every later checkpoint
	// must still record them (done), or a restore would read them again.
	ended map[string]SplitState
	// stopping is set from the start of a stop-with-savepoint (savepoint.go)
	// until it fails: no checkpoint starts after the savepoint's, and Run
	// makes no final commit, so nothing after the savepoint is committed.
	// over is set once Run has passed that test and commits its end.
	stopping, over bool
	// run is Run's context and cancel stops it (set before ready closes).
	run    context.Context
	cancel context.CancelCauseFunc
}

type pendingCheckpoint struct {
	start       time.Time
	align       time.Duration // the longest alignment of a task
	acked       map[int]bool
	splits      map[string]SplitState
	snaps       []subtaskSnapshot
	unsupported []string
	done        chan struct{}
}

func newCoordinator(tasks int, firstID int64) *coordinator {
	return &coordinator{tasks: tasks, nextID: firstID, done: map[int]bool{}, pending: map[int64]*pendingCheckpoint{}, ended: map[string]SplitState{}}
}

// start allocates the next checkpoint. stop begins a stop-with-savepoint:
// it fails once the job has ended or another stop is under way, and
// refuses every later checkpoint until resume.
func (c *coordinator) start(stop bool) (int64, *pendingCheckpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.stopping:
		return 0, nil, errStopping
	case stop && c.over:
		return 0, nil, ErrJobEnded
	case stop:
		c.stopping = true
	}
	c.nextID++
	p := &pendingCheckpoint{start: time.Now(), acked: map[int]bool{}, splits: map[string]SplitState{}, done: make(chan struct{})}
	for k, v := range c.ended {
		p.splits[k] = v
	}
	c.pending[c.nextID] = p
	c.check(c.nextID, p)
	return c.nextID, p, nil
}

// errStopping refuses a checkpoint while the job stops with a savepoint.
var errStopping = errors.New("the job is stopping with a savepoint")

// resume undoes stop after a stop-with-savepoint failed: the job goes on
// and checkpoints again.
func (c *coordinator) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopping = false
}

// end is called by Run when every task has finished, before its final
// commit: it returns ErrStopped, and Run commits nothing, when a
// stop-with-savepoint is under way (the savepoint's commit is the job's
// last).
func (c *coordinator) end() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return ErrStopped
	}
	c.over = true
	return nil
}

// abort forgets a checkpoint that timed out or failed; later
// acknowledgements of it are ignored.
func (c *coordinator) abort(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending, id)
}

func (c *coordinator) ack(id int64, task int, snaps []subtaskSnapshot, unsupported []string, align time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[id]; ok {
		p.acked[task] = true
		p.align = max(p.align, align)
		p.snaps = append(p.snaps, snaps...)
		p.unsupported = append(p.unsupported, unsupported...)
		c.check(id, p)
	}
}

func (c *coordinator) finished(task int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[task] = true
	for id, p := range c.pending {
		c.check(id, p)
	}
}

func (c *coordinator) sourceSnapshot(id int64, states map[string]SplitState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[id]; ok {
		for k, v := range states {
			p.splits[k] = v
		}
	}
}

// sourceFinished records the final split states of a source subtask that
// ends: for later checkpoints, and for pending ones whose barrier it will
// never take (a state it recorded at their barrier stays).
func (c *coordinator) sourceFinished(states map[string]SplitState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range states {
		c.ended[k] = v
		for _, p := range c.pending {
			if _, ok := p.splits[k]; !ok {
				p.splits[k] = v
			}
		}
	}
}

func (c *coordinator) check(id int64, p *pendingCheckpoint) {
	for t := 0; t < c.tasks; t++ {
		if !p.acked[t] && !c.done[t] {
			return
		}
	}
	delete(c.pending, id)
	close(p.done)
}

// CheckpointOptions make a job take checkpoints on its own and store them.
type CheckpointOptions struct {
	// Store keeps the checkpoints (nil: checkpoints stay in memory, returned
	// by Job.Checkpoint only). Job names the job in the store's layout.
	Store CheckpointStore
	Job   string
	// Interval between the starts of periodic checkpoints (0: only those
	// Job.Checkpoint is asked for).
	Interval time.Duration
	// Timeout aborts a checkpoint that has not completed (barriers aligned
	// everywhere, state uploaded, metadata written) in time (default 10 min).
	Timeout time.Duration
	// MinPause is the least time from the end of one periodic checkpoint to
	// the start of the next, so that a slow checkpoint cannot leave the job
	// doing nothing but checkpoints.
	MinPause time.Duration
	// Retained is how many complete checkpoints the store keeps (default 3).
	Retained int
}

// Checkpoint injects a barrier at every source subtask, waits until every
// task has aligned, snapshotted and forwarded it, and — with a store — writes
// the state and then the metadata, keeps the last Retained checkpoints and
// tells the sinks to commit. The tasks do not wait for the upload: they go on
// as soon as their copy of the state is taken. A savepoint is the same
// snapshot, marked as one. Its outcome is counted in CheckpointStats.
func (j *Job) Checkpoint(ctx context.Context, savepoint bool) (*Checkpoint, error) {
	chk, p, err := j.checkpoint(ctx, savepoint)
	if p != nil {
		j.chkStats.record(chk, err, p.start, p.align)
	}
	return chk, err
}

// checkpoint takes the checkpoint; p is nil when none was started.
func (j *Job) checkpoint(ctx context.Context, savepoint bool) (*Checkpoint, *pendingCheckpoint, error) {
	chk, p, err := j.snapshot(ctx, savepoint, false)
	if err != nil {
		return nil, p, err
	}
	if j.opts.Checkpoints.Store != nil {
		if err := j.storeCheckpoint(ctx, chk, p.snaps); err != nil {
			return nil, p, err
		}
	}
	if err := j.commit(ctx, chk.ID); err != nil {
		return chk, p, err
	}
	return chk, p, nil
}

// snapshot injects the barrier of a new checkpoint at every source subtask
// and waits until every task has aligned, snapshotted and forwarded it (or
// finished); it returns the checkpoint in memory, and its pending record
// with the subtasks' snapshots (nil when none was started). stop begins a
// stop-with-savepoint (coordinator.start).
// startAndInject starts a checkpoint and injects its barrier at every
// source, under j.inject so that checkpoints taken at once reach every
// source in id order. An injection cut short (a source with too many
// barriers pending, ctx done) aborts the checkpoint: its barrier may
// then have reached some sources and not others, which tasks tolerate
// (runGate). p is nil when no checkpoint was started.
func (j *Job) startAndInject(ctx context.Context, savepoint, stop bool) (int64, *pendingCheckpoint, error) {
	j.inject.Lock()
	defer j.inject.Unlock()
	id, p, err := j.coord.start(stop)
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint: %w", err)
	}
	b := Barrier{ID: id, Savepoint: savepoint}
	j.mu.Lock()
	sources := j.sources
	j.mu.Unlock()
	for _, r := range sources {
		if r.finished.Load() {
			// Its splits are in the checkpoint already (sourceFinished),
			// and nothing reads its barrier channel any more.
			continue
		}
		select {
		case r.barriers <- b:
		case <-ctx.Done():
			j.coord.abort(id)
			return id, p, context.Cause(ctx)
		default:
			j.coord.abort(id)
			return id, p, fmt.Errorf("checkpoint %d: source %q#%d has too many barriers pending", id, r.node.Name, r.subtask)
		}
	}
	return id, p, nil
}

func (j *Job) snapshot(ctx context.Context, savepoint, stop bool) (_ *Checkpoint, _ *pendingCheckpoint, err error) {
	select {
	case <-j.ready:
	case <-ctx.Done():
		return nil, nil, context.Cause(ctx)
	}
	id, p, err := j.startAndInject(ctx, savepoint, stop)
	if stop && p != nil {
		defer func() {
			if err != nil {
				j.coord.resume()
			}
		}()
	}
	if err != nil {
		return nil, p, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		j.coord.abort(id)
		return nil, p, fmt.Errorf("checkpoint %d: %w", id, context.Cause(ctx))
	case <-j.coord.run.Done():
		// The job ended: a checkpoint every task acknowledged or finished
		// for is complete all the same; one a failing task left is not.
		select {
		case <-p.done:
		default:
			j.coord.abort(id)
			return nil, p, fmt.Errorf("checkpoint %d: the job ended before it completed: %w", id, context.Cause(j.coord.run))
		}
	}
	chk := &Checkpoint{ID: id, Savepoint: savepoint, Splits: p.splits, MaxParallelism: j.g.MaxParallelism,
		State: map[string]*NodeState{}, Unsupported: p.unsupported}
	for _, s := range p.snaps {
		ns := chk.State[s.node]
		if ns == nil {
			ns = &NodeState{}
			chk.State[s.node] = ns
		}
		for _, e := range s.entries {
			ns.add(e.kind, e.kg, e.blob)
		}
	}
	return chk, p, nil
}

// storeCheckpoint writes chk to the job's checkpoint store (state, then
// metadata) and keeps the last Retained checkpoints there.
func (j *Job) storeCheckpoint(ctx context.Context, chk *Checkpoint, snaps []subtaskSnapshot) error {
	co := j.opts.Checkpoints
	if len(chk.Unsupported) > 0 {
		return fmt.Errorf("checkpoint %d: %w: operators %v keep state that cannot be checkpointed yet", chk.ID, ErrIncompatibleSnapshot, chk.Unsupported)
	}
	if err := writeCheckpoint(ctx, co.Store, co.Job, chk, snaps); err != nil {
		return err
	}
	if err := retainCheckpoints(ctx, co.Store, co.Job, co.Retained); err != nil {
		j.opts.Logger.Warn("checkpoint retention failed", "checkpoint", chk.ID, "error", err)
	}
	return nil
}

// commit tells the sinks that checkpoint id is complete.
func (j *Job) commit(ctx context.Context, id int64) error {
	for _, l := range j.listeners {
		if err := l.CommitCheckpoint(ctx, id); err != nil {
			return fmt.Errorf("checkpoint %d: commit: %w", id, err)
		}
	}
	return nil
}

// periodicCheckpoints triggers checkpoints every Interval (and at least
// MinPause after the previous one ended) until ctx is done. A failed
// checkpoint is logged and the next one tried; the job goes on.
func (j *Job) periodicCheckpoints(ctx context.Context) {
	co := j.opts.Checkpoints
	lastStart := time.Now()
	lastEnd := time.Time{}
	for {
		next := lastStart.Add(co.Interval)
		if p := lastEnd.Add(co.MinPause); p.After(next) {
			next = p
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		lastStart = time.Now()
		cctx, cancel := context.WithTimeout(ctx, co.Timeout)
		chk, err := j.Checkpoint(cctx, false)
		cancel()
		lastEnd = time.Now()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errStopping):
			// A stop-with-savepoint is under way; if it fails, the next
			// periodic checkpoint is taken as usual.
		case err != nil:
			j.opts.Logger.Warn("checkpoint failed", "error", err)
		default:
			j.opts.Logger.Debug("checkpoint complete", "checkpoint", chk.ID, "duration", lastEnd.Sub(lastStart))
		}
	}
}
