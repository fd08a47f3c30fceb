package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
)

const durableSQL = `SELECT k, window_start, count(*) AS n, sum(v) AS s
FROM TUMBLE(slow, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end`

// newDurableEngine registers a live table that delivers 2 splits of 150
// batches (one event second each) with a pause before every batch, so that
// a run lasts long enough to take checkpoints.
func newDurableEngine(t *testing.T) *Engine {
	t.Helper()
	e := NewEngine(NewCatalog())
	e.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: columnar.TimestampType},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	splits := make([][]arrow.RecordBatch, 2)
	for s := range splits {
		for b := range 150 {
			var k, ts, v []int64
			for r := range 4 {
				k = append(k, int64((b+r+s)%3))
				ts = append(ts, int64(b)*1_000_000+int64(r)*1000)
				v = append(v, int64(b*10+r+s*1000))
			}
			splits[s] = append(splits[s], columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), columnar.Int64s(v)}, 4))
		}
	}
	e.Providers.Memory().Put("slow", &MemoryTable{Schema: schema, Splits: splits,
		Pause: func(int, int) time.Duration { return 2 * time.Millisecond }})
	run(t, e, `CREATE TABLE slow () WITH (live = 'mem://slow', event_time = 'ts')`, RunOptions{})
	return e
}

// durableResult is what a durable run did.
type durableResult struct {
	rows    []string // output rows in arrival order
	resumed int64    // the checkpoint it resumed from (0: none)
	rowsIn  int64    // input rows it read
}

// durableRun runs sql as the durable job "j"; stop, if set, cancels the run
// once it returns true (polled).
func durableRun(t *testing.T, e *Engine, store dataflow.CheckpointStore, sql string, restart bool, stop func() bool) (durableResult, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	if stop != nil {
		wg.Go(func() {
			for ctx.Err() == nil && !stop() {
				time.Sleep(2 * time.Millisecond)
			}
			cancel()
		})
	}
	s := newCollectSink()
	var resumed int64
	opts := RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: store, Interval: 15 * time.Millisecond, Restart: restart,
		Resumed: func(job string, id int64) {
			if job != "j" {
				t.Errorf("resumed job %q", job)
			}
			resumed = id
		}}}
	err := e.Execute(ctx, sql, opts, s)
	cancel()
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return durableResult{rows: slices.Clone(s.order[0]), resumed: resumed, rowsIn: s.last[0].RowsIn}, err
}

// completeCheckpoints lists the ids of job j's checkpoints with metadata.
func completeCheckpoints(t *testing.T, store dataflow.CheckpointStore) []string {
	names, err := store.List(context.Background(), "j/chk-")
	if err != nil {
		t.Error(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "/_metadata") {
			out = append(out, strings.TrimSuffix(n, "/_metadata"))
		}
	}
	return out
}

// crashAfter runs the job until it has completed n checkpoints and cancels
// it there, as a crash would.
func crashAfter(t *testing.T, e *Engine, store dataflow.CheckpointStore, n int) []string {
	t.Helper()
	r, err := durableRun(t, e, store, durableSQL, false, func() bool { return len(completeCheckpoints(t, store)) >= n })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("crashed run: err = %v, want it cancelled (did it end before %d checkpoints?)", err, n)
	}
	if r.resumed != 0 {
		t.Fatalf("first run resumed from checkpoint %d", r.resumed)
	}
	return r.rows
}

// checkResumed checks a resumed run against a failure-free one: it reads
// less input (it did not start over), emits only windows of the full
// result, each once, and with the crashed run's output it covers every
// window.
func checkResumed(t *testing.T, full durableResult, crashed []string, r durableResult) {
	t.Helper()
	if r.rowsIn <= 0 || r.rowsIn >= full.rowsIn {
		t.Errorf("resumed run read %d rows, a full run %d: it started over", r.rowsIn, full.rowsIn)
	}
	resumed := r.rows
	want := map[string]bool{}
	for _, r := range full.rows {
		want[r] = true
	}
	seen := map[string]bool{}
	for _, r := range resumed {
		if !want[r] {
			t.Errorf("resumed run emitted %q, which a failure-free run does not", r)
		}
		if seen[r] {
			t.Errorf("resumed run emitted %q twice", r)
		}
		seen[r] = true
	}
	for _, r := range crashed {
		seen[r] = true
	}
	for _, r := range full.rows {
		if !seen[r] {
			t.Errorf("window %q lost across the crash", r)
		}
	}
}

// fullRun is a failure-free run of durableSQL.
func fullRun(t *testing.T, e *Engine) durableResult {
	t.Helper()
	s := run(t, e, durableSQL, RunOptions{Mode: Live})
	r := durableResult{rows: s.order[0], rowsIn: s.last[0].RowsIn}
	if len(r.rows) < 40 || r.rowsIn != 2*150*4 {
		t.Fatalf("failure-free run: %d rows out, %d in", len(r.rows), r.rowsIn)
	}
	return r
}

