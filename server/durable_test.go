package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weirdata/weir/query"
)

// durableEnv is a workspace that servers are started on, one after the
// other, as "weir serve" restarts would: the catalog and the durable jobs
// persist in it.
type durableEnv struct {
	t    *testing.T
	ws   string
	base time.Time
	// events and rate of the table feed.
	events, rate int64
}

// newDurableEnv makes a workspace with the table feed: Nexmark bids from
// base (two seconds ago) at rate events per second, events in all, so a
// live run from base catches up on two seconds and then follows the wall
// clock until the events run out. Its event times do not depend on when
// it runs: a windowed count over it is deterministic.
func newDurableEnv(t *testing.T, events, rate int64) *durableEnv {
	e := &durableEnv{t: t, ws: t.TempDir(), base: time.Now().UTC().Truncate(time.Second).Add(-2 * time.Second), events: events, rate: rate}
	e.createFeed(e.engine())
	return e
}

func (e *durableEnv) createFeed(eng *query.Engine) {
	sql := fmt.Sprintf(`CREATE TABLE feed () WITH (live = 'nexmark://bids?base=%s&events=%d&rate=%d&partitions=2', event_time = 'date_time')`,
		e.base.Format(time.RFC3339), e.events, e.rate)
	if err := eng.Execute(context.Background(), sql, query.RunOptions{}, &foldSink{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *durableEnv) engine() *query.Engine {
	cat, err := query.OpenCatalog(filepath.Join(e.ws, "catalog"))
	if err != nil {
		e.t.Fatal(err)
	}
	return query.NewEngine(cat)
}

// start starts a server on the workspace and restores its durable jobs;
// stop shuts it down as Serve does on a signal.
func (e *durableEnv) start() (*Server, *httptest.Server, func()) {
	e.t.Helper()
	s, err := New(e.engine(), Options{Addr: "127.0.0.1:0", Workspace: e.ws, CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := s.RestoreJobs(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			s.Close()
			ts.Close()
		}
	}
	e.t.Cleanup(stop)
	return s, ts, stop
}

// windowSQL counts feed's bids per second.
const windowSQL = "SELECT window_start, count(*) AS n FROM TUMBLE(feed, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end"

func (e *durableEnv) from() string { return e.base.Format(time.RFC3339) }

// windows is window_start → count.
type windows map[string]float64

func (w windows) add(t *testing.T, who string, m serverMessage) {
	for i, r := range m.Rows {
		if m.Ops[i] != "+" {
			t.Fatalf("%s: a windowed count retracted %v", who, r)
		}
		k := r[0].(string)
		if old, ok := w[k]; ok && old != r[1].(float64) {
			t.Fatalf("%s: window %s counted %v and %v", who, k, old, r[1])
		}
		w[k] = r[1].(float64)
	}
}

// backfill is the uninterrupted run's windows.
func (e *durableEnv) backfill(t *testing.T, ts *httptest.Server) windows {
	var res apiQueryResult
	if code := do(t, "POST", ts.URL+"/api/query", fmt.Sprintf(`{"sql":%q}`, windowSQL), &res); code != 200 || len(res.Results) != 1 {
		t.Fatalf("backfill: %d %+v", code, res)
	}
	w := windows{}
	for _, r := range res.Results[0].Rows {
		w[r[0].(string)] = r[1].(float64)
	}
	return w
}

// jobsOf lists the durable jobs.
func jobsOf(t *testing.T, ts *httptest.Server) []jobInfo {
	t.Helper()
	var jl jobList
	if code := do(t, "GET", ts.URL+"/api/jobs", "", &jl); code != 200 {
		t.Fatalf("GET /api/jobs: %d", code)
	}
	var out []jobInfo
	for _, j := range jl.Jobs {
		if j.Durable {
			out = append(out, j)
		}
	}
	return out
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkpointed reports whether the durable job name has a complete
// checkpoint in the workspace.
func (e *durableEnv) checkpointed(name string) bool {
	m, _ := filepath.Glob(filepath.Join(e.ws, "checkpoints", name, "chk-*", "_metadata"))
	return len(m) > 0
}

func (e *durableEnv) recorded(name string) bool {
	_, err := os.Stat(filepath.Join(e.ws, "jobs", name+".json"))
	return err == nil
}

// readWindows reads run id's rows into w until n windows are known (or,
// with n < 0, until done); it fails on an error.
func readWindows(t *testing.T, c *websocket.Conn, id string, w windows, n int) serverMessage {
	t.Helper()
	var schema serverMessage
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for n < 0 || len(w) < n {
		var m serverMessage
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("%s: reading: %v", id, err)
		}
		if m.ID != id {
			continue
		}
		switch m.Type {
		case "schema":
			schema = m
		case "rows":
			w.add(t, id, m)
		case "error":
			t.Fatalf("%s: %+v", id, m)
		case "done":
			if n >= 0 {
				t.Fatalf("%s: done before %d windows (%d)", id, n, len(w))
			}
			return schema
		}
	}
	return schema
}

// A durable live job keeps running when its viewer leaves, a new viewer
// joins it and gets its folded result, and a server started again on the
// same workspace restores it from its checkpoint: every window it emits
// after the restore equals the uninterrupted run's, and together the
// viewers saw every window.
func TestDurableJobSurvivesViewersAndRestart(t *testing.T) {
	const rate = 200
	e := newDurableEnv(t, 10*rate, rate) // 10 s of events, 2 of them history
	_, ts, stop := e.start()
	want := e.backfill(t, ts)
	if len(want) != 10 {
		t.Fatalf("backfill: %d windows %v", len(want), want)
	}

	seen := windows{}
	a := dial(t, ts, nil)
	_ = a.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: windowSQL, Mode: "live", From: e.from(), Durable: true})
	schema := readWindows(t, a, "a", seen, 2)
	jobs := jobsOf(t, ts)
	if len(jobs) != 1 || jobs[0].ID != schema.Job || !jobs[0].Durable || jobs[0].Name != defaultJobName(windowSQL, e.from()) || jobs[0].State != stateRunning {
		t.Fatalf("jobs %+v (schema %+v)", jobs, schema)
	}
	id, name := jobs[0].ID, jobs[0].Name
	if !e.recorded(name) {
		t.Fatalf("no record of %s", name)
	}
	_ = a.Close()
	waitFor(t, "the viewer to leave", func() bool { j := jobsOf(t, ts); return len(j) == 1 && j[0].Viewers == 0 })
	if j := jobsOf(t, ts)[0]; j.State != stateRunning {
		t.Fatalf("the durable job stopped with its last viewer: %+v", j)
	}

	// A plain live run of the same SQL joins it, and gets what it folded.
	b := dial(t, ts, nil)
	_ = b.WriteJSON(clientMessage{Type: "run", ID: "b", SQL: windowSQL, Mode: "live", From: e.from()})
	late := windows{}
	if got := readWindows(t, b, "b", late, len(seen)); got.Job != id {
		t.Fatalf("the viewer started job %s instead of joining %s", got.Job, id)
	}
	for k, n := range late {
		seen[k] = n
	}
	waitFor(t, "a checkpoint", func() bool { return e.checkpointed(name) })
	readWindows(t, b, "b", seen, len(seen)+1)
	stop()
	if len(seen) >= len(want) {
		t.Fatalf("the job ended before the restart (%d windows); the test needs a longer feed", len(seen))
	}
	if !e.recorded(name) || !e.checkpointed(name) {
		t.Fatal("the shutdown lost the durable job's record or checkpoints")
	}

	// Started again: the job is restored from its checkpoint.
	_, ts2, _ := e.start()
	jobs = jobsOf(t, ts2)
	if len(jobs) != 1 || jobs[0].Name != name || jobs[0].State != stateRunning || jobs[0].Viewers != 0 {
		t.Fatalf("after the restart: jobs %+v", jobs)
	}
	waitFor(t, "the resumed checkpoint", func() bool { return jobsOf(t, ts2)[0].ResumedFrom > 0 })
	c := dial(t, ts2, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "c", SQL: windowSQL, Mode: "live", From: e.from(), Durable: true})
	after := windows{}
	if got := readWindows(t, c, "c", after, -1); got.Job != jobs[0].ID {
		t.Fatalf("the viewer started job %s instead of joining the restored %s", got.Job, jobs[0].ID)
	}
	if len(after) == 0 {
		t.Fatal("no window after the restore")
	}
	for k, n := range after {
		if want[k] != n {
			t.Errorf("after the restore, window %s counted %v; the uninterrupted run %v", k, n, want[k])
		}
		seen[k] = n
	}
	for k, n := range seen {
		if want[k] != n {
			t.Errorf("window %s counted %v; the uninterrupted run %v", k, n, want[k])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("windows seen %v, want %v", keys(seen), keys(want))
	}
	// It ran to its end: forgotten.
	waitFor(t, "the record to go", func() bool { return !e.recorded(name) })
}

func keys(w windows) []string {
	var ks []string
	for k := range w {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// DELETE stops a durable job and forgets it: no record, no checkpoints,
// nothing restored by the next start.
func TestDeleteForgetsDurableJob(t *testing.T) {
	const rate = 200
	e := newDurableEnv(t, 60*rate, rate)
	_, ts, stop := e.start()
	a := dial(t, ts, nil)
	_ = a.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: windowSQL, Mode: "live", From: e.from(), Job: "bids_per_second"})
	schema := readWindows(t, a, "a", windows{}, 1)
	waitFor(t, "a checkpoint", func() bool { return e.checkpointed("bids_per_second") })
	if code := do(t, "DELETE", ts.URL+"/api/jobs/"+schema.Job, "", nil); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	if msgs := collect(t, a, "a", "error"); !msgs[len(msgs)-1].Cancelled {
		t.Fatalf("the viewer got %+v", msgs[len(msgs)-1])
	}
	if e.recorded("bids_per_second") || e.checkpointed("bids_per_second") {
		t.Fatal("the deleted job is still recorded or checkpointed")
	}
	if code := do(t, "DELETE", ts.URL+"/api/jobs/"+schema.Job, "", nil); code != 404 {
		t.Fatalf("a second DELETE: %d", code)
	}
	stop()
	_, ts2, _ := e.start()
	if jobs := jobsOf(t, ts2); len(jobs) != 0 {
		t.Fatalf("a deleted job came back: %+v", jobs)
	}
}

// A recorded job that cannot be restored (its table was dropped) is listed
// as failed, the server serves anyway, and DELETE forgets it.
func TestUnrestorableJobListedFailed(t *testing.T) {
	const rate = 200
	e := newDurableEnv(t, 60*rate, rate)
	_, ts, stop := e.start()
	a := dial(t, ts, nil)
	_ = a.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: windowSQL, Mode: "live", From: e.from(), Job: "doomed"})
	readWindows(t, a, "a", windows{}, 1)
	waitFor(t, "a checkpoint", func() bool { return e.checkpointed("doomed") })
	stop()
	if err := e.engine().Execute(context.Background(), "DROP TABLE feed", query.RunOptions{}, &foldSink{}); err != nil {
		t.Fatal(err)
	}
	// And a record that is not one.
	if err := os.WriteFile(filepath.Join(e.ws, "jobs", "garbled.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2, ts2, _ := e.start()
	var jobs []jobInfo
	waitFor(t, "the restore to fail", func() bool {
		jobs = jobsOf(t, ts2)
		return len(jobs) == 2 && jobs[0].State == stateFailed && jobs[1].State == stateFailed
	})
	byName := map[string]jobInfo{}
	for _, j := range jobs {
		byName[j.Name] = j
	}
	if j := byName["doomed"]; !strings.Contains(j.Error, "feed") || !j.Durable {
		t.Errorf("doomed: %+v", j)
	}
	if j := byName["garbled"]; !strings.Contains(j.Error, "unreadable record") {
		t.Errorf("garbled: %+v", j)
	}
	if code := do(t, "GET", ts2.URL+"/api/health", "", nil); code != 200 {
		t.Fatalf("health: %d", code)
	}
	if code := do(t, "DELETE", ts2.URL+"/api/jobs/"+byName["garbled"].ID, "", nil); code != 204 || e.recorded("garbled") {
		t.Fatalf("DELETE garbled: %d", code)
	}

	// The table back, the job asked for again resumes from its checkpoint;
	// the failed entry of its name can then not forget it.
	e.createFeed(s2.engine)
	c := dial(t, ts2, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: windowSQL, Mode: "live", From: e.from(), Job: "doomed"})
	again := readWindows(t, c, "a", windows{}, 1)
	waitFor(t, "the resumed checkpoint", func() bool {
		for _, j := range jobsOf(t, ts2) {
			if j.ID == again.Job {
				return j.ResumedFrom > 0
			}
		}
		return false
	})
	if code := do(t, "DELETE", ts2.URL+"/api/jobs/"+byName["doomed"].ID, "", nil); code != 409 || !e.recorded("doomed") {
		t.Fatalf("DELETE of the failed entry while the name runs: %d", code)
	}
	if code := do(t, "DELETE", ts2.URL+"/api/jobs/"+again.Job, "", nil); code != 204 {
		t.Fatalf("DELETE of the running job: %d", code)
	}
	if e.recorded("doomed") || e.checkpointed("doomed") {
		t.Fatal("DELETE left the job's record or checkpoints")
	}
	if code := do(t, "DELETE", ts2.URL+"/api/jobs/"+byName["doomed"].ID, "", nil); code != 204 {
		t.Fatalf("DELETE of the failed entry once nothing runs: %d", code)
	}
}

