package server

import (
	"encoding/json"
	"errors"
	"sync"
)

// errQueueClosed is returned to producers once the connection is gone.
var errQueueClosed = errors.New("client disconnected")

// sendQueue holds one connection's outgoing messages, coalescing updates to
// the same result while they wait (see the package comment).
type sendQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	items   []*queued
	rows    int // rows held in queued deltas
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

// rowsDelta is a pending rows message: each distinct row with its net count
// (inserts minus retractions), in order of first appearance.
type rowsDelta struct {
	id    string
	stmt  int
	keys  []string
	rows  map[string][]any
	count map[string]int
}

func newSendQueue(maxRows int) *sendQueue {
	q := &sendQueue{maxRows: maxRows, progress: map[string]serverMessage{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues a control message (schema, progress, done, error). A progress
// message replaces the run's pending one.
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

// pushRows queues rows with their ops ("+"/"-"), folding them into a
// queued delta of the same statement when one waits at the tail. It blocks
// while the queue holds more than maxRows rows (backpressure).
func (q *sendQueue) pushRows(id string, stmt int, ops []string, rows [][]any) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && q.rows >= q.maxRows {
		q.cond.Wait()
	}
	if q.closed {
		return errQueueClosed
	}
	var d *rowsDelta
	if n := len(q.items); n > 0 && q.items[n-1].delta != nil && q.items[n-1].delta.id == id && q.items[n-1].delta.stmt == stmt {
		d = q.items[n-1].delta
	} else {
		d = &rowsDelta{id: id, stmt: stmt, rows: map[string][]any{}, count: map[string]int{}}
		q.items = append(q.items, &queued{delta: d})
	}
	for i, row := range rows {
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		k := string(b)
		if _, ok := d.rows[k]; !ok {
			d.rows[k] = row
			d.keys = append(d.keys, k)
			q.rows++
		}
		if ops[i] == "-" {
			d.count[k]--
		} else {
			d.count[k]++
		}
		if d.count[k] == 0 {
			// An insertion and its retraction cancel out: nothing to send.
			delete(d.rows, k)
			delete(d.count, k)
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
// client folding it never holds a row twice.
func (d *rowsDelta) message() (serverMessage, bool) {
	m := serverMessage{Type: "rows", ID: d.id, Stmt: ptr(d.stmt)}
	d.compact()
	for _, sign := range []int{-1, 1} {
		for _, k := range d.keys {
			n := d.count[k] * sign
			for ; n > 0; n-- {
				m.Rows = append(m.Rows, d.rows[k])
				if sign < 0 {
					m.Ops = append(m.Ops, "-")
				} else {
					m.Ops = append(m.Ops, "+")
				}
			}
		}
	}
	return m, len(m.Rows) > 0
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
