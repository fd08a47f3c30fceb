package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/gorilla/websocket"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/query"
)

// putTicks registers mem://ticks, a paced live table: 2 splits of n
// batches of 8 rows (k = row % 5, v, ts one second apart), with pause
// before each batch, and the table ticks over it.
func putTicks(t *testing.T, s *Server, n int, pause time.Duration) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}, {Name: "ts", Type: columnar.TimestampType}}, nil)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	tbl := &query.MemoryTable{Schema: schema, Pause: func(int, int) time.Duration { return pause }}
	for sp := 0; sp < 2; sp++ {
		var batches []arrow.RecordBatch
		for b := 0; b < n; b++ {
			var k, v, ts []int64
			for r := 0; r < 8; r++ {
				i := int64(b*8 + r)
				k, v, ts = append(k, (i+int64(sp))%5), append(v, i*int64(sp+1)), append(ts, base+i*1_000_000)
			}
			batches = append(batches, columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Int64s(v), columnar.Timestamps(ts)}, 8))
		}
		tbl.Splits = append(tbl.Splits, batches)
	}
	s.engine.Providers.Memory().Put("ticks", tbl)
	if err := s.engine.Execute(context.Background(), `CREATE TABLE ticks () WITH (live = 'mem://ticks', history = 'mem://ticks', event_time = 'ts')`, query.RunOptions{}, &foldSink{}); err != nil {
		t.Fatal(err)
	}
}

// folded is a client's fold of a changelog: row text → count.
type folded map[string]int

func (f folded) apply(ops []string, rows [][]any) {
	for i, r := range rows {
		b, _ := json.Marshal(r)
		if ops[i] == "-" {
			f[string(b)]--
		} else {
			f[string(b)]++
		}
		if f[string(b)] == 0 {
			delete(f, string(b))
		}
	}
}

func (f folded) String() string {
	var ks []string
	for k, n := range f {
		ks = append(ks, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// A live run of the same SQL joins the running job: the late joiner's
// snapshot plus changelog folds to what the first viewer folded, and to
// the backfill's result.
func TestLateJoinerFoldEqualsEarlyViewer(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	putTicks(t, s, 40, 30*time.Millisecond)
	sql := "SELECT k, count(*) AS n, sum(v) AS total FROM ticks GROUP BY k"
	early := dial(t, ts, nil)
	_ = early.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: sql, Mode: "live"})
	earlyFold := folded{}
	var earlyJob string
	retractions := 0
	// Read until some updates have arrived, then let the late one join.
	for retractions == 0 {
		for _, m := range collect(t, early, "a", "rows") {
			if m.Type == "schema" {
				earlyJob = m.Job
			}
			if m.Type == "rows" {
				earlyFold.apply(m.Ops, m.Rows)
				for _, op := range m.Ops {
					if op == "-" {
						retractions++
					}
				}
			}
			if m.Type == "error" || m.Type == "done" {
				t.Fatalf("early viewer: %+v", m)
			}
		}
	}
	late := dial(t, ts, nil)
	_ = late.WriteJSON(clientMessage{Type: "run", ID: "b", SQL: sql, Mode: "live"})
	lateFold := folded{}
	var lateJob string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, m := range collect(t, late, "b", "done") {
			switch m.Type {
			case "schema":
				lateJob = m.Job
			case "rows":
				lateFold.apply(m.Ops, m.Rows)
			case "error":
				t.Errorf("late viewer: %+v", m)
			}
		}
	}()
	for _, m := range collect(t, early, "a", "done") {
		if m.Type == "rows" {
			earlyFold.apply(m.Ops, m.Rows)
		}
		if m.Type == "error" {
			t.Fatalf("early viewer: %+v", m)
		}
	}
	wg.Wait()
	if earlyJob == "" || lateJob != earlyJob {
		t.Fatalf("the late run did not join: jobs %q and %q", earlyJob, lateJob)
	}
	if earlyFold.String() != lateFold.String() {
		t.Fatalf("folds differ:\nearly %s\nlate  %s", earlyFold, lateFold)
	}
	var res apiQueryResult
	if code := do(t, "POST", ts.URL+"/api/query", `{"sql":"`+sql+`"}`, &res); code != 200 || len(res.Results) != 1 {
		t.Fatalf("backfill: %d %+v", code, res)
	}
	backfill := folded{}
	for _, r := range res.Results[0].Rows {
		backfill.apply([]string{"+"}, [][]any{r})
	}
	if backfill.String() != earlyFold.String() || len(backfill) != 5 {
		t.Fatalf("live fold %s, backfill %s", earlyFold, backfill)
	}
	var jl jobList
	do(t, "GET", ts.URL+"/api/jobs", "", &jl)
	if len(jl.Jobs) != 2 || jl.Jobs[1].ID != earlyJob || jl.Jobs[1].State != stateDone || jl.Jobs[1].Mode != "live" {
		t.Fatalf("jobs %+v", jl.Jobs)
	}
}

