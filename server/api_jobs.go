package server

import (
	"fmt"
	"net/http"
)

// jobList is GET /api/jobs' answer: the running jobs, oldest first, then
// the last ones that ended, newest first.
type jobList struct {
	Jobs []jobInfo `json:"jobs"`
}

func (s *Server) apiJobs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jobList{Jobs: s.jobs.list()})
}

// apiStopJob cancels a running job for every viewer.
func (s *Server) apiStopJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	j, ok := s.jobs.get(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, errorMessage("", fmt.Errorf("no running job %q", id)))
		return
	}
	s.log.Info("job stopped by request", "job", id)
	j.stop(errJobDeleted)
	w.WriteHeader(http.StatusNoContent)
}
