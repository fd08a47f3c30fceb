package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
)

// client is one websocket connection: a reader (run, cancel), a writer
// draining the send queue, and the runs it started.
type client struct {
	s     *Server
	conn  *websocket.Conn
	queue *sendQueue

	mu   sync.Mutex
	runs map[string]context.CancelCauseFunc
	done chan struct{}
	once sync.Once
}

var errCancelled = errors.New("cancelled by the client")

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.originOK(r) {
		http.Error(w, "websocket origin not allowed", http.StatusForbidden)
		return
	}
	up := websocket.Upgrader{CheckOrigin: s.originOK}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade replied to the client
	}
	conn.SetReadLimit(s.opts.MaxMessageBytes)
	c := &client{s: s, conn: conn, queue: newSendQueue(s.opts.MaxQueuedRows), runs: map[string]context.CancelCauseFunc{}, done: make(chan struct{})}
	s.mu.Lock()
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.wsClients.Add(1)
	defer func() {
		c.close()
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		s.metrics.wsClients.Add(-1)
	}()
	go c.writeLoop()
	c.readLoop(r.Context())
}

func (c *client) close() {
	c.once.Do(func() {
		close(c.done)
		c.queue.close()
		c.mu.Lock()
		for _, cancel := range c.runs {
			cancel(errQueueClosed)
		}
		c.mu.Unlock()
		_ = c.conn.Close()
	})
}

func (c *client) readLoop(ctx context.Context) {
	for {
		var m clientMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			return // closed, oversize (ReadLimit) or malformed: the connection ends
		}
		switch m.Type {
		case "run":
			c.start(ctx, m)
		case "cancel":
			c.mu.Lock()
			if cancel, ok := c.runs[m.ID]; ok {
				cancel(errCancelled)
			}
			c.mu.Unlock()
		default:
			_ = c.queue.push(serverMessage{Type: "error", ID: m.ID, Message: "unknown message type " + quote(m.Type) + " (run or cancel)"})
		}
	}
}

func quote(s string) string { return `"` + s + `"` }

// writeLoop sends queued messages; a client that reads nothing for the
// write timeout is disconnected. Pings keep idle connections alive.
func (c *client) writeLoop() {
	defer c.close()
	type batch struct {
		msgs []serverMessage
		err  error
	}
	next := make(chan batch)
	go func() {
		for {
			msgs, err := c.queue.pop()
			select {
			case next <- batch{msgs, err}:
			case <-c.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.opts.WriteTimeout)); err != nil {
				return
			}
		case b := <-next:
			if b.err != nil {
				return
			}
			for _, m := range b.msgs {
				_ = c.conn.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
				if err := c.conn.WriteJSON(m); err != nil {
					return
				}
			}
		}
	}
}

func (c *client) start(parent context.Context, m clientMessage) {
	if m.ID == "" {
		_ = c.queue.push(serverMessage{Type: "error", Message: "a run needs an id"})
		return
	}
	opts, err := c.s.runOptions(m.Mode, m.From, m.To)
	if err != nil {
		_ = c.queue.push(errorMessage(m.ID, err))
		return
	}
	if m.Format != "" && m.Format != "json" {
		_ = c.queue.push(serverMessage{Type: "error", ID: m.ID, Message: "format " + quote(m.Format) + " is not supported yet (json)"})
		return
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	c.mu.Lock()
	if _, busy := c.runs[m.ID]; busy {
		c.mu.Unlock()
		cancel(nil)
		_ = c.queue.push(serverMessage{Type: "error", ID: m.ID, Message: "a run with this id is already running"})
		return
	}
	c.runs[m.ID] = cancel
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.runs, m.ID)
			c.mu.Unlock()
			cancel(nil)
		}()
		c.s.metrics.jobsStarted.Add(1)
		c.s.metrics.jobsRunning.Add(1)
		defer c.s.metrics.jobsRunning.Add(-1)
		err := c.s.engine.Execute(ctx, m.SQL, opts, &wsSink{c: c, id: m.ID})
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
				err = cause
			}
			if !errors.Is(err, errQueueClosed) {
				if !errors.Is(err, errCancelled) {
					c.s.metrics.jobsFailed.Add(1)
				}
				_ = c.queue.push(errorMessage(m.ID, err))
			}
		}
	}()
}

func (s *Server) runOptions(mode, from, to string) (query.RunOptions, error) {
	opts := query.RunOptions{Parallelism: s.opts.Parallelism}
	var err error
	if opts.Mode, err = query.ParseMode(mode); err != nil {
		return opts, err
	}
	if opts.From, err = parseTime(from); err != nil {
		return opts, err
	}
	if opts.To, err = parseTime(to); err != nil {
		return opts, err
	}
	return opts, nil
}

// wsSink streams a run's results into the client's queue.
type wsSink struct {
	c  *client
	id string
}

func (w *wsSink) Schema(stmt int, s *arrowSchema) error {
	return w.c.queue.push(schemaMessage(w.id, stmt, s))
}

func (w *wsSink) Rows(stmt int, b dataflow.Batch) error {
	n := b.Len()
	ops := make([]string, n)
	rows := make([][]any, n)
	for r := 0; r < n; r++ {
		ops[r] = b.Op(r).String()
		rows[r] = rowValues(b.Rec, r)
	}
	w.c.s.metrics.rowsOut.Add(int64(n))
	return w.c.queue.pushRows(w.id, stmt, ops, rows)
}

func (w *wsSink) Progress(_ int, p query.Progress) error {
	return w.c.queue.push(progressMessage(w.id, p))
}

func (w *wsSink) Done(stmt int, d query.Done) error {
	return w.c.queue.push(serverMessage{Type: "done", ID: w.id, Stmt: ptr(stmt), RowsOut: ptr(d.RowsOut),
		ElapsedMS: ptr(d.Elapsed.Milliseconds()), Message: d.Message})
}
