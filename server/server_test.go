package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weirdata/weir/query"
)

func newTestServer(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	eng := query.NewEngine(query.NewCatalog())
	for _, sql := range []string{
		`CREATE TABLE bids () WITH (live = 'nexmark://bids?events=20000&partitions=2', event_time = 'date_time')`,
		`CREATE TABLE live_bids () WITH (live = 'nexmark://bids?rate=2000', event_time = 'date_time', watermark_delay = '1 second')`,
	} {
		if err := eng.Execute(context.Background(), sql, query.RunOptions{}, &foldSink{}); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s, err := New(eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

func dial(t *testing.T, ts *httptest.Server, header http.Header) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// collect reads messages of run id until done or error (with a deadline).
func collect(t *testing.T, c *websocket.Conn, id string, until string) []serverMessage {
	t.Helper()
	var out []serverMessage
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m serverMessage
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("reading: %v (after %d messages)", err, len(out))
		}
		if m.ID != id {
			continue
		}
		out = append(out, m)
		if m.Type == until || m.Type == "error" {
			return out
		}
	}
}

func TestRunStreamsSchemaRowsProgressDone(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	c := dial(t, ts, nil)
	if err := c.WriteJSON(clientMessage{Type: "run", ID: "c1", SQL: "SELECT auction % 3 AS a, count(*) AS n FROM bids GROUP BY auction % 3 ORDER BY a"}); err != nil {
		t.Fatal(err)
	}
	msgs := collect(t, c, "c1", "done")
	kinds := map[string]int{}
	var rows [][]any
	for _, m := range msgs {
		kinds[m.Type]++
		if m.Type == "rows" {
			rows = append(rows, m.Rows...)
			for _, op := range m.Ops {
				if op != "+" {
					t.Errorf("backfill sent op %q", op)
				}
			}
		}
	}
	if kinds["schema"] != 1 || kinds["rows"] == 0 || kinds["progress"] == 0 || kinds["done"] != 1 {
		t.Fatalf("message kinds %v", kinds)
	}
	if msgs[0].Type != "schema" || len(msgs[0].Columns) != 2 || msgs[0].Columns[1].Type != "bigint" {
		t.Fatalf("first message %+v", msgs[0])
	}
	var total float64
	for _, r := range rows {
		total += r[1].(float64)
	}
	if len(rows) != 3 || total != 18400 {
		t.Fatalf("rows %v, want 3 groups of 18,400 bids", rows)
	}
}

func TestErrorsCarryPositions(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	c := dial(t, ts, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "e", SQL: "SELECT\n  nope FROM bids"})
	msgs := collect(t, c, "e", "done")
	last := msgs[len(msgs)-1]
	if last.Type != "error" || last.Line != 2 || last.Column != 3 || !strings.Contains(last.Message, `column "nope" does not exist`) {
		t.Fatalf("error message %+v", last)
	}
}

func TestCancelLiveRun(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	c := dial(t, ts, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "live", Mode: "live",
		SQL: "SELECT window_start, count(*) FROM TUMBLE(live_bids, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end"})
	// Wait for the first window, then cancel.
	for {
		msgs := collect(t, c, "live", "rows")
		if msgs[len(msgs)-1].Type == "rows" {
			break
		}
	}
	_ = c.WriteJSON(clientMessage{Type: "cancel", ID: "live"})
	msgs := collect(t, c, "live", "error")
	if last := msgs[len(msgs)-1]; !strings.Contains(last.Message, "cancelled") {
		t.Fatalf("after cancel: %+v", last)
	}
}

func TestForeignOriginRefused(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, response %v", err, resp)
	}
	own := dial(t, ts, http.Header{"Origin": {ts.URL}})
	_ = own.Close()
}

func TestTokenRequiredWhenNotLoopback(t *testing.T) {
	s, ts := newTestServer(t, Options{Addr: "0.0.0.0:0"})
	if s.Token() == "" || !s.GeneratedToken() {
		t.Fatal("no token generated for a non-loopback address")
	}
	resp, err := http.Post(ts.URL+"/api/query", "application/json", strings.NewReader(`{"sql":"SELECT 1"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", ts.URL+"/api/query", strings.NewReader(`{"sql":"SELECT 1 AS one"}`))
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"rows":[[1]]`) {
		t.Fatalf("with token: %d %s", resp.StatusCode, body)
	}
	// ?token= sets an HttpOnly cookie and redirects without it.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(ts.URL + "/metrics?token=" + s.Token())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "HttpOnly") || strings.Contains(resp.Header.Get("Location"), "token") {
		t.Fatalf("token exchange: %d %v", resp.StatusCode, resp.Header)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", nil); err == nil {
		t.Fatal("websocket without token accepted")
	}
}

