package query

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weirdata/weir/dataflow"
)

// firstRowSink cancels the run at its first row and keeps that row.
type firstRowSink struct {
	collectSink
	cancel context.CancelFunc
	first  string
}

func (s *firstRowSink) Rows(i int, b dataflow.Batch) error {
	if s.first == "" && b.Len() > 0 {
		s.first = b.Rec.Column(0).ValueStr(0)
		s.cancel()
	}
	return nil
}

// TestDurableStartPinned: a live feed without a base of its own
// (nexmark:// without base=) starts at the present; a durable job records
// when it first started and gives its sources that time on every later
// run, so the job resumed later reads the same feed. Each run here is
// stopped before any checkpoint, so a run starts the feed at event 0 again:
// its first event has the same time only if the base is pinned.
func TestDurableStartPinned(t *testing.T) {
	e := NewEngine(NewCatalog())
	run(t, e, `CREATE TABLE bids () WITH (live = 'nexmark://bids?rate=1000&partitions=1', event_time = 'date_time')`, RunOptions{})
	store := dataflow.NewMemoryCheckpointStore()
	firstEvent := func(restart bool) string {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s := &firstRowSink{collectSink: *newCollectSink(), cancel: cancel}
		opts := RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: store, Interval: time.Hour, Restart: restart}}
		if err := e.Execute(ctx, "SELECT date_time FROM bids", opts, s); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if s.first == "" {
			t.Fatal("the run gave no row")
		}
		return s.first
	}
	first := firstEvent(false)
	raw, err := store.Get(t.Context(), "j/"+jobRecordName)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeJobRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	started, err := time.Parse(time.RFC3339Nano, rec.Started)
	if err != nil {
		t.Fatalf("job.json's started %q: %v", rec.Started, err)
	}
	// Event 0 is at the base: the job's start, to the second.
	if want := started.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05"); !strings.HasPrefix(first, want) {
		t.Fatalf("the first event is at %s, want the job's start %s", first, want)
	}
	time.Sleep(1100 * time.Millisecond) // the present moves on by more than a second
	if again := firstEvent(false); again != first {
		t.Errorf("the job run again starts its feed at %s, want %s (where it first started)", again, first)
	}
	if afresh := firstEvent(true); afresh == first {
		t.Errorf("the job restarted afresh (--restart) starts its feed at %s again, want the present", afresh)
	}
}