// readArrowFrame decodes a binary frame into its header and rows (values
// rendered as the JSON protocol renders them) with their ops.
func readArrowFrame(t *testing.T, data []byte) (serverMessage, []string, [][]any) {
	t.Helper()
	n := binary.LittleEndian.Uint32(data)
	var hdr serverMessage
	if err := json.Unmarshal(data[4:4+n], &hdr); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	rd, err := ipc.NewReader(bytes.NewReader(data[4+n:]))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	var ops []string
	var rows [][]any
	for rd.Next() {
		rec := rd.RecordBatch()
		last := int(rec.NumCols()) - 1
		if rec.ColumnName(last) != opColumn || rec.Column(last).DataType().ID() != arrow.INT8 {
			t.Fatalf("last column %s %s", rec.ColumnName(last), rec.Column(last).DataType())
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]any, last)
			for c := range row {
				row[c] = query.JSONValue(rec.Column(c), r)
			}
			rows = append(rows, row)
			switch rec.Column(last).(*array.Int8).Value(r) {
			case 1:
				ops = append(ops, "+")
			case -1:
				ops = append(ops, "-")
			default:
				t.Fatalf("op %d", rec.Column(last).(*array.Int8).Value(r))
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	// Through JSON, as the JSON client sees them.
	b, _ := json.Marshal(rows)
	rows = nil
	_ = json.Unmarshal(b, &rows)
	return hdr, ops, rows
}

// Arrow frames, decoded with the arrow-go IPC reader, hold the rows (and
// ops) the JSON protocol sends, for a backfill and a live changelog.
func TestArrowFramesEqualJSON(t *testing.T) {
	s, ts := newTestServer(t, Options{})
	putTicks(t, s, 20, 0)
	for _, c := range []struct{ mode, sql string }{
		{"backfill", "SELECT auction, price, date_time, bidder % 7 = 0 AS lucky, channel, price / 3.0 AS third FROM bids WHERE auction % 50 = 0"},
		{"live", "SELECT k, count(*) AS n, max(ts) AS last FROM ticks GROUP BY k"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			jsonFold, arrowFold := folded{}, folded{}
			var jsonRows, arrowRows int
			c1 := dial(t, ts, nil)
			_ = c1.WriteJSON(clientMessage{Type: "run", ID: "j", SQL: c.sql, Mode: c.mode})
			var schema []column
			for _, m := range collect(t, c1, "j", "done") {
				if m.Type == "schema" {
					schema = m.Columns
				}
				if m.Type == "rows" {
					jsonFold.apply(m.Ops, m.Rows)
					jsonRows += len(m.Rows)
				}
			}
			c2 := dial(t, ts, nil)
			_ = c2.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: c.sql, Mode: c.mode, Format: "arrow"})
			_ = c2.SetReadDeadline(time.Now().Add(20 * time.Second))
			frames := 0
			for done := false; !done; {
				kind, data, err := c2.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if kind == websocket.BinaryMessage {
					hdr, ops, rows := readArrowFrame(t, data)
					if hdr.Type != "rows" || hdr.ID != "a" || hdr.Stmt == nil {
						t.Fatalf("header %+v", hdr)
					}
					if len(rows) > 0 && len(rows[0]) != len(schema) {
						t.Fatalf("%d columns, schema has %d", len(rows[0]), len(schema))
					}
					arrowFold.apply(ops, rows)
					arrowRows += len(rows)
					frames++
					continue
				}
				var m serverMessage
				if err := json.Unmarshal(data, &m); err != nil {
					t.Fatal(err)
				}
				switch m.Type {
				case "rows":
					t.Fatalf("JSON rows sent to an Arrow client: %+v", m)
				case "error":
					t.Fatalf("error %+v", m)
				case "done":
					done = true
				}
			}
			if frames == 0 || len(jsonFold) == 0 || jsonFold.String() != arrowFold.String() {
				t.Fatalf("%d frames; JSON fold %d rows, Arrow fold %d rows:\n%s\n%s", frames, len(jsonFold), len(arrowFold), jsonFold, arrowFold)
			}
			if c.mode == "backfill" && jsonRows != arrowRows {
				t.Fatalf("backfill: %d JSON rows, %d Arrow rows", jsonRows, arrowRows)
			}
		})
	}
}

