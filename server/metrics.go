package server

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// serveMetrics writes the Prometheus text exposition format (version
// 0.0.4) by hand: a handful of counters and gauges do not warrant the
// client library.
func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	queued, maxQueued := 0, 0
	s.mu.Lock()
	for c := range s.clients {
		d := c.queue.depth()
		queued += d
		maxQueued = max(maxQueued, d)
	}
	s.mu.Unlock()
	_, viewers, lagMS := s.jobs.stats()
	type metric struct {
		name, kind, help string
		value            float64
	}
	ms := []metric{
		{"weir_jobs_started_total", "counter", "Jobs (query runs) started.", float64(s.metrics.jobsStarted.Load())},
		{"weir_jobs_running", "gauge", "Jobs running now.", float64(s.metrics.jobsRunning.Load())},
		{"weir_jobs_failed_total", "counter", "Jobs that ended with an error (not counting cancellations).", float64(s.metrics.jobsFailed.Load())},
		{"weir_job_viewers", "gauge", "Viewers attached to running jobs (websocket runs and HTTP queries).", float64(viewers)},
		{"weir_rows_out_total", "counter", "Result rows handed to websocket clients' queues (once per viewer).", float64(s.metrics.rowsOut.Load())},
		{"weir_websocket_clients", "gauge", "Connected websocket clients.", float64(s.metrics.wsClients.Load())},
		{"weir_websocket_queued_rows", "gauge", "Result rows waiting in clients' send queues, all clients.", float64(queued)},
		{"weir_websocket_queued_rows_max", "gauge", "Result rows waiting in the fullest client send queue.", float64(maxQueued)},
		{"weir_http_requests_total", "counter", "HTTP requests served.", float64(s.metrics.httpRequests.Load())},
	}
	if lagMS >= 0 {
		ms = append(ms, metric{"weir_live_watermark_lag_seconds", "gauge", "Largest lag of a live job's watermark behind the wall clock.", float64(lagMS) / 1000})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", m.name, m.help, m.name, m.kind, m.name, m.value)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
