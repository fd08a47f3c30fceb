package dataflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/weirdata/weir/watermark"
)

// JobOptions tune a job's runtime.
type JobOptions struct {
	// ChannelCapacity is how many elements each exchange channel buffers
	// before its sender blocks (default 8). Memory in flight is bounded by
	// channels × capacity × batch size.
	ChannelCapacity int
	// Logger receives the job's structured logs (default slog.Default()).
	Logger *slog.Logger
	// Checkpoints configures periodic checkpoints and their store.
	Checkpoints CheckpointOptions
	// Restore starts the job from a checkpoint (LatestCheckpoint,
	// ReadCheckpoint, or one Job.Checkpoint returned): sources resume at its
	// split positions, operators get the state of the key groups they own
	// at the job's parallelism, which may differ from the checkpoint's.
	Restore *Checkpoint
	// StateStore, when set, keeps the byte tables of every operator
	// subtask's keyed state (process functions' ValueState, MapState,
	// ListState) in a store it opens, on first use, in a directory under
	// StateDir (default os.TempDir()), removed when the job ends: state
	// larger than memory (storage/pebblestate). Nil keeps them in memory.
	// With a checkpoint store, such state is checkpointed incrementally.
	StateStore StateStoreFactory
	StateDir   string
}

// Job is a running instance of a graph: one goroutine per task, bounded
// channels between them, and a coordinator for checkpoint barriers.
type Job struct {
	g       *Graph
	opts    JobOptions
	coord   *coordinator
	metrics map[*Node][]*OperatorMetrics

	// inject serializes barrier injection: each checkpoint takes its id
	// and sends its barrier to every source before the next one does, so
	// every source sees the barriers in id order.
	inject    sync.Mutex
	mu        sync.Mutex
	sources   []*sourceRunner
	listeners []CheckpointListener
	ready     chan struct{}

	chkStats checkpointStats
}

// NewJob checks the graph and prepares a job to run it.
func NewJob(g *Graph, opts JobOptions) (*Job, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if opts.ChannelCapacity <= 0 {
		opts.ChannelCapacity = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Checkpoints.Timeout <= 0 {
		opts.Checkpoints.Timeout = 10 * time.Minute
	}
	if opts.Checkpoints.Retained <= 0 {
		opts.Checkpoints.Retained = 3
	}
	if opts.Checkpoints.Store != nil && opts.Checkpoints.Job == "" {
		return nil, fmt.Errorf("checkpoint options: a store needs a job name")
	}
	if opts.Restore != nil {
		if err := checkRestorable(g, opts.Restore); err != nil {
			return nil, err
		}
	}
	j := &Job{g: g, opts: opts, metrics: map[*Node][]*OperatorMetrics{}, ready: make(chan struct{})}
	for _, n := range g.nodes {
		ms := make([]*OperatorMetrics, n.Parallelism)
		for i := range ms {
			ms[i] = &OperatorMetrics{}
		}
		j.metrics[n] = ms
	}
	return j, nil
}

// Metrics returns the metrics of the named node's subtasks.
func (j *Job) Metrics(node string) []*OperatorMetrics {
	for n, ms := range j.metrics {
		if n.Name == node {
			return ms
		}
	}
	return nil
}

// Run executes the job until every task has finished (bounded inputs), ctx
// is cancelled, or a task fails. The first failure cancels all tasks and is
// returned; cancellation returns context.Cause(ctx).
func (j *Job) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tasks, gates, err := j.build(ctx)
	// Deferred first, so it runs after the periodic checkpoints stopped.
	defer j.closeState(tasks)
	if err != nil {
		return err
	}
	firstID, err := j.firstCheckpointID(ctx)
	if err != nil {
		return err
	}
	// Before any task opens: commit what the sinks staged up to the
	// restored checkpoint, discard what they staged after it
	// (CheckpointListener); a job that starts afresh recovers checkpoint 0,
	// so nothing a failed earlier attempt staged survives.
	var recoverID int64
	if chk := j.opts.Restore; chk != nil {
		recoverID = chk.ID
	}
	for _, l := range j.listeners {
		if err := l.RecoverCheckpoint(ctx, recoverID); err != nil {
			return fmt.Errorf("recover checkpoint %d: %w", recoverID, err)
		}
	}
	for _, t := range tasks {
		t.lastBarrier = firstID
	}
	j.coord = newCoordinator(len(tasks), firstID)
	j.coord.run, j.coord.cancel = ctx, cancel
	close(j.ready)
	if j.opts.Checkpoints.Interval > 0 {
		var periodic sync.WaitGroup
		pctx, stopPeriodic := context.WithCancel(ctx)
		periodic.Go(func() { j.periodicCheckpoints(pctx) })
		defer periodic.Wait()
		defer stopPeriodic()
	}

	stop := context.AfterFunc(ctx, func() {
		for _, g := range gates {
			g.close()
		}
	})
	defer stop()

	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Go(func() {
			err := t.run(ctx)
			if err != nil {
				var oe *OperatorError
				if !errors.As(err, &oe) && !errors.Is(err, context.Cause(ctx)) {
					err = fmt.Errorf("task %s: %w", t.name(), err)
				}
				cancel(err)
				return
			}
			j.coord.finished(t.index)
		})
	}
	wg.Wait()
	// Nothing but a failing task or the caller cancels ctx before Run
	// returns, so its cause is the job's outcome (nil when all finished).
	if err := context.Cause(ctx); err != nil {
		return err
	}
	// Every input ended: what the sinks staged at their end is final —
	// unless a stop-with-savepoint is under way, whose commit is the last.
	if err := j.coord.end(); err != nil {
		return err
	}
	for _, l := range j.listeners {
		if err := l.CommitCheckpoint(ctx, FinalCheckpoint); err != nil {
			return fmt.Errorf("final commit: %w", err)
		}
	}
	return nil
}

