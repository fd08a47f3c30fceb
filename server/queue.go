package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
)

var (
	// errQueueClosed is returned to producers once the connection is gone.
	errQueueClosed = errors.New("client disconnected")
	// errBehind is returned by a push that must not wait (a shared live
	// job) when the client's queue is full.
	errBehind = errors.New("the client fell behind")
)

// sendQueue holds one connection's outgoing messages, coalescing updates to
// the same result while they wait (see the package comment).
type sendQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []*queued
	rows    int // distinct rows held in queued deltas
	maxRows int
	closed  bool
	// progress holds each run's latest progress: it has no place in the
	// order of results, only the newest matters.
	progress map[string]serverMessage
	order    []string // runs with pending progress, in arrival order
}

type queued struct {
	msg   serverMessage
	delta *rowsDelta // set for rows messages
}

// rowRef is one row of a result batch: the Arrow record it is in, for
// clients that take Arrow frames.
type rowRef struct {
	rec arrow.RecordBatch
	idx int
}

// batchRows is one changelog batch rendered once for every viewer: each
// row's JSON values, its coalescing key (the values' JSON text), its op
// (+1 insert, −1 retract) and where it is in Arrow.
type batchRows struct {
	ops  []int8
	vals [][]any
	keys []string
	refs []rowRef
}

// renderBatch renders a result batch for the queues.
func renderBatch(b dataflow.Batch) (*batchRows, error) {
	n := b.Len()
	br := &batchRows{ops: make([]int8, n), vals: make([][]any, n), keys: make([]string, n), refs: make([]rowRef, n)}
	for r := 0; r < n; r++ {
		br.ops[r] = 1
		if b.Op(r) == dataflow.Retract {
			br.ops[r] = -1
		}
		br.vals[r] = rowValues(b.Rec, r)
		k, err := json.Marshal(br.vals[r])
		if err != nil {
			return nil, fmt.Errorf("rendering row %d: %w", r, err)
		}
		br.keys[r] = string(k)
		br.refs[r] = rowRef{b.Rec, r}
	}
	return br, nil
}

// rowsDelta is a pending rows message: each distinct row with its net count
// (inserts minus retractions), in order of first appearance.
type rowsDelta struct {
	id   string
	stmt int
	// schema is set when the run takes Arrow frames.
	schema *arrow.Schema
	keys   []string
	rows   map[string]*deltaRow
}

type deltaRow struct {
	vals []any
	ref  rowRef
	n    int
}