// What a durable run refuses: no workspace, a backfill, two statements, a
// bad name, a name another job's SQL has.
func TestDurableRunRefusals(t *testing.T) {
	_, plain := newTestServer(t, Options{})
	c := dial(t, plain, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "x", SQL: "SELECT * FROM live_bids", Mode: "live", Durable: true})
	if m := collect(t, c, "x", "error"); !strings.Contains(m[len(m)-1].Message, "workspace") {
		t.Errorf("no workspace: %+v", m[len(m)-1])
	}
	e := newDurableEnv(t, 600*200, 200)
	_, ts, _ := e.start()
	c = dial(t, ts, nil)
	for _, tc := range []struct {
		m    clientMessage
		want string
	}{
		{clientMessage{SQL: "SELECT * FROM feed", Mode: "backfill", Durable: true}, "live run"},
		{clientMessage{SQL: "SELECT 1; SELECT 2", Mode: "live", Durable: true}, "one statement"},
		{clientMessage{SQL: "SELECT * FROM feed", Mode: "live", Job: "../x"}, "job name"},
	} {
		tc.m.Type, tc.m.ID = "run", "r"
		_ = c.WriteJSON(tc.m)
		if m := collect(t, c, "r", "error"); m[len(m)-1].Type != "error" || !strings.Contains(m[len(m)-1].Message, tc.want) {
			t.Errorf("%+v: %+v, want %q", tc.m, m[len(m)-1], tc.want)
		}
	}
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: "SELECT * FROM feed", Mode: "live", Job: "taken"})
	collect(t, c, "a", "schema")
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "b", SQL: "SELECT auction FROM feed", Mode: "live", Job: "taken"})
	if m := collect(t, c, "b", "error"); !strings.Contains(m[len(m)-1].Message, "taken") {
		t.Errorf("a taken name: %+v", m[len(m)-1])
	}
	if code := do(t, "POST", ts.URL+"/api/query", `{"sql":"SELECT count(*) FROM feed","durable":true}`, nil); code != 400 {
		t.Errorf("a durable POST /api/query: %d", code)
	}
	var raw json.RawMessage
	do(t, "GET", ts.URL+"/api/jobs", "", &raw)
	if !strings.Contains(string(raw), `"name":"taken"`) {
		t.Errorf("jobs %s", raw)
	}
}

