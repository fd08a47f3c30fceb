package dataflow

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/weirdata/weir/watermark"
)

// task is one goroutine of a job: a chain of operator subtasks (the head and
// the nodes chained to it by forward edges) fed by an input gate, or by a
// source runner when the head is a source.
type task struct {
	job     *Job
	index   int
	subtask int
	links   []*chainLink
	gate    *inputGate
	src     *sourceRunner
	lastWM  watermark.Time
	// lastBarrier is the id of the last checkpoint barrier the task saw
	// (or the id the job started after): what a sink stages at its end
	// belongs to the checkpoints after it (CheckpointListener).
	lastBarrier int64
}

// chainLink is one operator subtask inside a task.
type chainLink struct {
	node    *Node
	op      Operator // nil for a source
	tc      *TaskContext
	metrics *OperatorMetrics
	outs    map[string]Output // by port
	senders []*edgeSender     // every exchange leaving this node
}

func (t *task) name() string {
	return fmt.Sprintf("%s#%d", t.links[0].node.Name, t.subtask)
}

// chainOutput feeds the next operator of the chain directly, with no channel.
type chainOutput struct{ next *chainLink }

func (c chainOutput) Emit(ctx context.Context, b Batch) error {
	if b.Len() == 0 {
		return nil
	}
	m := c.next.metrics
	m.RowsIn.Add(int64(b.Len()))
	m.BatchesIn.Add(1)
	return attribute(c.next.node, c.next.tc.Subtask, "", c.next.op.ProcessBatch(ctx, 0, b))
}

// OperatorError is an error raised by an operator, with the node it came
// from. The runtime attributes each error once, where it arose; operators
// do not prefix their own node's name.
type OperatorError struct {
	Node    string
	Subtask int
	Err     error
}

func (e *OperatorError) Error() string {
	return fmt.Sprintf("%s#%d: %s", e.Node, e.Subtask, e.Err)
}
func (e *OperatorError) Unwrap() error { return e.Err }

// attribute wraps err as raised by node n during what ("" for batches),
// unless it was attributed already further down a chain.
func attribute(n *Node, subtask int, what string, err error) error {
	if err == nil {
		return nil
	}
	var oe *OperatorError
	if errors.As(err, &oe) {
		return err
	}
	if what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return &OperatorError{Node: n.Name, Subtask: subtask, Err: err}
}

// fanOut sends to every exchange of a port.
type fanOut []*edgeSender