// firstCheckpointID is the id after which the job numbers its checkpoints:
// past the restored one and every one in the store, so that a checkpoint of
// this run never reuses the directory of one a failed run left behind.
func (j *Job) firstCheckpointID(ctx context.Context) (int64, error) {
	var id int64
	if j.opts.Restore != nil {
		id = j.opts.Restore.ID
	}
	if co := j.opts.Checkpoints; co.Store != nil {
		ids, _, err := listCheckpoints(ctx, co.Store, co.Job)
		if err != nil {
			return 0, err
		}
		if len(ids) > 0 {
			id = max(id, ids[len(ids)-1])
		}
	}
	return id, nil
}

// build creates the tasks, gates and exchanges of the graph.
func (j *Job) build(ctx context.Context) ([]*task, []*inputGate, error) {
	g := j.g
	var tasks []*task
	taskOf := map[*Node][]*task{} // chain head → tasks by subtask
	linkOf := map[*Node][]*chainLink{}
	for _, n := range g.nodes {
		if !n.chainHead() {
			continue
		}
		for s := 0; s < n.Parallelism; s++ {
			t := &task{job: j, index: len(tasks), subtask: s}
			for m := n; m != nil; m = m.chainedTo() {
				groups := KeyGroupRange{Start: 0, End: g.MaxParallelism}
				if hasHashInput(m) {
					groups = KeyGroupsOf(s, m.Parallelism, g.MaxParallelism)
				}
				l := &chainLink{node: m, metrics: j.metrics[m][s], outs: map[string]Output{}}
				l.tc = &TaskContext{
					Node: m.Name, Subtask: s, Parallelism: m.Parallelism,
					KeyGroups: groups, MaxParallelism: g.MaxParallelism,
					UpdatesPossible: g.updatesPossible(),
					State:           j.newStateBackend(m.Name, s, groups),
					Metrics:         l.metrics,
					Logger:          j.opts.Logger.With("node", m.Name, "subtask", s),
				}
				if e := hashInput(m); e != nil && e.Keys != nil {
					l.tc.InputKeys = e.Keys.Columns
				}
				if m.newOp != nil {
					l.op = m.newOp()
					if cl, ok := l.op.(CheckpointListener); ok {
						j.listeners = append(j.listeners, cl)
					}
				}
				t.links = append(t.links, l)
				linkOf[m] = append(linkOf[m], l)
			}
			tasks = append(tasks, t)
			taskOf[n] = append(taskOf[n], t)
		}
	}

	// Gates: one queue per (input edge, upstream subtask) that reaches a subtask.
	var gates []*inputGate
	queueOf := map[*Edge][]int{} // edge → queue index by upstream subtask
	for _, n := range g.nodes {
		if !n.chainHead() || n.source != nil {
			continue
		}
		var inputs []int
		for _, e := range n.inputs {
			qs := make([]int, e.From.Parallelism)
			if e.Part == Forward {
				qs = []int{len(inputs)}
				inputs = append(inputs, e.Input)
			} else {
				for u := range qs {
					qs[u] = len(inputs)
					inputs = append(inputs, e.Input)
				}
			}
			queueOf[e] = qs
		}
		for _, t := range taskOf[n] {
			t.gate = newInputGate(inputs, j.opts.ChannelCapacity)
			gates = append(gates, t.gate)
		}
	}

	// Outputs and exchanges.
	for _, n := range g.nodes {
		next := n.chainedTo()
		for u, l := range linkOf[n] {
			for _, port := range sortedPorts(n.outputs) {
				if port == "" && next != nil {
					l.outs[port] = counting{l.metrics, chainOutput{next: linkOf[next][u]}}
					continue
				}
				var fan fanOut
				for _, e := range n.outputs[port] {
					s := &edgeSender{edge: e, keys: e.Keys, maxPar: g.MaxParallelism}
					if e.Keys != nil {
						s.keys = e.Keys.Clone()
					}
					if e.Part == Forward {
						s.targets = []target{{gate: taskOf[e.To][u].gate, queue: queueOf[e][0]}}
					} else {
						for d := 0; d < e.To.Parallelism; d++ {
							s.targets = append(s.targets, target{gate: taskOf[e.To][d].gate, queue: queueOf[e][u]})
						}
					}
					fan = append(fan, s)
					l.senders = append(l.senders, s)
				}
				l.outs[port] = counting{l.metrics, fan}
			}
			if _, ok := l.outs[""]; !ok {
				l.outs[""] = counting{l.metrics, discard{}}
			}
			l.tc.Out = l.outs[""]
			outs := l.outs
			l.tc.sideOutput = func(name string) Output {
				if o, ok := outs[name]; ok {
					return o
				}
				return discard{}
			}
		}
	}

	// Sources: enumerate splits and assign them round-robin.
	j.mu.Lock()
	defer j.mu.Unlock()
	known := map[string]bool{} // every source's split IDs
	for _, n := range g.nodes {
		if n.source == nil {
			continue
		}
		splits, err := n.source.Source.Splits(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("source %q: splits: %w", n.Name, err)
		}
		for _, sp := range splits {
			known[sp.ID()] = true
		}
		start := n.source.Start
		if j.opts.Restore != nil {
			start = j.opts.Restore.Splits
		}
		for s, t := range taskOf[n] {
			r := &sourceRunner{spec: n.source, node: n, subtask: s, job: j,
				barriers: make(chan Barrier, 16), metrics: j.metrics[n][s]}
			for i := s; i < len(splits); i += n.Parallelism {
				sp := splits[i]
				st, resumed := start[sp.ID()]
				gen := watermark.NewSplit(n.source.Watermarks)
				if resumed {
					gen.Restore(st.Max)
				}
				r.splits = append(r.splits, sp)
				r.states = append(r.states, SplitState{Position: st.Position, Done: st.Done})
				r.gens = append(r.gens, gen)
			}
			t.src = r
			j.sources = append(j.sources, r)
		}
	}
	if err := checkSplitsKnown(j.opts.Restore, known); err != nil {
		return nil, nil, err
	}
	return tasks, gates, nil
}