// After a checkpoint, a durable job's progress, /api/jobs entry and
// /metrics carry its figures; a plain live job's progress does not.
func TestCheckpointFiguresReported(t *testing.T) {
	const rate = 200
	e := newDurableEnv(t, 60*rate, rate)
	_, ts, _ := e.start()
	plain := dial(t, ts, nil)
	_ = plain.WriteJSON(clientMessage{Type: "run", ID: "p", SQL: "SELECT count(*) AS n FROM feed", Mode: "live", From: e.from()})
	c := dial(t, ts, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "d", SQL: windowSQL, Mode: "live", From: e.from(), Job: "figures"})
	var p serverMessage
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for p.CheckpointID == nil {
		p = serverMessage{}
		if err := c.ReadJSON(&p); err != nil {
			t.Fatal(err)
		}
		if p.Type == "error" {
			t.Fatalf("%+v", p)
		}
		if p.Type == "progress" && (p.CheckpointsCompleted == nil || p.CheckpointsFailed == nil) {
			t.Fatalf("a durable job's progress without checkpoint counts: %+v", p)
		}
	}
	if *p.CheckpointID < 1 || *p.CheckpointsCompleted < 1 || *p.CheckpointBytes <= 0 || p.CheckpointMS == nil || p.CheckpointAlignmentMS == nil {
		t.Fatalf("progress %+v", p.checkpointFigures)
	}
	if at, err := time.Parse(time.RFC3339Nano, p.CheckpointAt); err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
		t.Fatalf("checkpoint_at %q: %v", p.CheckpointAt, err)
	}
	for _, m := range collect(t, plain, "p", "progress") {
		if m.Type == "progress" && (m.CheckpointsCompleted != nil || m.CheckpointID != nil) {
			t.Fatalf("a plain live job's progress has checkpoint figures: %+v", m)
		}
	}
	var jl struct {
		Jobs []map[string]any `json:"jobs"`
	}
	do(t, "GET", ts.URL+"/api/jobs", "", &jl)
	found := false
	for _, j := range jl.Jobs {
		if j["name"] == "figures" {
			found = true
			if id, _ := j["checkpoint_id"].(float64); id < 1 || j["checkpoint_bytes"] == nil || j["checkpoints_completed"] == nil {
				t.Errorf("job %v", j)
			}
		} else if _, ok := j["checkpoint_id"]; ok {
			t.Errorf("a plain job with checkpoint figures: %v", j)
		}
	}
	if !found {
		t.Fatalf("jobs %v", jl.Jobs)
	}
	res, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, re := range []string{
		`(?m)^# TYPE weir_checkpoint_last_id gauge$`,
		`(?m)^weir_checkpoint_last_id\{job="figures"\} [1-9][0-9]*$`,
		`(?m)^weir_checkpoint_last_duration_seconds\{job="figures"\} [0-9.e+-]+$`,
		`(?m)^weir_checkpoint_last_bytes\{job="figures"\} [1-9][0-9.e+]*$`,
		`(?m)^weir_checkpoint_last_alignment_seconds\{job="figures"\} [0-9.e+-]+$`,
		`(?m)^# TYPE weir_checkpoints_completed_total counter$`,
		`(?m)^weir_checkpoints_completed_total\{job="figures"\} [1-9][0-9]*$`,
		`(?m)^weir_checkpoints_failed_total\{job="figures"\} 0$`,
	} {
		if !regexp.MustCompile(re).Match(body) {
			t.Errorf("metrics lack %s:\n%s", re, body)
		}
	}
	if n := strings.Count(string(body), `{job="`); n != 6 {
		t.Errorf("%d labelled samples, want 6 (one durable job):\n%s", n, body)
	}
}