func newSendQueue(maxRows int) *sendQueue {
	q := &sendQueue{maxRows: maxRows, progress: map[string]serverMessage{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues a control message (schema, progress, done, error). A progress
// message replaces the run's pending one. It never waits.
func (q *sendQueue) push(m serverMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return errQueueClosed
	}
	if m.Type == "progress" {
		if _, ok := q.progress[m.ID]; !ok {
			q.order = append(q.order, m.ID)
		}
		q.progress[m.ID] = m
		q.cond.Broadcast()
		return nil
	}
	q.items = append(q.items, &queued{msg: m})
	q.cond.Broadcast()
	return nil
}

// pushRows queues rows of run id's statement stmt, folding them into a
// queued delta of the same statement when one waits at the tail. schema,
// when not nil, makes the delta an Arrow frame. While the queue holds
// maxRows rows or more, it waits for the writer (backpressure) when wait
// is set, and returns errBehind at once when it is not. A wait also ends
// when stop (if not nil) is closed: the run was cancelled (see wake).
func (q *sendQueue) pushRows(id string, stmt int, schema *arrow.Schema, b *batchRows, wait bool, stop <-chan struct{}) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for wait && !q.closed && q.rows >= q.maxRows && !stopped() {
		q.cond.Wait()
	}
	if q.closed {
		return errQueueClosed
	}
	if stopped() {
		return errCancelled
	}
	if q.rows >= q.maxRows {
		return errBehind
	}
	var d *rowsDelta
	if n := len(q.items); n > 0 && q.items[n-1].delta != nil && q.items[n-1].delta.id == id && q.items[n-1].delta.stmt == stmt {
		d = q.items[n-1].delta
	} else {
		d = &rowsDelta{id: id, stmt: stmt, schema: schema, rows: map[string]*deltaRow{}}
		q.items = append(q.items, &queued{delta: d})
	}
	for i, k := range b.keys {
		r, ok := d.rows[k]
		if !ok {
			r = &deltaRow{vals: b.vals[i], ref: b.refs[i]}
			d.rows[k] = r
			d.keys = append(d.keys, k)
			q.rows++
		}
		r.n += int(b.ops[i])
		if r.n == 0 {
			// An insertion and its retraction cancel out: nothing to send.
			delete(d.rows, k)
			q.rows--
		}
	}
	if len(d.keys) > 2*len(d.rows)+64 {
		d.compact()
	}
	q.cond.Broadcast()
	return nil
}

// compact drops the keys that cancelled out from the order list.
func (d *rowsDelta) compact() {
	keys := d.keys[:0]
	for _, k := range d.keys {
		if _, ok := d.rows[k]; ok {
			keys = append(keys, k)
		}
	}
	d.keys = keys
}

// pop waits for messages and returns all that are queued, rendered.
func (q *sendQueue) pop() ([]serverMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && len(q.items) == 0 && len(q.order) == 0 {
		q.cond.Wait()
	}
	if q.closed {
		return nil, errQueueClosed
	}
	items, progress, order := q.items, q.progress, q.order
	q.items, q.rows, q.progress, q.order = nil, 0, map[string]serverMessage{}, nil
	q.cond.Broadcast() // producers waiting for space
	out := make([]serverMessage, 0, len(items)+len(order))
	ended := map[string]bool{}
	for _, it := range items {
		if it.delta == nil {
			if t := it.msg.Type; (t == "done" || t == "error") && !ended[it.msg.ID] {
				// The run's final counts go right before its end.
				if p, ok := progress[it.msg.ID]; ok {
					out = append(out, p)
				}
				ended[it.msg.ID] = true
			}
			out = append(out, it.msg)
			continue
		}
		if m, ok := it.delta.message(); ok {
			out = append(out, m)
		}
	}
	// Progress after the results it counts (and only once per run).
	for _, id := range order {
		if !ended[id] {
			out = append(out, progress[id])
		}
	}
	return out, nil
}

// message renders a delta: retractions first, then insertions, so a
// client folding it never holds a row twice. An Arrow delta becomes the
// rows of an Arrow frame (arrowRows), encoded by the writer.
func (d *rowsDelta) message() (serverMessage, bool) {
	m := serverMessage{Type: "rows", ID: d.id, Stmt: ptr(d.stmt)}
	d.compact()
	var frame *arrowRows
	if d.schema != nil {
		frame = &arrowRows{schema: d.schema}
		m.arrow = frame
	}
	n := 0
	for _, sign := range []int{-1, 1} {
		for _, k := range d.keys {
			r := d.rows[k]
			for c := r.n * sign; c > 0; c-- {
				n++
				if frame != nil {
					frame.refs = append(frame.refs, r.ref)
					frame.ops = append(frame.ops, int8(sign))
					continue
				}
				m.Rows = append(m.Rows, r.vals)
				if sign < 0 {
					m.Ops = append(m.Ops, "-")
				} else {
					m.Ops = append(m.Ops, "+")
				}
			}
		}
	}
	return m, n > 0
}

// wake makes waiting producers look again (a run was cancelled).
func (q *sendQueue) wake() {
	q.mu.Lock()
	q.cond.Broadcast()
	q.mu.Unlock()
}

// depth returns the rows waiting (for metrics).
func (q *sendQueue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rows
}

func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}