func TestDurableResumes(t *testing.T) {
	e := newDurableEngine(t)
	full := fullRun(t, e)
	store := dataflow.NewMemoryCheckpointStore()
	crashed := crashAfter(t, e, store, 3)
	ids := completeCheckpoints(t, store)
	r, err := durableRun(t, e, store, durableSQL, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := ids[len(ids)-1]; r.resumed == 0 || want != fmt.Sprintf("j/chk-%020d", r.resumed) {
		t.Fatalf("resumed from checkpoint %d, want the latest complete one (%s)", r.resumed, want)
	}
	checkResumed(t, full, crashed, r)

	// The job ran to its end: its checkpoints are gone, and the same
	// command runs it from the start.
	if names, _ := store.List(t.Context(), "j/"); len(names) != 0 {
		t.Errorf("after the job's end the store still holds %v", names)
	}
	r, err = durableRun(t, e, store, durableSQL, false, nil)
	if err != nil || r.resumed != 0 || !slices.Equal(sorted(r.rows), sorted(full.rows)) {
		t.Errorf("re-run after the end: resumed %d, %d rows (want %d), err %v", r.resumed, len(r.rows), len(full.rows), err)
	}
}

func TestDurableRestart(t *testing.T) {
	e := newDurableEngine(t)
	full := fullRun(t, e)
	store := dataflow.NewMemoryCheckpointStore()
	crashAfter(t, e, store, 2)
	r, err := durableRun(t, e, store, durableSQL, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.resumed != 0 || r.rowsIn != full.rowsIn {
		t.Errorf("--restart resumed from checkpoint %d, read %d rows (want %d)", r.resumed, r.rowsIn, full.rowsIn)
	}
	if !slices.Equal(sorted(r.rows), sorted(full.rows)) {
		t.Errorf("--restart: %d rows, want the full run's %d", len(r.rows), len(full.rows))
	}
}

func TestDurableRefusesChangedQuery(t *testing.T) {
	e := newDurableEngine(t)
	store := dataflow.NewMemoryCheckpointStore()
	crashAfter(t, e, store, 2)
	for _, tc := range []struct{ name, sql string }{
		{"another query", `SELECT k, window_start, max(v) AS m FROM TUMBLE(slow, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end`},
		{"another window", strings.Replace(durableSQL, "'10'", "'20'", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := durableRun(t, e, store, tc.sql, false, nil)
			if !errors.Is(err, ErrJobChanged) || !strings.Contains(err.Error(), "--restart") {
				t.Fatalf("err = %v, want ErrJobChanged telling to use --restart", err)
			}
			if r.resumed != 0 {
				t.Errorf("restored checkpoint %d", r.resumed)
			}
		})
	}
	// Another mode is another job too.
	if err := e.Execute(t.Context(), durableSQL, RunOptions{Mode: Backfill, Durable: &Durable{Job: "j", Store: store}}, newCollectSink()); !errors.Is(err, ErrJobChanged) {
		t.Errorf("backfill of a live job: err = %v, want ErrJobChanged", err)
	}
	// The same query with its whitespace changed is the same job.
	if r, err := durableRun(t, e, store, strings.ReplaceAll(durableSQL, "\n", "\n   "), false, nil); err != nil || r.resumed == 0 {
		t.Errorf("reformatted query: resumed %d, err %v", r.resumed, err)
	}
}

// TestDurableRefusesForeignState restores a checkpoint with state of
// operators the query lacks (a record that matches, checkpoints that do
// not): the restore is refused as a changed job, never done silently.
func TestDurableRefusesForeignState(t *testing.T) {
	e := newDurableEngine(t)
	store := dataflow.NewMemoryCheckpointStore()
	crashAfter(t, e, store, 2)
	other := `SELECT k, count(*) AS n FROM slow WHERE v > 0 GROUP BY k`
	b, err := store.Get(t.Context(), "j/job.json")
	if err != nil {
		t.Fatal(err)
	}
	rec := strings.Replace(string(b), strings.Join(strings.Fields(durableSQL), " "), other, 1)
	if err := store.Put(t.Context(), "j/job.json", []byte(rec)); err != nil {
		t.Fatal(err)
	}
	r, err := durableRun(t, e, store, other, false, nil)
	if !errors.Is(err, ErrJobChanged) || !errors.Is(err, dataflow.ErrIncompatibleSnapshot) || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("err = %v, want ErrJobChanged", err)
	}
	t.Log(err)
	if r.resumed != 0 {
		t.Errorf("restored checkpoint %d", r.resumed)
	}
}

func TestDurableCorruptLatestFallsBack(t *testing.T) {
	e := newDurableEngine(t)
	full := fullRun(t, e)
	store := dataflow.NewMemoryCheckpointStore()
	crashed := crashAfter(t, e, store, 3)
	ids := completeCheckpoints(t, store)
	latest := ids[len(ids)-1] + "/_metadata"
	b, err := store.Get(t.Context(), latest)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(t.Context(), latest, b[:len(b)/2]); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	e.Logger = slog.New(slog.NewTextHandler(&log, nil))
	r, err := durableRun(t, e, store, durableSQL, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := ids[len(ids)-2]; r.resumed == 0 || want != fmt.Sprintf("j/chk-%020d", r.resumed) {
		t.Fatalf("resumed from checkpoint %d, want the one before the corrupt latest (%s)", r.resumed, want)
	}
	if want := fmt.Sprintf("falling back to the previous one\" job=j checkpoint=%d", r.resumed+1); !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, &log)
	}
	checkResumed(t, full, crashed, r)
}

func TestDurableOneSelect(t *testing.T) {
	e := newDurableEngine(t)
	store := dataflow.NewMemoryCheckpointStore()
	for sql, want := range map[string]string{
		durableSQL + "; " + durableSQL:                                     "a durable job runs one statement; the script has 2",
		"CREATE TABLE t2 () WITH (live = 'mem://slow', event_time = 'ts')": "a durable job runs a SELECT or an INSERT, not CREATE",
		"SELECT k, v FROM slow ORDER BY v LIMIT 3":                         "ORDER BY and LIMIT in a durable job are not supported",
	} {
		if _, err := durableRun(t, e, store, sql, false, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", sql, err, want)
		}
	}
	for _, name := range []string{"", "a/b", "..", ".x", "a b"} {
		if err := CheckJobName(name); err == nil {
			t.Errorf("job name %q accepted", name)
		}
	}
}

func sorted(rows []string) []string {
	out := slices.Clone(rows)
	slices.Sort(out)
	return out
}