// A live INSERT INTO run from a notebook is always a durable job: it
// publishes on checkpoints, keeps running without its viewer, is restored
// by the next start, and across the restart every window is in the table
// once (exactly-once). Over a feed of a bounded number of events and over
// an endless one (the viewer's run asks for nothing durable).
func TestLiveInsertRunsDurable(t *testing.T) {
	for _, feed := range []string{"feed", "endless"} {
		t.Run("from="+feed, func(t *testing.T) { testLiveInsert(t, feed) })
	}
}

func testLiveInsert(t *testing.T, feed string) {
	const rate = 200
	e := newDurableEnv(t, 600*rate, rate)
	out := filepath.Join(t.TempDir(), "out") + "/"
	for _, sql := range []string{
		`CREATE TABLE out (ws timestamp, n bigint) WITH (history = 'file://` + out + `')`,
		fmt.Sprintf(`CREATE TABLE endless () WITH (live = 'nexmark://bids?base=%s&rate=%d&partitions=2', event_time = 'date_time')`, e.base.Format(time.RFC3339), rate),
	} {
		if err := e.engine().Execute(context.Background(), sql, query.RunOptions{}, &foldSink{}); err != nil {
			t.Fatal(err)
		}
	}
	insert := "INSERT INTO out SELECT window_start, count(*) FROM TUMBLE(" + feed + ", date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end"
	_, ts, stop := e.start()
	c := dial(t, ts, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "i", SQL: insert, Mode: "live", From: e.from()})
	name := defaultJobName(insert, e.from())
	// An error would end the run: the INSERT runs as the durable job.
	errc := make(chan serverMessage, 1)
	go func() {
		for {
			var m serverMessage
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			if m.ID == "i" && m.Type == "error" {
				errc <- m
				return
			}
		}
	}()
	count := func(ts *httptest.Server) (rows, dup float64) {
		var res struct {
			apiQueryResult
			Message string `json:"message"`
		}
		sql := `SELECT count(*) AS n, count(*) - count(DISTINCT ws) AS dup FROM out`
		code := do(t, "POST", ts.URL+"/api/query", fmt.Sprintf(`{"sql":%q}`, sql), &res)
		if code != 200 && strings.Contains(res.Message, "no files") {
			return 0, 0 // nothing published yet
		}
		if code != 200 {
			t.Fatalf("count: %d %+v", code, res)
		}
		return res.Results[0].Rows[0][0].(float64), res.Results[0].Rows[0][1].(float64)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case m := <-errc:
			t.Fatalf("live INSERT: %+v", m)
		default:
		}
		if n, _ := count(ts); n >= 3 && e.checkpointed(name) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rows published by the live INSERT; jobs %+v", jobsOf(t, ts))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if jobs := jobsOf(t, ts); len(jobs) != 1 || jobs[0].Name != name || jobs[0].State != stateRunning || !e.recorded(name) {
		t.Fatalf("jobs %+v", jobs)
	}
	_ = c.Close()
	before, _ := count(ts)
	stop()

	_, ts2, _ := e.start()
	waitFor(t, "the restored INSERT to publish", func() bool {
		n, _ := count(ts2)
		return n > before+1
	})
	jobs := jobsOf(t, ts2)
	if len(jobs) != 1 || jobs[0].State != stateRunning || jobs[0].ResumedFrom == 0 {
		t.Fatalf("after the restart: jobs %+v", jobs)
	}
	if code := do(t, "DELETE", ts2.URL+"/api/jobs/"+jobs[0].ID, "", nil); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	if n, dup := count(ts2); dup != 0 || n <= before {
		t.Fatalf("out has %v rows, %v of them a window again", n, dup)
	}
}