// One viewer's cancel detaches it; the others keep the job. DELETE stops
// the job for everyone.
func TestCancelDetachesViewerDeleteStopsJob(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	sql := "SELECT window_start, count(*) AS n FROM TUMBLE(live_bids, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end"
	a, b := dial(t, ts, nil), dial(t, ts, nil)
	_ = a.WriteJSON(clientMessage{Type: "run", ID: "a", SQL: sql, Mode: "live"})
	collect(t, a, "a", "schema")
	_ = b.WriteJSON(clientMessage{Type: "run", ID: "b", SQL: sql, Mode: "live"})
	collect(t, b, "b", "schema")
	var jl jobList
	do(t, "GET", ts.URL+"/api/jobs", "", &jl)
	if len(jl.Jobs) != 1 || jl.Jobs[0].Viewers != 2 || jl.Jobs[0].State != stateRunning {
		t.Fatalf("jobs %+v", jl.Jobs)
	}
	id := jl.Jobs[0].ID
	_ = a.WriteJSON(clientMessage{Type: "cancel", ID: "a"})
	if msgs := collect(t, a, "a", "error"); !strings.Contains(msgs[len(msgs)-1].Message, "cancelled by the client") || !msgs[len(msgs)-1].Cancelled {
		t.Fatalf("a after cancel: %+v", msgs[len(msgs)-1])
	}
	// b still gets windows.
	if msgs := collect(t, b, "b", "rows"); msgs[len(msgs)-1].Type != "rows" {
		t.Fatalf("b after a left: %+v", msgs[len(msgs)-1])
	}
	if code := do(t, "DELETE", ts.URL+"/api/jobs/nope", "", nil); code != 404 {
		t.Fatalf("delete unknown job: %d", code)
	}
	if code := do(t, "DELETE", ts.URL+"/api/jobs/"+id, "", nil); code != 204 {
		t.Fatalf("delete job: %d", code)
	}
	if msgs := collect(t, b, "b", "error"); !strings.Contains(msgs[len(msgs)-1].Message, "job was stopped") || !msgs[len(msgs)-1].Cancelled {
		t.Fatalf("b after delete: %+v", msgs[len(msgs)-1])
	}
	do(t, "GET", ts.URL+"/api/jobs", "", &jl)
	if len(jl.Jobs) != 1 || jl.Jobs[0].State != stateCancelled || jl.Jobs[0].Ended == "" {
		t.Fatalf("jobs after delete %+v", jl.Jobs)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// 200 viewers of one live job: one job runs, the heap grows by a bounded
// amount per viewer, and when they leave the job stops and no goroutine is
// left behind.
func TestManyViewersOneLiveJob(t *testing.T) {
	const viewers = 200
	s, ts := newTestServer(t, Options{})
	sql := "SELECT window_start, count(*) AS n, max(price) AS top FROM TUMBLE(live_bids, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end"
	goroutines := runtime.NumGoroutine()
	heap0 := heapAlloc()
	conns := make([]*websocket.Conn, viewers)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		if err := c.WriteJSON(clientMessage{Type: "run", ID: "v", SQL: sql, Mode: "live"}); err != nil {
			t.Fatal(err)
		}
	}
	// Every viewer gets the same job and rows.
	jobs := make([]string, viewers)
	errs := make(chan error, viewers)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				var m serverMessage
				if err := c.ReadJSON(&m); err != nil {
					errs <- fmt.Errorf("viewer %d: %w", i, err)
					return
				}
				switch m.Type {
				case "schema":
					jobs[i] = m.Job
				case "rows":
					return
				case "error":
					errs <- fmt.Errorf("viewer %d: %s", i, m.Message)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, j := range jobs {
		if j != jobs[0] || j == "" {
			t.Fatalf("viewer %d is on job %q, viewer 0 on %q", i, j, jobs[0])
		}
	}
	heap := heapAlloc()
	var jl jobList
	do(t, "GET", ts.URL+"/api/jobs", "", &jl)
	if len(jl.Jobs) != 1 || jl.Jobs[0].Viewers != viewers {
		t.Fatalf("jobs %+v", jl.Jobs)
	}
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{"weir_job_viewers 200", "weir_jobs_running 1", "weir_websocket_clients 200", "weir_live_watermark_lag_seconds "} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// Both ends of 200 connections live in this process; the bound is per
	// viewer and generous, the point is that it does not scale with the
	// stream (the job has run for seconds at 2,000 events/s).
	perViewer := (int64(heap) - int64(heap0)) / viewers
	t.Logf("heap %.1f MB → %.1f MB: %d bytes per viewer (both ends of the socket)", float64(heap0)/1e6, float64(heap)/1e6, perViewer)
	if perViewer > 256<<10 {
		t.Errorf("%d bytes of heap per viewer", perViewer)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var jl jobList
		do(t, "GET", ts.URL+"/api/jobs", "", &jl)
		n := runtime.NumGoroutine()
		if len(jl.Jobs) == 1 && jl.Jobs[0].State == stateCancelled && s.metrics.wsClients.Load() == 0 && n <= goroutines+5 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after the viewers left: jobs %+v, %d clients, %d goroutines (was %d)\n%s", jl.Jobs, s.metrics.wsClients.Load(), n, goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Serve's shutdown stops live jobs (their viewers get an error) and
// returns.
func TestGracefulShutdown(t *testing.T) {
	s, _ := newTestServer(t, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	ts := &httptest.Server{URL: "http://" + ln.Addr().String()}
	c := dial(t, ts, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "l", Mode: "live", SQL: "SELECT * FROM live_bids"})
	collect(t, c, "l", "rows")
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	// The connection ends (possibly after the job's error).
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m serverMessage
		if err := c.ReadJSON(&m); err != nil {
			break
		}
		if m.Type == "error" && !strings.Contains(m.Message, "shutting down") {
			t.Fatalf("error %+v", m)
		}
	}
	if running := s.metrics.jobsRunning.Load(); running != 0 {
		deadline := time.Now().Add(5 * time.Second)
		for s.metrics.jobsRunning.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if s.metrics.jobsRunning.Load() != 0 {
			t.Fatal("a job still runs after shutdown")
		}
	}
}
