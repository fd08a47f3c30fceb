package server

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weirdata/weir/query"
)

// client is one websocket connection: a reader (run, cancel), a writer
// draining the send queue, and its runs, each a viewer of a job.
type client struct {
	s     *Server
	conn  *websocket.Conn
	queue *sendQueue

	mu   sync.Mutex
	runs map[string]*viewer
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
	c := &client{s: s, conn: conn, queue: newSendQueue(s.opts.MaxQueuedRows), runs: map[string]*viewer{}, done: make(chan struct{})}
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
	c.readLoop()
}

func (c *client) close() {
	c.once.Do(func() {
		close(c.done)
		c.queue.close()
		c.mu.Lock()
		runs := c.runs
		c.runs = map[string]*viewer{}
		c.mu.Unlock()
		for _, v := range runs {
			v.job.detach(v)
		}
		_ = c.conn.Close()
	})
}

func (c *client) readLoop() {
	for {
		var m clientMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			return // closed, oversize (ReadLimit) or malformed: the connection ends
		}
		switch m.Type {
		case "run":
			c.start(m)
		case "cancel":
			c.mu.Lock()
			v, ok := c.runs[m.ID]
			delete(c.runs, m.ID)
			c.mu.Unlock()
			if ok && v.job.detach(v) {
				em := errorMessage(m.ID, errCancelled)
				em.Cancelled = true
				_ = c.queue.push(em)
			}
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
				if err := c.write(m); err != nil {
					return
				}
			}
		}
	}
}

// write sends one message: JSON, or a binary Arrow frame for rows of a
// run that asked for Arrow. A frame that cannot be encoded (a type the
// Arrow gather does not know) becomes an error for that run.
func (c *client) write(m serverMessage) error {
	if m.arrow == nil {
		return c.conn.WriteJSON(m)
	}
	frame, err := arrowFrame(m)
	if err != nil {
		return c.conn.WriteJSON(errorMessage(m.ID, err))
	}
	return c.conn.WriteMessage(websocket.BinaryMessage, frame)
}

// start runs a client's SQL as a viewer of a job (a new one, or the
// running live job of the same SQL and from).
func (c *client) start(m clientMessage) {
	if m.ID == "" {
		_ = c.queue.push(serverMessage{Type: "error", Message: "a run needs an id"})
		return
	}
	opts, err := c.s.runOptions(m.Mode, m.From, m.To)
	if err != nil {
		_ = c.queue.push(errorMessage(m.ID, err))
		return
	}
	if m.Format != "" && m.Format != "json" && m.Format != "arrow" {
		_ = c.queue.push(serverMessage{Type: "error", ID: m.ID, Message: "unknown format " + quote(m.Format) + " (json or arrow)"})
		return
	}
	if m.SQL == "" {
		_ = c.queue.push(serverMessage{Type: "error", ID: m.ID, Message: "a run needs sql"})
		return
	}
	// c.mu is held while the viewer attaches, so that the run is in
	// c.runs, with its job set, before the job can end or be cancelled.
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.runs[m.ID]; busy {
		_ = c.queue.push(serverMessage{Type: "error", ID: m.ID, Message: "a run with this id is already running"})
		return
	}
	// A live INSERT is always durable: its exactly-once output commits on
	// checkpoints.
	var d *durableSpec
	if m.Durable || m.Job != "" || (opts.Mode == query.Live && isInsert(m.SQL)) {
		if err := c.s.checkDurableRun(m.SQL, opts, m.Job); err != nil {
			_ = c.queue.push(errorMessage(m.ID, err))
			return
		}
		name := m.Job
		if name == "" {
			name = defaultJobName(m.SQL, m.From)
		}
		d = &durableSpec{name: name}
	}
	v := &viewer{c: c, runID: m.ID, arrow: m.Format == "arrow"}
	c.runs[m.ID] = v
	mode := opts.Mode.String()
	if err := c.s.jobs.attach(v, m.SQL, opts, mode, m.From, m.To, d); err != nil {
		delete(c.runs, m.ID)
		_ = c.queue.push(errorMessage(m.ID, err))
	}
}

// forget removes a run that ended; it reports whether v was still the
// client's run of that id.
func (c *client) forget(v *viewer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs[v.runID] == v {
		delete(c.runs, v.runID)
		return true
	}
	return false
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
