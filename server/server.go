package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirdata/weir/notebooks"
	"github.com/weirdata/weir/query"
)

// Options configure a Server.
type Options struct {
	// Addr to listen on (default 127.0.0.1:8080).
	Addr string
	// Token, when set, is required of every request (see the package
	// comment); bound to a non-loopback address without one, New makes one.
	Token string
	// AllowedOrigins are websocket origins accepted besides the server's
	// own host ("https://notebook.example.com").
	AllowedOrigins []string
	// MaxMessageBytes bounds a client's websocket message (default 1 MiB).
	MaxMessageBytes int64
	// MaxQueuedRows bounds the rows waiting for one slow client (default
	// 50,000) before its queries wait (backpressure).
	MaxQueuedRows int
	// MaxFoldedRows bounds the result a live job keeps for viewers that
	// join it late (default DefaultMaxFoldedRows; see fold).
	MaxFoldedRows int
	// WriteTimeout disconnects a client that reads nothing for this long
	// (default 30 s).
	WriteTimeout time.Duration
	// Parallelism of queries (default 2).
	Parallelism int
	// Notebooks is the notebook store of /api/notebooks (nil: none).
	Notebooks *notebooks.Store
	// Workspace is the directory where durable jobs keep their records
	// (jobs/NAME.json) and checkpoints (checkpoints/NAME/); empty: durable
	// runs are refused. See RestoreJobs.
	Workspace string
	// CheckpointInterval is durable jobs' checkpoint interval (default
	// query.DefaultCheckpointInterval).
	CheckpointInterval time.Duration
	// StateBackend keeps durable jobs' keyed state: "memory" (default) or
	// "pebble" (query.ParseStateBackend), in WORKSPACE/state/NAME/.
	StateBackend string
	Logger       *slog.Logger
}

// Server serves one engine over HTTP and websockets.
type Server struct {
	opts   Options
	engine *query.Engine
	log    *slog.Logger
	mux    *http.ServeMux

	// generatedToken is set when New made the token (to print it).
	generatedToken bool

	metrics serverMetrics
	mu      sync.Mutex
	clients map[*client]struct{}

	// durable holds durable jobs' records and checkpoints (nil: no
	// workspace, no durable jobs).
	durable *durableStores

	// jobs is every run; jobsCtx is the parent of their contexts, ended
	// at shutdown.
	jobs     *registry
	jobsCtx  context.Context
	stopJobs context.CancelCauseFunc
}

type serverMetrics struct {
	jobsStarted  atomic.Int64
	jobsRunning  atomic.Int64
	jobsFailed   atomic.Int64
	rowsOut      atomic.Int64
	wsClients    atomic.Int64
	httpRequests atomic.Int64
}

// New returns a server for engine. Call Handler to serve it, or Serve.
func New(engine *query.Engine, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:8080"
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 1 << 20
	}
	if opts.MaxQueuedRows <= 0 {
		opts.MaxQueuedRows = 50_000
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.MaxFoldedRows <= 0 {
		opts.MaxFoldedRows = DefaultMaxFoldedRows
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, engine: engine, log: opts.Logger, clients: map[*client]struct{}{}}
	s.jobs = newRegistry(s)
	if opts.Workspace != "" {
		var err error
		if s.durable, err = openDurableStores(opts.Workspace); err != nil {
			return nil, err
		}
	}
	s.jobsCtx, s.stopJobs = context.WithCancelCause(context.Background())
	loopback, err := isLoopback(opts.Addr)
	if err != nil {
		return nil, err
	}
	if !loopback && s.opts.Token == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		s.opts.Token, s.generatedToken = hex.EncodeToString(b), true
	}
	s.routes()
	return s, nil
}

// Token returns the token clients must present ("" when none is needed).
func (s *Server) Token() string { return s.opts.Token }

// GeneratedToken reports whether New generated the token (so it is printed).
func (s *Server) GeneratedToken() bool { return s.generatedToken }

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.auth(s.mux) }

// Handle adds a handler (the UI's files) behind the server's auth.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/health", s.health)
	s.mux.HandleFunc("POST /api/query", s.apiQuery)
	s.mux.HandleFunc("GET /api/tables", s.apiTables)
	s.mux.HandleFunc("GET /api/notebooks", s.listNotebooks)
	s.mux.HandleFunc("GET /api/notebooks/{name}", s.getNotebook)
	s.mux.HandleFunc("PUT /api/notebooks/{name}", s.putNotebook)
	s.mux.HandleFunc("DELETE /api/notebooks/{name}", s.deleteNotebook)
	s.mux.HandleFunc("GET /api/jobs", s.apiJobs)
	s.mux.HandleFunc("DELETE /api/jobs/{id}", s.apiStopJob)
	s.mux.HandleFunc("GET /metrics", s.serveMetrics)
	// Unknown API paths answer JSON, not the UI's page.
	s.mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorMessage("", fmt.Errorf("no API endpoint %s", r.URL.Path)))
	})
	s.mux.HandleFunc("GET /ws", s.serveWS)
}

// isLoopback reports whether addr binds only to loopback.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// Serve listens on Options.Addr (or uses ln when not nil) until ctx ends,
// then shuts down gracefully: no new connections, running queries
// cancelled, websockets closed, at most 5 s for in-flight requests.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Addr); err != nil {
			return err
		}
	}
	baseCtx, cancelAll := context.WithCancelCause(context.Background())
	defer cancelAll(nil)
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "cause", context.Cause(ctx))
	cancelAll(errShutdown)
	s.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// closeWait bounds how long Close waits for the jobs to end.
const closeWait = 10 * time.Second

// Close stops every job (their viewers get an error), closes the
// websockets and waits (at most closeWait) for the jobs to end, so that a
// server started next on the same workspace does not restore a durable
// job that is still running here. Durable jobs stay recorded. Serve calls
// it on shutdown; a caller serving Handler itself calls it when done.
func (s *Server) Close() {
	s.stopJobs(errShutdown)
	s.jobs.stopAll(errShutdown)
	s.closeClients()
	ended := make(chan struct{})
	go func() {
		s.jobs.running.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(closeWait):
		s.log.Warn("jobs still running after shutdown", "waited", closeWait.String())
	}
}

func (s *Server) closeClients() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		c.close()
	}
}
