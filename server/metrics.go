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
	// A metric is a family: one sample without labels, or one per
	// labelled sample (the checkpoint figures, one per durable job).
	type sample struct {
		labels string // `{job="…"}` or ""
		value  float64
	}
	type metric struct {
		name, kind, help string
		samples          []sample
	}
	one := func(name, kind, help string, v float64) metric {
		return metric{name, kind, help, []sample{{"", v}}}
	}
	ms := []metric{
		one("weir_jobs_started_total", "counter", "Jobs (query runs) started.", float64(s.metrics.jobsStarted.Load())),
		one("weir_jobs_running", "gauge", "Jobs running now.", float64(s.metrics.jobsRunning.Load())),
		one("weir_jobs_failed_total", "counter", "Jobs that ended with an error (not counting cancellations).", float64(s.metrics.jobsFailed.Load())),
		one("weir_job_viewers", "gauge", "Viewers attached to running jobs (websocket runs and HTTP queries).", float64(viewers)),
		one("weir_rows_out_total", "counter", "Result rows handed to websocket clients' queues (once per viewer).", float64(s.metrics.rowsOut.Load())),
		one("weir_websocket_clients", "gauge", "Connected websocket clients.", float64(s.metrics.wsClients.Load())),
		one("weir_websocket_queued_rows", "gauge", "Result rows waiting in clients' send queues, all clients.", float64(queued)),
		one("weir_websocket_queued_rows_max", "gauge", "Result rows waiting in the fullest client send queue.", float64(maxQueued)),
		one("weir_http_requests_total", "counter", "HTTP requests served.", float64(s.metrics.httpRequests.Load())),
	}
	if lagMS >= 0 {
		ms = append(ms, one("weir_live_watermark_lag_seconds", "gauge", "Largest lag of a live job's watermark behind the wall clock.", float64(lagMS)/1000))
	}
	// Checkpoint figures of the running durable jobs, labelled with the
	// job's name (stable across restarts, unlike its id). The counters
	// count since the job last started (a restart resets them).
	if names, stats := s.jobs.durableStats(); len(names) > 0 {
		chk := []metric{
			{name: "weir_checkpoint_last_id", kind: "gauge", help: "Id of a durable job's last completed checkpoint (0: none since it started)."},
			{name: "weir_checkpoint_last_duration_seconds", kind: "gauge", help: "How long a durable job's last completed checkpoint took, from its barriers' injection to its metadata written."},
			{name: "weir_checkpoint_last_bytes", kind: "gauge", help: "State size of a durable job's last completed checkpoint."},
			{name: "weir_checkpoint_last_alignment_seconds", kind: "gauge", help: "Longest barrier alignment of a durable job's last completed checkpoint."},
			{name: "weir_checkpoints_completed_total", kind: "counter", help: "Checkpoints a durable job completed since it started."},
			{name: "weir_checkpoints_failed_total", kind: "counter", help: "Checkpoints of a durable job that failed since it started."},
		}
		for i, name := range names {
			c, l := stats[i], `{job="`+labelValue(name)+`"}`
			for k, v := range []float64{float64(c.LastID), c.LastDuration.Seconds(), float64(c.LastBytes), c.LastAlignment.Seconds(), float64(c.Completed), float64(c.Failed)} {
				chk[k].samples = append(chk[k].samples, sample{l, v})
			}
		}
		ms = append(ms, chk...)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.kind)
		for _, sm := range m.samples {
			fmt.Fprintf(&b, "%s%s %g\n", m.name, sm.labels, sm.value)
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// labelValue escapes a Prometheus label value: backslash, double quote
// and newline.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
