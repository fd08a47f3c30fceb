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
	queued := 0
	s.mu.Lock()
	for c := range s.clients {
		queued += c.queue.depth()
	}
	s.mu.Unlock()
	type metric struct {
		name, kind, help string
		value            int64
	}
	ms := []metric{
		{"weir_jobs_started_total", "counter", "Queries started.", s.metrics.jobsStarted.Load()},
		{"weir_jobs_running", "gauge", "Queries running now.", s.metrics.jobsRunning.Load()},
		{"weir_jobs_failed_total", "counter", "Queries that ended with an error.", s.metrics.jobsFailed.Load()},
		{"weir_rows_out_total", "counter", "Result rows sent to websocket clients.", s.metrics.rowsOut.Load()},
		{"weir_websocket_clients", "gauge", "Connected websocket clients.", s.metrics.wsClients.Load()},
		{"weir_websocket_queued_rows", "gauge", "Result rows waiting in clients' send queues.", int64(queued)},
		{"weir_http_requests_total", "counter", "HTTP requests served.", s.metrics.httpRequests.Load()},
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.kind, m.name, m.value)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
