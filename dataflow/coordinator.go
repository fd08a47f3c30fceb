package dataflow

import (
	"context"
	"fmt"
	"sync"
)

// coordinator injects checkpoint barriers at the sources and collects the
// acknowledgements of every task. A checkpoint is complete once every task
// has forwarded its barrier (or had finished). Issue #6 adds the snapshot
// upload and the metadata write that make a complete checkpoint durable.
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
}

type pendingCheckpoint struct {
	acked  map[int]bool
	splits map[string]SplitState
	done   chan struct{}
}

// Checkpoint is a completed checkpoint: the split positions to resume from.
type Checkpoint struct {
	ID     int64
	Splits map[string]SplitState
}

func newCoordinator(tasks int) *coordinator {
	return &coordinator{tasks: tasks, done: map[int]bool{}, pending: map[int64]*pendingCheckpoint{}, ended: map[string]SplitState{}}
}

func (c *coordinator) start() (int64, *pendingCheckpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	p := &pendingCheckpoint{acked: map[int]bool{}, splits: map[string]SplitState{}, done: make(chan struct{})}
	for k, v := range c.ended {
		p.splits[k] = v
	}
	c.pending[c.nextID] = p
	c.check(c.nextID, p)
	return c.nextID, p
}

func (c *coordinator) ack(id int64, task int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pending[id]; ok {
		p.acked[task] = true
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

// Checkpoint injects a barrier at every source subtask and waits until every
// task has aligned, snapshotted and forwarded it.
func (j *Job) Checkpoint(ctx context.Context, savepoint bool) (*Checkpoint, error) {
	select {
	case <-j.ready:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	id, p := j.coord.start()
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
			return nil, context.Cause(ctx)
		default:
			return nil, fmt.Errorf("checkpoint %d: source %q#%d has too many barriers pending", id, r.node.Name, r.subtask)
		}
	}
	select {
	case <-p.done:
		return &Checkpoint{ID: id, Splits: p.splits}, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}
