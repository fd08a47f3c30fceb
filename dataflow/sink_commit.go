package dataflow

import (
	"context"
	"slices"
	"sync"
)

// CommitCollector gathers the rows reaching its sinks with two-phase
// commit: a row is visible (Batches) only once a checkpoint after it has
// completed, or the job has run to its end. It is the reference
// CheckpointListener: what it holds survives a job failure (it stands for
// the external system a sink writes to), so a job restarted from a
// checkpoint with the same collector ends with every row exactly once.
// Rows staged for a checkpoint that never completed are discarded on
// recovery; rows not yet staged are the failed subtask's and die with it.
type CommitCollector struct {
	mu        sync.Mutex
	staged    map[int64][]Batch // by checkpoint id
	committed []Batch
	rows      int
}

// NewCommitCollector returns an empty collector.
func NewCommitCollector() *CommitCollector {
	return &CommitCollector{staged: map[int64][]Batch{}}
}

// CollectCommitted adds a sink with parallelism p (0 = the stream's) that
// writes to c.
func (s Stream) CollectCommitted(name string, p int, c *CommitCollector) {
	if p <= 0 {
		p = s.node.Parallelism
	}
	s.Apply(name, p, func() Operator { return &commitSink{c: c} })
}

// Batches returns the committed batches.
func (c *CommitCollector) Batches() []Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.committed)
}

// Rows returns the number of committed rows.
func (c *CommitCollector) Rows() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows
}

// Staged returns the number of rows staged and not committed.
func (c *CommitCollector) Staged() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, bs := range c.staged {
		for _, b := range bs {
			n += b.Len()
		}
	}
	return n
}

func (c *CommitCollector) stage(id int64, bs []Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.staged[id] = append(c.staged[id], bs...)
}

// commit publishes everything staged up to id, in checkpoint order.
func (c *CommitCollector) commit(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range sortedInt64Keys(c.staged) {
		if k > id {
			break
		}
		for _, b := range c.staged[k] {
			c.committed = append(c.committed, b)
			c.rows += b.Len()
		}
		delete(c.staged, k)
	}
}

func (c *CommitCollector) recover(id int64) {
	c.commit(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.staged)
}

func sortedInt64Keys[V any](m map[int64]V) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// commitSink is one subtask of a CollectCommitted sink.
type commitSink struct {
	BaseOperator
	c       *CommitCollector
	pending []Batch
}

var _ CheckpointListener = (*commitSink)(nil)

func (o *commitSink) ProcessBatch(_ context.Context, _ int, b Batch) error {
	o.pending = append(o.pending, b)
	return nil
}

func (o *commitSink) PrecommitCheckpoint(_ context.Context, id int64) error {
	o.c.stage(id, o.pending)
	o.pending = nil
	return nil
}

func (o *commitSink) CommitCheckpoint(_ context.Context, id int64) error {
	o.c.commit(id)
	return nil
}

func (o *commitSink) RecoverCheckpoint(_ context.Context, id int64) error {
	o.c.recover(id)
	return nil
}
