package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/query"
)

// intBatch renders a batch of one int64 column with ops (+1/−1).
func intBatch(t *testing.T, vals []int64, ops []int8) *batchRows {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := columnar.Record(schema, []arrow.Array{columnar.Int64s(vals)}, len(vals))
	b := dataflow.Inserts(rec)
	if ops != nil {
		b.Ops = make([]dataflow.Op, len(ops))
		for i, op := range ops {
			if op < 0 {
				b.Ops[i] = dataflow.Retract
			}
		}
	}
	br, err := renderBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	return br
}

func snapshotValues(t *testing.T, f *fold) []string {
	t.Helper()
	var out []string
	for i, v := range f.snapshot().vals {
		b, _ := json.Marshal(v)
		out = append(out, string(b))
		// The Arrow reference holds the same row.
		ref := f.snapshot().refs[i]
		if got := query.JSONValue(ref.rec.Column(0), ref.idx); got != v[0] {
			t.Fatalf("row %d: Arrow %v, JSON %v", i, got, v[0])
		}
	}
	return out
}

func TestFoldBoundKeepsNewestRows(t *testing.T) {
	f := newFold(10)
	for i := int64(0); i < 25; i += 5 {
		f.apply(intBatch(t, []int64{i, i + 1, i + 2, i + 3, i + 4}, nil))
	}
	// Retract a row still held and one dropped long ago (ignored), insert a
	// duplicate of a held row.
	f.apply(intBatch(t, []int64{20, 0, 24}, []int8{-1, -1, 1}))
	got := strings.Join(snapshotValues(t, f), ",")
	if got != "[15],[16],[17],[18],[19],[21],[22],[23],[24],[24]" {
		t.Fatalf("snapshot %s", got)
	}
	if f.total != 10 || f.dropped != 15 {
		t.Fatalf("total %d, dropped %d", f.total, f.dropped)
	}
}

// A fold whose rows are spread over many large batches copies them out,
// so it does not hold the batches.
func TestFoldCompactsArrowReferences(t *testing.T) {
	f := newFold(100)
	for b := int64(0); b < 200; b++ {
		// One row of each big batch survives: the others are inserted and
		// retracted within it.
		vals, ops := []int64{b * 1000}, []int8{1}
		for i := int64(1); i <= 500; i++ {
			vals, ops = append(vals, b*1000+i, b*1000+i), append(ops, 1, -1)
		}
		f.apply(intBatch(t, vals, ops))
	}
	if f.refRows > 4*100+8192 {
		t.Fatalf("the fold refers to %d rows of batches for %d rows", f.refRows, f.total)
	}
	got := snapshotValues(t, f)
	if len(got) != 100 || got[0] != "[100000]" || got[99] != "[199000]" {
		t.Fatalf("snapshot %d rows: %v … %v", len(got), got[0], got[len(got)-1])
	}
}

func TestQueueRefusesWhenFullWithoutWaiting(t *testing.T) {
	q := newSendQueue(3)
	if err := q.pushRows("r", 0, nil, testRows(t, []string{"+", "+", "+"}, [][]any{{1}, {2}, {3}}), false, nil); err != nil {
		t.Fatal(err)
	}
	if err := q.pushRows("r", 0, nil, testRows(t, []string{"+"}, [][]any{{4}}), false, nil); !errors.Is(err, errBehind) {
		t.Fatalf("push to a full queue: %v", err)
	}
	q.close()
	if err := q.pushRows("r", 0, nil, testRows(t, []string{"+"}, [][]any{{4}}), true, nil); !errors.Is(err, errQueueClosed) {
		t.Fatalf("push to a closed queue: %v", err)
	}
}

// A viewer of a live job whose queue is full is detached with an error;
// the job goes on for the others.
func TestSlowViewerDetachedFromLiveJob(t *testing.T) {
	s, _ := newTestServer(t, Options{})
	putTicks(t, s, 40, 10*time.Millisecond)
	sql := "SELECT * FROM ticks"
	opts, _ := s.runOptions("live", "", "")
	slow := &client{s: s, queue: newSendQueue(4), runs: map[string]*viewer{}, done: make(chan struct{})}
	fast := &client{s: s, queue: newSendQueue(1 << 20), runs: map[string]*viewer{}, done: make(chan struct{})}
	for _, c := range []*client{slow, fast} {
		v := &viewer{c: c, runID: "r"}
		c.runs["r"] = v
		if err := s.jobs.attach(v, sql, opts, "live", "", "", nil); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody reads the slow client; read the fast one until done.
	rows := 0
	deadline := time.Now().Add(20 * time.Second)
	for done := false; !done; {
		msgs, err := fast.queue.pop()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			rows += len(m.Rows)
			if m.Type == "error" {
				t.Fatalf("fast viewer: %+v", m)
			}
			done = done || m.Type == "done"
		}
		if time.Now().After(deadline) {
			t.Fatal("no done")
		}
	}
	if rows != 2*40*8 {
		t.Fatalf("fast viewer got %d rows", rows)
	}
	msgs, err := slow.queue.pop()
	if err != nil {
		t.Fatal(err)
	}
	last := msgs[len(msgs)-1]
	if last.Type != "error" || !strings.Contains(last.Message, "fell too far behind") {
		t.Fatalf("slow viewer's last message %+v", last)
	}
	if len(slow.runs) != 0 {
		t.Fatal("the slow viewer's run is still registered")
	}
}

// A backfill that waits for room in its viewer's queue ends when the
// viewer cancels, without the client reading anything.
func TestCancelWakesBackfillWaitingForClient(t *testing.T) {
	s, _ := newTestServer(t, Options{})
	opts, _ := s.runOptions("backfill", "", "")
	c := &client{s: s, queue: newSendQueue(4), runs: map[string]*viewer{}, done: make(chan struct{})}
	v := &viewer{c: c, runID: "r"}
	c.runs["r"] = v
	_ = s.jobs.attach(v, "SELECT * FROM bids", opts, "backfill", "", "", nil)
	deadline := time.Now().Add(10 * time.Second)
	for c.queue.depth() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("the queue never filled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !v.job.detach(v) {
		t.Fatal("viewer not attached")
	}
	for {
		l := s.jobs.list()
		if len(l) == 1 && l[0].State == stateCancelled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job still waits for its viewer: %+v", l)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