func TestOversizeMessageClosesConnection(t *testing.T) {
	_, ts := newTestServer(t, Options{MaxMessageBytes: 1024})
	c := dial(t, ts, nil)
	_ = c.WriteJSON(clientMessage{Type: "run", ID: "big", SQL: "SELECT '" + strings.Repeat("x", 4096) + "'"})
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m serverMessage
	if err := c.ReadJSON(&m); err == nil {
		t.Fatalf("oversize message answered: %+v", m)
	}
}

func TestAPIQueryAndMetrics(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	resp, err := http.Post(ts.URL+"/api/query", "application/json", strings.NewReader(`{"sql":"SELECT count(*) AS n FROM bids; SELECT 1 +"}`))
	if err != nil {
		t.Fatal(err)
	}
	var em serverMessage
	_ = json.NewDecoder(resp.Body).Decode(&em)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || em.Line != 1 || em.Column == 0 {
		t.Fatalf("syntax error: %d %+v", resp.StatusCode, em)
	}
	resp, err = http.Post(ts.URL+"/api/query", "application/json", strings.NewReader(`{"sql":"SELECT count(*) AS n FROM bids"}`))
	if err != nil {
		t.Fatal(err)
	}
	var res apiQueryResult
	_ = json.NewDecoder(resp.Body).Decode(&res)
	_ = resp.Body.Close()
	if len(res.Results) != 1 || len(res.Results[0].Rows) != 1 || res.Results[0].Rows[0][0].(float64) != 18400 {
		t.Fatalf("result %+v", res)
	}
	resp, err = http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{"# TYPE weir_jobs_started_total counter", "weir_jobs_started_total 2", "weir_websocket_clients 0"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// A client that reads nothing: its queue coalesces updates of one result
// and stays bounded; producers wait rather than grow it.
func TestSendQueueCoalescesAndBounds(t *testing.T) {
	q := newSendQueue(100)
	// 1,000 updates of the same 3 rows: retract old, insert new.
	for i := 0; i < 1000; i++ {
		row := func(k, v int) []any { return []any{k, v} }
		var ops []string
		var rows [][]any
		for k := 0; k < 3; k++ {
			if i > 0 {
				ops, rows = append(ops, "-"), append(rows, row(k, i-1))
			}
			ops, rows = append(ops, "+"), append(rows, row(k, i))
		}
		if err := q.pushRows("r", 0, nil, testRows(t, ops, rows), true, nil); err != nil {
			t.Fatal(err)
		}
		if err := q.push(serverMessage{Type: "progress", ID: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := q.depth(); d > 100 {
		t.Fatalf("queue holds %d rows, bound is 100", d)
	}
	msgs, err := q.pop()
	if err != nil {
		t.Fatal(err)
	}
	var inserted, retracted int
	for _, m := range msgs {
		for _, op := range m.Ops {
			if op == "+" {
				inserted++
			} else {
				retracted++
			}
		}
	}
	// The net effect of what was never sent: the 3 latest rows.
	if inserted != 3 || retracted != 0 {
		t.Fatalf("coalesced to %d inserts and %d retractions, want 3 and 0 (%d messages)", inserted, retracted, len(msgs))
	}
	// A growing result fills the queue: the producer waits until popped.
	done := make(chan error)
	go func() {
		for i := 0; i < 300; i++ {
			if err := q.pushRows("g", 0, nil, testRows(t, []string{"+"}, [][]any{{i}}), true, nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	deadline := time.Now().Add(5 * time.Second)
	for q.depth() < 100 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	select {
	case err := <-done:
		t.Fatalf("producer was not held back (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	for {
		if _, err := q.pop(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// testRows renders rows and ops ("+"/"-") as a batch for the queue.
func testRows(t *testing.T, ops []string, rows [][]any) *batchRows {
	b := &batchRows{}
	for i, r := range rows {
		k, err := json.Marshal(r)
		if err != nil {
			t.Error(err)
		}
		op := int8(1)
		if ops[i] == "-" {
			op = -1
		}
		b.ops, b.vals, b.keys, b.refs = append(b.ops, op), append(b.vals, r), append(b.keys, string(k)), append(b.refs, rowRef{})
	}
	return b
}