func (f fanOut) Emit(ctx context.Context, b Batch) error {
	for _, s := range f {
		if err := s.Emit(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// counting counts the rows an operator emits.
type counting struct {
	m   *OperatorMetrics
	out Output
}

func (c counting) Emit(ctx context.Context, b Batch) error {
	c.m.RowsOut.Add(int64(b.Len()))
	return c.out.Emit(ctx, b)
}

// emit sends a batch from port of link i (the source runner uses it).
func (t *task) emit(ctx context.Context, i int, port string, b Batch) error {
	out, ok := t.links[i].outs[port]
	if !ok {
		return nil
	}
	return out.Emit(ctx, b)
}

// watermark passes w through the chain: each operator processes it (and
// emits what it fires) before it is forwarded past it.
func (t *task) watermark(ctx context.Context, w watermark.Time) error {
	if w <= t.lastWM {
		return nil
	}
	t.lastWM = w
	for _, l := range t.links {
		if l.op != nil {
			if err := l.op.ProcessWatermark(ctx, w); err != nil {
				return attribute(l.node, l.tc.Subtask, "watermark "+w.String(), err)
			}
		}
		l.metrics.Watermark.Store(int64(w))
		if err := l.control(Element{Kind: KindWatermark, Watermark: w}); err != nil {
			return err
		}
	}
	return nil
}

// idle tells every downstream task that this one has nothing to say.
func (t *task) idle() error {
	for _, l := range t.links {
		if err := l.control(Element{Kind: KindIdle}); err != nil {
			return err
		}
	}
	return nil
}

// barrier snapshots each operator of the chain in order and forwards b past
// it; then the task acknowledges the checkpoint with the copies of its
// operators' state (checkpoint.go). A sink that commits in two phases
// precommits here, after every row before the barrier. align is how long
// the task held inputs back to align b (0 for a task with one input).
func (t *task) barrier(ctx context.Context, b Barrier, align time.Duration) error {
	var snaps []subtaskSnapshot
	var unsupported []string
	t.lastBarrier = b.ID
	for _, l := range t.links {
		what := fmt.Sprintf("checkpoint %d", b.ID)
		if s, ok := l.op.(Snapshotter); ok {
			if err := s.SnapshotState(ctx, b); err != nil {
				return attribute(l.node, l.tc.Subtask, what, err)
			}
		}
		snap, unsup, err := snapshotLink(ctx, l, b)
		if err != nil {
			return attribute(l.node, l.tc.Subtask, what, err)
		}
		if unsup {
			unsupported = append(unsupported, fmt.Sprintf("%s#%d", l.node.Name, l.tc.Subtask))
		} else if len(snap.entries) > 0 {
			snaps = append(snaps, snap)
		}
		if cl, ok := l.op.(CheckpointListener); ok {
			if err := cl.PrecommitCheckpoint(ctx, b.ID); err != nil {
				return attribute(l.node, l.tc.Subtask, what+": precommit", err)
			}
		}
		if err := l.control(Element{Kind: KindBarrier, Barrier: b}); err != nil {
			return err
		}
	}
	t.job.coord.ack(b.ID, t.index, snaps, unsupported, align)
	return nil
}

// end finishes the chain after every input ended.
func (t *task) end(ctx context.Context) error {
	if err := t.watermark(ctx, watermark.MaxTime); err != nil {
		return err
	}
	for _, l := range t.links {
		if l.op != nil {
			if err := l.op.Finish(ctx); err != nil {
				return attribute(l.node, l.tc.Subtask, "finish", err)
			}
			if cl, ok := l.op.(CheckpointListener); ok {
				if err := cl.PrecommitCheckpoint(ctx, t.lastBarrier+1); err != nil {
					return attribute(l.node, l.tc.Subtask, "final precommit", err)
				}
			}
		}
		if err := l.control(Element{Kind: KindEndOfInput}); err != nil {
			return err
		}
	}
	return nil
}

func (l *chainLink) control(e Element) error {
	for _, s := range l.senders {
		if err := s.control(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *task) run(ctx context.Context) (err error) {
	t.lastWM = watermark.MinTime
	defer func() {
		for _, l := range t.links {
			if l.op != nil {
				if cerr := l.op.Close(); cerr != nil && err == nil {
					err = attribute(l.node, l.tc.Subtask, "close", cerr)
				}
			}
		}
	}()
	defer func() {
		// A panic inside an operator is a bug, but it must fail the job with
		// a cause rather than take the process down.
		if r := recover(); r != nil {
			t.links[0].tc.Logger.Error("operator panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	for _, l := range t.links {
		if l.op != nil {
			if err := l.op.Open(l.tc); err != nil {
				return attribute(l.node, l.tc.Subtask, "open", err)
			}
			if chk := t.job.opts.Restore; chk != nil {
				if err := restoreLink(ctx, l, chk); err != nil {
					return attribute(l.node, l.tc.Subtask, fmt.Sprintf("restore checkpoint %d", chk.ID), err)
				}
			}
		}
	}
	if t.src != nil {
		err = t.src.run(ctx, t)
	} else {
		err = t.runGate(ctx)
	}
	if errors.Is(err, errGateClosed) {
		err = context.Cause(ctx)
	}
	return err
}

// runGate is the loop of a task fed by exchanges: it combines watermarks
// over all channels (the minimum, ignoring idle ones), aligns barriers, and
// drives the chain until every channel has ended.
func (t *task) runGate(ctx context.Context) error {
	nq := len(t.gate.queues)
	tracker := watermark.NewTracker(nq)
	ended := make([]bool, nq)
	arrived := make([]bool, nq)
	nEnded, nArrived := 0, 0
	var align *Barrier
	var alignStart time.Time
	idleSent := false
	head := t.links[0]

	completeAlignment := func() error {
		if align == nil || nArrived+countUnarrivedEnded(ended, arrived) < nq {
			return nil
		}
		b := *align
		align = nil
		for i := range arrived {
			arrived[i] = false
		}
		nArrived = 0
		if err := t.barrier(ctx, b, time.Since(alignStart)); err != nil {
			return err
		}
		t.gate.unblockAll()
		return nil
	}

	for nEnded < nq {
		q, e, err := t.gate.pop()
		if err != nil {
			return err
		}
		switch e.Kind {
		case KindBatch:
			if tracker.Idle(q) {
				tracker.SetActive(q)
			}
			idleSent = false
			head.metrics.RowsIn.Add(int64(e.Batch.Len()))
			head.metrics.BatchesIn.Add(1)
			if err := head.op.ProcessBatch(ctx, t.gate.queues[q].input, e.Batch); err != nil {
				return attribute(head.node, head.tc.Subtask, "", err)
			}
		case KindWatermark:
			idleSent = false
			if w, adv := tracker.Update(q, e.Watermark); adv {
				if err := t.watermark(ctx, w); err != nil {
					return err
				}
			}
		case KindIdle:
			if w, adv := tracker.SetIdle(q); adv {
				if err := t.watermark(ctx, w); err != nil {
					return err
				}
			}
			if !idleSent && tracker.AllIdle() {
				idleSent = true
				if err := t.idle(); err != nil {
					return err
				}
			}
		case KindBarrier:
			// Barriers come in id order on every input, but a checkpoint
			// whose injection was cut short (startAndInject) left its
			// barrier on some inputs only, and it was aborted: an older
			// barrier than the one aligning is dropped, a newer one gives
			// up aligning the older.
			if align != nil && e.Barrier.ID < align.ID {
				continue
			}
			if align != nil && e.Barrier.ID > align.ID {
				align = nil
				for i := range arrived {
					arrived[i] = false
				}
				nArrived = 0
				t.gate.unblockAll()
			}
			if align == nil {
				b := e.Barrier
				align = &b
				alignStart = time.Now()
			}
			arrived[q] = true
			nArrived++
			t.gate.block(q)
			if err := completeAlignment(); err != nil {
				return err
			}
		case KindEndOfInput:
			ended[q] = true
			nEnded++
			if w, adv := tracker.Update(q, watermark.MaxTime); adv && w != watermark.MaxTime {
				if err := t.watermark(ctx, w); err != nil {
					return err
				}
			}
			if err := completeAlignment(); err != nil {
				return err
			}
		}
	}
	return t.end(ctx)
}

func countUnarrivedEnded(ended, arrived []bool) int {
	n := 0
	for i := range ended {
		if ended[i] && !arrived[i] {
			n++
		}
	}
	return n
}
