package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
)

func asError(err error, target **query.Error) bool { return errors.As(err, target) }

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// apiQueryResult is POST /api/query's answer: the final rows of each
// statement of a bounded run (changelogs folded).
type apiQueryResult struct {
	Results []apiStatementResult `json:"results"`
}

type apiStatementResult struct {
	Columns []column `json:"columns,omitempty"`
	Rows    [][]any  `json:"rows"`
	Message string   `json:"message,omitempty"`
}

// apiQuery runs SQL to completion and answers with its final rows. Live
// runs never complete, so only backfills are accepted here; live results
// stream over the websocket.
func (s *Server) apiQuery(w http.ResponseWriter, r *http.Request) {
	var req clientMessage
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxMessageBytes)
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorMessage("", fmt.Errorf("request body: %w", err)))
		return
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorMessage("", err))
		return
	}
	if req.Durable || req.Job != "" {
		writeJSON(w, http.StatusBadRequest, errorMessage(req.ID, errors.New("a durable run is a live run: start it over /ws")))
		return
	}
	if strings.EqualFold(req.Mode, "live") {
		writeJSON(w, http.StatusBadRequest, errorMessage(req.ID, errors.New("a live run does not end: stream it over /ws")))
		return
	}
	opts, err := s.runOptions(req.Mode, req.From, req.To)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorMessage(req.ID, err))
		return
	}
	// The request is the job's one viewer: the job is listed, counted and
	// can be stopped like any other; a client that hangs up cancels it.
	j := s.jobs.newJob(req.SQL, opts, opts.Mode.String(), req.From, req.To)
	j.external = 1
	stop := context.AfterFunc(r.Context(), func() { j.cancel(errQueueClosed) })
	defer stop()
	sink := &foldSink{}
	s.metrics.jobsStarted.Add(1)
	s.metrics.jobsRunning.Add(1)
	s.log.Info("job started", "job", j.id, "mode", j.mode, "from", j.from, "to", j.to, "sql", truncate(j.sql, 200), "via", "http")
	err = s.engine.Execute(j.ctx, req.SQL, opts, teeSink{&jobSink{j: j}, sink})
	if err != nil && j.ctx.Err() != nil {
		if cause := context.Cause(j.ctx); cause != nil {
			err = cause
		}
	}
	s.metrics.jobsRunning.Add(-1)
	j.finish(err)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorMessage(req.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, sink.result())
}

// teeSink hands a statement's output to two sinks.
type teeSink [2]query.Sink

func (t teeSink) Schema(i int, s *arrow.Schema) error {
	if err := t[0].Schema(i, s); err != nil {
		return err
	}
	return t[1].Schema(i, s)
}

func (t teeSink) Rows(i int, b dataflow.Batch) error {
	if err := t[0].Rows(i, b); err != nil {
		return err
	}
	return t[1].Rows(i, b)
}

func (t teeSink) Progress(i int, p query.Progress) error {
	if err := t[0].Progress(i, p); err != nil {
		return err
	}
	return t[1].Progress(i, p)
}

func (t teeSink) Done(i int, d query.Done) error {
	if err := t[0].Done(i, d); err != nil {
		return err
	}
	return t[1].Done(i, d)
}

// foldSink folds each statement's changelog into final rows.
type foldSink struct {
	mu    sync.Mutex
	stmts []*foldedStatement
}

type foldedStatement struct {
	columns []column
	keys    []string
	rows    map[string][]any
	count   map[string]int
	message string
}

func (f *foldSink) stmt(i int) *foldedStatement {
	for len(f.stmts) <= i {
		f.stmts = append(f.stmts, &foldedStatement{rows: map[string][]any{}, count: map[string]int{}})
	}
	return f.stmts[i]
}

func (f *foldSink) Schema(i int, s *arrow.Schema) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stmt(i).columns = schemaMessage("", i, s).Columns
	return nil
}

func (f *foldSink) Rows(i int, b dataflow.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stmt(i)
	for r := 0; r < b.Len(); r++ {
		row := rowValues(b.Rec, r)
		kb, err := json.Marshal(row)
		if err != nil {
			return err
		}
		k := string(kb)
		if _, ok := st.rows[k]; !ok {
			st.rows[k], st.keys = row, append(st.keys, k)
		}
		if b.Op(r) == dataflow.Retract {
			st.count[k]--
		} else {
			st.count[k]++
		}
	}
	return nil
}

func (f *foldSink) Progress(int, query.Progress) error { return nil }

func (f *foldSink) Done(i int, d query.Done) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stmt(i).message = d.Message
	return nil
}

func (f *foldSink) result() apiQueryResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := apiQueryResult{Results: []apiStatementResult{}}
	for _, st := range f.stmts {
		res := apiStatementResult{Columns: st.columns, Rows: [][]any{}, Message: st.message}
		for _, k := range st.keys {
			for n := st.count[k]; n > 0; n-- {
				res.Rows = append(res.Rows, st.rows[k])
			}
		}
		out.Results = append(out.Results, res)
	}
	return out
}
