package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
)

// jobList is GET /api/jobs' answer: the running jobs, oldest first, then
// the last ones that ended, newest first.
type jobList struct {
	Jobs []jobInfo `json:"jobs"`
}

func (s *Server) apiJobs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jobList{Jobs: s.jobs.list()})
}

// apiStopJob cancels a running job for every viewer. A durable job is
// forgotten as well: its record and checkpoints are removed once it has
// stopped (the answer waits for that, at most closeWait), so that it is
// not restored. An ended durable job that is still recorded (one that
// failed to restore) is forgotten at once.
func (s *Server) apiStopJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	notFound := func() { writeJSON(w, http.StatusNotFound, errorMessage("", fmt.Errorf("no running job %q", id))) }
	j, ok := s.jobs.find(id)
	if !ok {
		notFound()
		return
	}
	if v := r.URL.Query().Get("savepoint"); v != "" {
		sp, err := strconv.ParseBool(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorMessage("", fmt.Errorf("savepoint=%q: true or false", v)))
			return
		}
		if sp {
			s.stopWithSavepoint(w, r, j)
			return
		}
	}
	j.mu.Lock()
	running, d := j.state == stateRunning, j.durable
	if running && d != nil {
		d.forget = true
	}
	forgotten := d != nil && d.forgotten
	j.mu.Unlock()
	if running {
		s.log.Info("job stopped by request", "job", id)
		j.stop(errJobDeleted)
		if d != nil {
			select {
			case <-j.done:
			case <-time.After(closeWait):
			case <-r.Context().Done():
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if d == nil || forgotten || s.durable == nil {
		notFound()
		return
	}
	if other, ok := s.jobs.runningDurable(d.name); ok {
		// The name runs again (asked for anew): forgetting it would take
		// the running job's record and checkpoints.
		writeJSON(w, http.StatusConflict, errorMessage("", fmt.Errorf("job %s runs the durable job %q now: DELETE that one to forget it", other.id, d.name)))
		return
	}
	if err := s.durable.forget(r.Context(), d.name); err != nil {
		writeJSON(w, http.StatusInternalServerError, errorMessage("", err))
		return
	}
	j.mu.Lock()
	d.forgotten = true
	j.mu.Unlock()
	s.log.Info("durable job forgotten by request", "name", d.name, "job", id)
	w.WriteHeader(http.StatusNoContent)
}

// savepointRef is a savepoint in DELETE ?savepoint=true's answer and in
// /api/jobs.
type savepointRef struct {
	ID       int64  `json:"id"`
	Location string `json:"location"`
}

// stopWithSavepoint is DELETE /api/jobs/{id}?savepoint=true: a running
// durable job writes a savepoint (WORKSPACE/savepoints/NAME/chk-ID/, also
// its latest checkpoint), its sinks commit it, and it stops. It is not
// restored by the next start (its record goes), but its checkpoints stay:
// the same job asked for again resumes from the savepoint. When the
// savepoint cannot be taken the job goes on and the answer says why.
func (s *Server) stopWithSavepoint(w http.ResponseWriter, r *http.Request, j *job) {
	j.mu.Lock()
	running, d := j.state == stateRunning, j.durable
	j.mu.Unlock()
	switch {
	case !running:
		writeJSON(w, http.StatusNotFound, errorMessage("", fmt.Errorf("no running job %q", j.id)))
		return
	case d == nil:
		writeJSON(w, http.StatusBadRequest, errorMessage("", fmt.Errorf("job %s is not durable: only a durable job stops with a savepoint", j.id)))
		return
	}
	ref, err := j.opts.Durable.StopWithSavepoint(r.Context())
	if err != nil && ref.ID == 0 {
		code := http.StatusInternalServerError
		if errors.Is(err, query.ErrNotRunning) || errors.Is(err, dataflow.ErrJobEnded) {
			code = http.StatusConflict
		}
		writeJSON(w, code, errorMessage("", fmt.Errorf("job %s goes on: %w", j.id, err)))
		return
	}
	j.mu.Lock()
	d.savepoint = &ref
	j.mu.Unlock()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorMessage("", fmt.Errorf("job %s: savepoint %d written to %s, but: %w", j.id, ref.ID, ref.Location, err)))
		return
	}
	s.log.Info("durable job stopped with a savepoint", "name", d.name, "job", j.id, "savepoint", ref.ID, "location", ref.Location)
	select {
	case <-j.done:
	case <-time.After(closeWait):
	case <-r.Context().Done():
	}
	writeJSON(w, http.StatusOK, struct {
		Savepoint savepointRef `json:"savepoint"`
	}{savepointRef{ID: ref.ID, Location: ref.Location}})
}
