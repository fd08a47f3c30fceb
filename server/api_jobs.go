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
	j, ok := s.jobs.find(id)
	if ok {
		j.mu.Lock()
		running := j.state == stateRunning
		if j.durable != nil && running {
			j.durable.forget = true
		}
		d := j.durable
		forgotten := d != nil && d.forget && !running
		if d != nil && !running {
			d.forget = true
		}
		j.mu.Unlock()
		switch {
		case running:
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
		case d != nil && !forgotten && s.durable != nil:
			if err := s.durable.forget(r.Context(), d.name); err != nil {
				j.mu.Lock()
				d.forget = false // to be tried again
				j.mu.Unlock()
				writeJSON(w, http.StatusInternalServerError, errorMessage("", err))
				return
			}
			s.log.Info("durable job forgotten by request", "name", d.name, "job", id)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, errorMessage("", fmt.Errorf("no running job %q", id)))
}
