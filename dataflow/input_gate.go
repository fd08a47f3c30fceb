package dataflow

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/weirdata/weir/internal/columnar"
)

// errGateClosed is returned by a gate after the job was cancelled.
var errGateClosed = errors.New("dataflow: input gate closed")

// inputGate is the receiving end of every channel into one task: one bounded
// FIFO per upstream subtask and input. A sender blocks while its queue is
// full (backpressure, all the way back to the sources); the receiver takes
// elements round-robin from queues that are not blocked. A queue is blocked
// while the receiver aligns a checkpoint barrier that arrived on it, so that
// records after the barrier are not processed before the snapshot.
//
// Rejected alternative: one Go channel per queue and reflect.Select in the
// receiver. Go channels cannot be paused individually for alignment, and
// reflect.Select costs about a microsecond per element.
type inputGate struct {
	mu     sync.Mutex
	ready  *sync.Cond // the receiver waits here
	queues []*gateQueue
	next   int
	closed bool
}

type gateQueue struct {
	input   int       // the operator input this channel feeds
	buf     []Element // ring buffer
	head, n int
	blocked bool
	space   *sync.Cond // the sender waits here
}

func newInputGate(inputs []int, capacity int) *inputGate {
	g := &inputGate{}
	g.ready = sync.NewCond(&g.mu)
	for _, in := range inputs {
		g.queues = append(g.queues, &gateQueue{input: in, buf: make([]Element, capacity), space: sync.NewCond(&g.mu)})
	}
	return g
}

// push appends e to queue q, waiting while it is full.
func (g *inputGate) push(q int, e Element) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	gq := g.queues[q]
	for gq.n == len(gq.buf) && !g.closed {
		gq.space.Wait()
	}
	if g.closed {
		return errGateClosed
	}
	gq.buf[(gq.head+gq.n)%len(gq.buf)] = e
	gq.n++
	if gq.n == 1 && !gq.blocked {
		g.ready.Signal()
	}
	return nil
}

// pop removes the next element from a queue that is not blocked, waiting
// until there is one. It returns the queue index.
func (g *inputGate) pop() (int, Element, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		if g.closed {
			return 0, Element{}, errGateClosed
		}
		for i := range g.queues {
			q := (g.next + i) % len(g.queues)
			gq := g.queues[q]
			if gq.n == 0 || gq.blocked {
				continue
			}
			e := gq.buf[gq.head]
			gq.buf[gq.head] = Element{}
			gq.head = (gq.head + 1) % len(gq.buf)
			gq.n--
			if gq.n == len(gq.buf)-1 {
				gq.space.Signal()
			}
			// Strict round-robin: a producer that keeps its queue full must
			// not starve the others (their watermarks would stall).
			g.next = q + 1
			return q, e, nil
		}
		g.ready.Wait()
	}
}

// block stops pop from taking elements of queue q until unblockAll.
func (g *inputGate) block(q int) {
	g.mu.Lock()
	g.queues[q].blocked = true
	g.mu.Unlock()
}

func (g *inputGate) unblockAll() {
	g.mu.Lock()
	for _, gq := range g.queues {
		gq.blocked = false
	}
	g.ready.Signal()
	g.mu.Unlock()
}

// close wakes every waiter; pushes and pops fail from now on.
func (g *inputGate) close() {
	g.mu.Lock()
	g.closed = true
	g.ready.Broadcast()
	for _, gq := range g.queues {
		gq.space.Broadcast()
	}
	g.mu.Unlock()
}

// target is one downstream queue.
type target struct {
	gate  *inputGate
	queue int
}

// edgeSender sends one upstream subtask's elements over one edge to the
// downstream subtasks' gates, partitioning batches as the edge says.
type edgeSender struct {
	edge    *Edge
	targets []target // by downstream subtask (one for a forward edge)
	keys    *KeySelector
	maxPar  int
	rr      int

	hashes []uint64
	idx    [][]int32
}

// Emit routes a batch.
func (s *edgeSender) Emit(ctx context.Context, b Batch) error {
	if b.Len() == 0 {
		return nil
	}
	switch {
	case len(s.targets) == 1:
		return s.targets[0].gate.push(s.targets[0].queue, Element{Kind: KindBatch, Batch: b})
	case s.edge.Part == Broadcast:
		return s.control(Element{Kind: KindBatch, Batch: b})
	case s.edge.Part == Hash:
		return s.hash(b)
	default: // Rebalance (and forward to a different parallelism)
		t := s.targets[s.rr%len(s.targets)]
		s.rr++
		return t.gate.push(t.queue, Element{Kind: KindBatch, Batch: b})
	}
}

func (s *edgeSender) hash(b Batch) error {
	n := b.Len()
	if cap(s.hashes) < n {
		s.hashes = make([]uint64, n)
	}
	h := s.hashes[:n]
	if err := s.keys.Hash(b.Rec, h); err != nil {
		return fmt.Errorf("hash exchange to %q: %w", s.edge.To.Name, err)
	}
	p := len(s.targets)
	if s.idx == nil {
		s.idx = make([][]int32, p)
	}
	for i := range s.idx {
		s.idx[i] = s.idx[i][:0]
	}
	for i, x := range h {
		t := SubtaskOf(KeyGroupOf(x, s.maxPar), p, s.maxPar)
		s.idx[t] = append(s.idx[t], int32(i))
	}
	for t, idx := range s.idx {
		if len(idx) == 0 {
			continue
		}
		part := b
		if len(idx) != n {
			var err error
			if part, err = takeBatch(b, idx); err != nil {
				return err
			}
		}
		if err := s.targets[t].gate.push(s.targets[t].queue, Element{Kind: KindBatch, Batch: part}); err != nil {
			return err
		}
	}
	return nil
}

// control sends e to every downstream subtask.
func (s *edgeSender) control(e Element) error {
	for _, t := range s.targets {
		if err := t.gate.push(t.queue, e); err != nil {
			return err
		}
	}
	return nil
}

// takeBatch returns the rows idx of b, with their ops.
func takeBatch(b Batch, idx []int32) (Batch, error) {
	rec, err := columnar.TakeRecord(b.Rec, idx)
	if err != nil {
		return Batch{}, err
	}
	out := Batch{Rec: rec}
	if b.Ops != nil {
		out.Ops = make([]Op, len(idx))
		for i, j := range idx {
			out.Ops[i] = b.Ops[j]
		}
	}
	return out, nil
}