// newStateBackend returns the state backend of one operator subtask: in
// memory, or in the job's StateStore.
func (j *Job) newStateBackend(node string, subtask int, groups KeyGroupRange) *StateBackend {
	if j.opts.StateStore == nil {
		return NewStateBackend(groups)
	}
	s := NewStoreStateBackend(groups, j.opts.StateStore, StateStoreSpec{Node: node, Subtask: subtask}, j.opts.StateDir)
	if co := j.opts.Checkpoints; co.Store != nil {
		s.st.inc = &incrementalState{job: co.Job, node: node, subtask: subtask, run: newRunID(), uploaded: map[string]StoreFile{}}
	}
	return s
}

// closeState closes the state backends of the tasks' operators.
func (j *Job) closeState(tasks []*task) {
	for _, t := range tasks {
		for _, l := range t.links {
			if err := l.tc.State.Close(); err != nil {
				j.opts.Logger.Warn("closing state", "node", l.node.Name, "subtask", l.tc.Subtask, "error", err)
			}
		}
	}
}

// updatesPossible reports whether a source may leave splits idle.
func (g *Graph) updatesPossible() bool {
	for _, n := range g.nodes {
		if n.source != nil && n.source.Live && n.source.Watermarks.IdleTimeout > 0 {
			return true
		}
	}
	return false
}

func hasHashInput(n *Node) bool { return hashInput(n) != nil }

// hashInput returns the first hash edge into n, or nil.
func hashInput(n *Node) *Edge {
	for _, e := range n.inputs {
		if e.Part == Hash {
			return e
		}
	}
	return nil
}