// DELETE ?savepoint=true stops a durable job with a savepoint: it is not
// restored by the next start, and the same job asked for again resumes
// from the savepoint, its windows those of the uninterrupted run.
func TestStopWithSavepoint(t *testing.T) {
	const rate = 200
	e := newDurableEnv(t, 12*rate, rate)
	_, ts, stop := e.start()
	want := e.backfill(t, ts)
	a := dial(t, ts, nil)
	_ = a.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: windowSQL, Mode: "live", From: e.from(), Job: "saved"})
	seen := windows{}
	schema := readWindows(t, a, "a", seen, 2)
	waitFor(t, "a checkpoint", func() bool { return e.checkpointed("saved") })
	if code := do(t, "DELETE", ts.URL+"/api/jobs/"+schema.Job+"?savepoint=maybe", "", nil); code != 400 {
		t.Fatalf("savepoint=maybe: %d", code)
	}
	var res struct {
		Savepoint savepointRef `json:"savepoint"`
	}
	if code := do(t, "DELETE", ts.URL+"/api/jobs/"+schema.Job+"?savepoint=true", "", &res); code != 200 || res.Savepoint.ID < 1 {
		t.Fatalf("DELETE ?savepoint=true: %d %+v", code, res)
	}
	dir := strings.TrimPrefix(res.Savepoint.Location, "file://")
	if _, err := os.Stat(filepath.Join(dir, "_metadata")); err != nil || !strings.HasPrefix(dir, filepath.Join(e.ws, "savepoints", "saved")+"/") {
		t.Fatalf("savepoint at %s: %v", res.Savepoint.Location, err)
	}
	msgs := collect(t, a, "a", "error")
	for _, m := range msgs {
		if m.Type == "rows" {
			seen.add(t, "a", m)
		}
	}
	if last := msgs[len(msgs)-1]; !last.Cancelled || !strings.Contains(last.Message, "savepoint") {
		t.Fatalf("the viewer got %+v", last)
	}
	jobs := jobsOf(t, ts)
	if len(jobs) != 1 || jobs[0].State != stateCancelled || jobs[0].Savepoint == nil || jobs[0].Savepoint.ID != res.Savepoint.ID {
		t.Fatalf("jobs %+v", jobs)
	}
	if e.recorded("saved") {
		t.Fatal("a job stopped with a savepoint is still recorded: it would be restored")
	}
	stop()

	_, ts2, _ := e.start()
	if jobs := jobsOf(t, ts2); len(jobs) != 0 {
		t.Fatalf("restored: %+v", jobs)
	}
	b := dial(t, ts2, nil)
	_ = b.WriteJSON(clientMessage{Type: "run", ID: "b", SQL: windowSQL, Mode: "live", From: e.from(), Job: "saved"})
	after := windows{}
	readWindows(t, b, "b", after, -1)
	jobs = jobsOf(t, ts2)
	if len(jobs) != 1 || jobs[0].ResumedFrom != res.Savepoint.ID {
		t.Fatalf("the job asked for again: %+v, want it resumed from savepoint %d", jobs, res.Savepoint.ID)
	}
	for k, n := range after {
		if want[k] != n {
			t.Errorf("after the savepoint, window %s counted %v; the uninterrupted run %v", k, n, want[k])
		}
		seen[k] = n
	}
	if len(seen) != len(want) {
		t.Errorf("windows seen %v, want %v", keys(seen), keys(want))
	}
}

// A second server on the same workspace does not run a durable job that
// the first one runs: the job's lock refuses it, and it is listed failed.
func TestSecondServerDoesNotRunJobTwice(t *testing.T) {
	const rate = 200
	e := newDurableEnv(t, 60*rate, rate)
	_, ts, _ := e.start()
	a := dial(t, ts, nil)
	_ = a.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: windowSQL, Mode: "live", From: e.from(), Job: "once"})
	readWindows(t, a, "a", windows{}, 1)
	_, ts2, _ := e.start()
	var jobs []jobInfo
	waitFor(t, "the second server's restore to fail", func() bool {
		jobs = jobsOf(t, ts2)
		return len(jobs) == 1 && jobs[0].State == stateFailed
	})
	if !strings.Contains(jobs[0].Error, "running") {
		t.Fatalf("second server: %+v", jobs[0])
	}
	if j := jobsOf(t, ts); len(j) != 1 || j[0].State != stateRunning || !e.recorded("once") {
		t.Fatalf("first server: %+v", j)
	}
}
