package server

import (
	"fmt"
	"net/http"
	"time"
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
