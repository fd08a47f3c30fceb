package query

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	schema, splits := durableSplits(150, 3, time.Second, 1000)
	e.Providers.Memory().Put("slow", &MemoryTable{Schema: schema, Splits: splits,
		Pause: func(int, int) time.Duration { return 2 * time.Millisecond }})
	run(t, e, `CREATE TABLE slow () WITH (live = 'mem://slow', event_time = 'ts')`, RunOptions{})
	return e
}

// durableSplits makes the 2 splits of a durable test's table (k, ts, v):
// batches batches of 4 rows each, keys k cycling through keys, one batch
// every step of event time, values distinct within a split and between
// splits (split s adds s*vsplit).
func durableSplits(batches int, keys int64, step time.Duration, vsplit int64) (*arrow.Schema, [][]arrow.RecordBatch) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: columnar.TimestampType},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	splits := make([][]arrow.RecordBatch, 2)
	for s := range splits {
		for b := range batches {
			var k, ts, v []int64
			for r := range 4 {
				k = append(k, int64(b+r+s)%keys)
				ts = append(ts, int64(b)*step.Microseconds()+int64(r)*1000)
				v = append(v, int64(b*10+r)+int64(s)*vsplit)
			}
			splits[s] = append(splits[s], columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), columnar.Int64s(v)}, 4))
		}
	}
	return schema, splits
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
	return completeCheckpointsOf(t, store, "j")
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

// flakyProvider serves the memory table NAME as flaky://NAME, a live feed
// whose split 0 fails — a real source error, as a feed's dropped
// connection — once on reaching each position of failAt, when armed says
// so (nil: always), and at every position from always on (≥ 0).
type flakyProvider struct {
	mem    *MemoryProvider
	always int

	mu     sync.Mutex
	failAt []int
	armed  func() bool
	failed int
}

func (p *flakyProvider) Schema(ctx context.Context, u *url.URL) (*arrow.Schema, error) {
	return p.mem.Schema(ctx, u)
}

func (p *flakyProvider) Open(ctx context.Context, u *url.URL, req SourceRequest) (dataflow.Source, bool, error) {
	src, bounded, err := p.mem.Open(ctx, u, req)
	return &flakySource{Source: src, p: p}, bounded, err
}

// fail reports whether split 0 fails at position pos.
func (p *flakyProvider) fail(pos int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.always >= 0 && pos >= p.always {
		p.failed++
		return true
	}
	if len(p.failAt) > 0 && pos >= p.failAt[0] && (p.armed == nil || p.armed()) {
		p.failAt = p.failAt[1:]
		p.failed++
		return true
	}
	return false
}

func (p *flakyProvider) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

type flakySource struct {
	dataflow.Source
	p *flakyProvider
}

func (s *flakySource) Splits(ctx context.Context) ([]dataflow.Split, error) {
	splits, err := s.Source.Splits(ctx)
	for i, sp := range splits {
		if i == 0 {
			splits[i] = &flakySplit{Split: sp, p: s.p}
		}
	}
	return splits, err
}

type flakySplit struct {
	dataflow.Split
	p *flakyProvider
}

func (s *flakySplit) Open(ctx context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	r, err := s.Split.Open(ctx, pos)
	return &flakyReader{SplitReader: r, p: s.p, pos: int(pos)}, err
}

type flakyReader struct {
	dataflow.SplitReader
	p   *flakyProvider
	pos int
}

func (r *flakyReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if r.p.fail(r.pos) {
		return nil, 0, fmt.Errorf("injected: the feed dropped its connection at position %d", r.pos)
	}
	rec, pos, err := r.SplitReader.Next(ctx)
	r.pos = int(pos)
	return rec, pos, err
}

// newFlakyEngine is newDurableEngine with the table flaky over the same
// data as slow, through p.
func newFlakyEngine(t *testing.T, p *flakyProvider) *Engine {
	t.Helper()
	e := newDurableEngine(t)
	p.mem = e.Providers.Memory()
	e.Providers.Register("flaky", p)
	run(t, e, `CREATE TABLE flaky () WITH (live = 'flaky://slow', event_time = 'ts')`, RunOptions{})
	return e
}

// armedAfterCheckpoint arms a failure once a checkpoint has completed
// since the previous failure: each restart then restores a fresh one.
func armedAfterCheckpoint(t *testing.T, store dataflow.CheckpointStore) func() bool {
	var last string
	return func() bool {
		ids := completeCheckpoints(t, store)
		if len(ids) == 0 || ids[len(ids)-1] == last {
			return false
		}
		last = ids[len(ids)-1]
		return true
	}
}

var fastRestarts = RestartPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}

// TestDurableRestartsAfterFailures: a source that fails three times, each
// after a fresh checkpoint, is restarted from the latest checkpoint each
// time, and the run ends as a failure-free one: every window printed (at
// least once), none that a failure-free run lacks.
func TestDurableRestartsAfterFailures(t *testing.T) {
	for _, backend := range []string{"memory", "pebble"} {
		t.Run("backend="+backend, func(t *testing.T) { testDurableRestartsAfterFailures(t, backend) })
	}
}

func testDurableRestartsAfterFailures(t *testing.T, backend string) {
	p := &flakyProvider{always: -1, failAt: []int{30, 70, 110}}
	e := newFlakyEngine(t, p)
	full := fullRun(t, e)
	store := dataflow.NewMemoryCheckpointStore()
	p.armed = armedAfterCheckpoint(t, store)
	var restarts []Restart
	var resumed []int64
	s := newCollectSink()
	err := e.Execute(t.Context(), strings.Replace(durableSQL, "slow", "flaky", 1), RunOptions{Mode: Live, Durable: &Durable{
		Job: "j", Store: store, Interval: 15 * time.Millisecond, Restarts: fastRestarts, StateBackend: backend,
		Restarted: func(r Restart) { restarts = append(restarts, r) },
		Resumed:   func(_ string, id int64) { resumed = append(resumed, id) },
	}}, s)
	if err != nil {
		t.Fatal(err)
	}
	if p.failures() != 3 || len(restarts) != 3 || len(resumed) != 3 {
		t.Fatalf("%d failures, %d restarts, %d resumptions; want 3 of each", p.failures(), len(restarts), len(resumed))
	}
	for i, r := range restarts {
		if r.Job != "j" || r.Attempt != i+1 || r.Restart != i+1 || r.Max != DefaultRestartPolicy.MaxRestarts ||
			!strings.Contains(r.Err.Error(), "injected: the feed dropped its connection") || r.Backoff <= 0 || r.Backoff > 4*time.Millisecond {
			t.Errorf("restart %d: %+v", i, r)
		}
		if i > 0 && resumed[i] <= resumed[i-1] {
			t.Errorf("restart %d resumed from checkpoint %d, the one before from %d", i, resumed[i], resumed[i-1])
		}
	}
	if got, want := sorted(slices.Compact(sorted(s.order[0]))), sorted(full.rows); !slices.Equal(got, want) {
		t.Errorf("after restarts: %d distinct rows, a failure-free run %d", len(got), len(want))
	}
	// The checkpoint figures count on across the attempts: every id up to
	// the last one completed, but for one a failure may cut short per
	// restart (the last attempt alone completed about a third of them).
	if st := s.last[0].Checkpoint; st.LastID < resumed[len(resumed)-1] || st.Completed < st.LastID-int64(len(restarts)) {
		t.Errorf("checkpoint figures after 3 restarts: %+v, resumed from %v", st, resumed)
	}
}

// TestDurableInsertRestartsExactlyOnce: a durable INSERT whose source
// fails three times is restarted each time and writes what a failure-free
// INSERT writes, every row once (each attempt's sinks recover the restored
// checkpoint and name their files afresh).
func TestDurableInsertRestartsExactlyOnce(t *testing.T) {
	p := &flakyProvider{always: -1, failAt: []int{30, 70, 110}}
	e := newFlakyEngine(t, p)
	root := t.TempDir()
	newInsertTarget(t, e, "ref", root+"/ref")
	run(t, e, fmt.Sprintf(durableInsertSQL, "ref"), RunOptions{Mode: Live})
	want := run(t, e, `SELECT k, ws, n, s FROM ref`, RunOptions{}).rows(t, 0)
	st := newInsertTarget(t, e, "out", root+"/out")
	store := dataflow.NewMemoryCheckpointStore()
	p.armed = armedAfterCheckpoint(t, store)
	restarts := 0
	sql := strings.Replace(fmt.Sprintf(durableInsertSQL, "out"), "slow", "flaky", 1)
	err := e.Execute(t.Context(), sql, RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: store, Interval: 15 * time.Millisecond,
		Restarts: fastRestarts, Restarted: func(r Restart) {
			restarts++
			if !strings.Contains(r.Err.Error(), "injected") {
				t.Errorf("restart %d after another failure than the injected ones: %v", r.Restart, r.Err)
			}
		}}}, newCollectSink())
	if err != nil {
		t.Fatal(err)
	}
	if p.failures() != 3 || restarts != 3 {
		t.Fatalf("%d failures, %d restarts; want 3", p.failures(), restarts)
	}
	for _, k := range listKeys(t, st) {
		if !strings.HasSuffix(k, ".parquet") || strings.Contains(k, "/") {
			t.Errorf("left after the job ended: %s", k)
		}
	}
	if got := run(t, e, `SELECT k, ws, n, s FROM out`, RunOptions{}).rows(t, 0); !slices.Equal(got, want) {
		t.Errorf("after 3 restarts the table holds %d rows, a failure-free run %d:\n%s", len(got), len(want), rowsDiff(got, want))
	}
}

// TestDurableRestartsBounded: a source that always fails is restarted as
// often as the policy allows, and then the run fails naming the attempts
// and the last cause; a policy without restarts fails at once.
func TestDurableRestartsBounded(t *testing.T) {
	p := &flakyProvider{always: 10}
	e := newFlakyEngine(t, p)
	sql := strings.Replace(durableSQL, "slow", "flaky", 1)
	restarts := 0
	policy := fastRestarts
	policy.MaxRestarts = 2
	err := e.Execute(t.Context(), sql, RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: dataflow.NewMemoryCheckpointStore(),
		Interval: 15 * time.Millisecond, Restarts: policy, Restarted: func(Restart) { restarts++ }}}, newCollectSink())
	want := `durable job "j": giving up after 3 attempts (2 restarts within 10m0s, the most its restart policy allows); last error: `
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "injected: the feed dropped its connection at position 10") {
		t.Fatalf("err = %v, want %q and the cause", err, want)
	}
	if restarts != 2 || p.failures() != 3 {
		t.Errorf("%d restarts, %d failures; want 2 and 3", restarts, p.failures())
	}

	policy.MaxRestarts = -1
	err = e.Execute(t.Context(), sql, RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: dataflow.NewMemoryCheckpointStore(),
		Restarts: policy, Restarted: func(Restart) { t.Error("restarted with restarts disabled") }}}, newCollectSink())
	if err == nil || !strings.Contains(err.Error(), "allows no restarts") || !strings.Contains(err.Error(), "injected") {
		t.Errorf("no restarts: err = %v", err)
	}
}

func TestRestartBackoff(t *testing.T) {
	p := RestartPolicy{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}.withDefaults()
	for _, tc := range []struct {
		n    int
		u    float64
		want time.Duration
	}{
		{1, 0, 500 * time.Millisecond}, {1, 0.5, 750 * time.Millisecond}, {1, 0.999, 999500 * time.Microsecond},
		{2, 0, time.Second}, {3, 0, 2 * time.Second}, {4, 1, 8 * time.Second},
		{5, 0, 5 * time.Second}, {5, 1, 10 * time.Second}, {60, 0, 5 * time.Second},
	} {
		if got := p.backoff(tc.n, tc.u); got != tc.want {
			t.Errorf("backoff(%d, %v) = %v, want %v", tc.n, tc.u, got, tc.want)
		}
	}
	// Restarts are counted within the window: old ones fall out.
	r := newRestarter(RestartPolicy{MaxRestarts: 2, Window: time.Minute, InitialBackoff: time.Second})
	r.rand = func() float64 { return 0 }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		at      time.Duration
		backoff time.Duration
		n       int
		ok      bool
	}{
		{0, 500 * time.Millisecond, 1, true}, {10 * time.Second, time.Second, 2, true}, {20 * time.Second, 0, 2, false},
		{61 * time.Second, time.Second, 2, true}, // the first fell out
		{65 * time.Second, 0, 2, false}, {200 * time.Second, 500 * time.Millisecond, 1, true},
	} {
		b, n, ok := r.next(t0.Add(tc.at))
		if b != tc.backoff || n != tc.n || ok != tc.ok {
			t.Errorf("failure %d at %v: backoff %v, restart %d, ok %v; want %v, %d, %v", i, tc.at, b, n, ok, tc.backoff, tc.n, tc.ok)
		}
	}
	if d := (RestartPolicy{}).withDefaults(); d != DefaultRestartPolicy {
		t.Errorf("zero policy = %+v", d)
	}
}

func TestRetryable(t *testing.T) {
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	task := &dataflow.OperatorError{Node: "scan#1", Subtask: 0, Err: errors.New("connection reset")}
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		want bool
	}{
		{ctx, task, true},
		{ctx, fmt.Errorf("checkpoint 3: %w", dataflow.ErrBlobNotFound), true},
		{done, task, false}, // the run was cancelled: its end, not a failure
		{ctx, context.Canceled, false},
		{ctx, fmt.Errorf("x: %w", dataflow.ErrStopped), false},
		{ctx, fmt.Errorf("%w: job changed", ErrJobChanged), false},
		{ctx, fmt.Errorf("restore: %w", dataflow.ErrIncompatibleSnapshot), false},
		{ctx, fmt.Errorf("%w: job j is running", ErrJobRunning), false},
		{ctx, fmt.Errorf("%w: broken pipe", errResultSink), false},
		{ctx, fmt.Errorf("eval: %w", &Error{Msg: "division by zero"}), false},
	} {
		if got := retryable(tc.ctx, tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// startDurable starts sql as durable job d in the background and waits
// until it has completed a checkpoint; wait returns the run's error.
func startDurable(t *testing.T, e *Engine, sql string, d *Durable, s *collectSink) (wait func() error, cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Execute(ctx, sql, RunOptions{Mode: Live, Durable: d}, s) }()
	deadline := time.Now().Add(30 * time.Second)
	for len(completeCheckpointsOf(t, d.Store, d.Job)) == 0 {
		select {
		case err := <-done:
			t.Fatalf("the job ended before its first checkpoint: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	return func() error { return <-done }, cancel
}

// completeCheckpointsOf lists the ids of job's checkpoints with metadata.
func completeCheckpointsOf(t *testing.T, store dataflow.CheckpointStore, job string) []string {
	names, err := store.List(context.Background(), job+"/chk-")
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

// TestDurableLock: a second run of a running job is refused at once,
// naming the holder, with a FileLocker and with the in-process default;
// once the first run ends, the job runs again.
func TestDurableLock(t *testing.T) {
	e := newDurableEngine(t)
	for _, tc := range []struct {
		name   string
		locker JobLocker
		want   string
	}{
		{"file", FileLocker{Dir: t.TempDir()}, fmt.Sprintf("job j is running (pid %d, since ", os.Getpid())},
		{"process", nil, fmt.Sprintf("job j is running (in this process, pid %d, since ", os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := dataflow.NewMemoryCheckpointStore()
			d := func() *Durable {
				return &Durable{Job: "j", Store: store, Interval: 5 * time.Millisecond, Lock: tc.locker}
			}
			wait, cancel := startDurable(t, e, durableSQL, d(), newCollectSink())
			err := e.Execute(t.Context(), durableSQL, RunOptions{Mode: Live, Durable: d()}, newCollectSink())
			if !errors.Is(err, ErrJobRunning) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("second run: %v, want ErrJobRunning with %q", err, tc.want)
			}
			// Another job is not held by this one's lock.
			unlock, err := (&Durable{Job: "k", Store: store, Lock: tc.locker}).lock()
			if err != nil {
				t.Errorf("another job: %v", err)
			} else {
				unlock()
			}
			cancel()
			if err := wait(); err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("first run: %v", err)
			}
			if err := e.Execute(t.Context(), durableSQL, RunOptions{Mode: Live, Durable: d()}, newCollectSink()); err != nil {
				t.Errorf("run after the first ended: %v", err)
			}
		})
	}
}

// TestLockHolderProcess is the process TestFileLockReleasedOnKill kills:
// it takes the lock and waits to be killed.
func TestLockHolderProcess(t *testing.T) {
	dir := os.Getenv("WEIR_TEST_LOCK_DIR")
	if dir == "" {
		t.Skip("run by TestFileLockReleasedOnKill")
	}
	if _, err := (FileLocker{Dir: dir}).Lock("j"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	select {}
}

// TestFileLockReleasedOnKill: the lock of a process killed with SIGKILL
// is released by the kernel, so the job's re-run is not blocked.
func TestFileLockReleasedOnKill(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("FileLocker keeps processes apart with flock(2)")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WEIR_TEST_LOCK_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}
	_, err = FileLocker{Dir: dir}.Lock("j")
	if want := fmt.Sprintf("job j is running (pid %d, since ", cmd.Process.Pid); !errors.Is(err, ErrJobRunning) || !strings.Contains(err.Error(), want) {
		t.Fatalf("lock held by another process: %v, want %q", err, want)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	unlock, err := FileLocker{Dir: dir}.Lock("j")
	if err != nil {
		t.Fatalf("lock of a killed holder: %v", err)
	}
	unlock()
	if _, err := (FileLocker{Dir: dir}).Lock("a/b"); err == nil {
		t.Error("a lock for a bad job name")
	}
}

// resumeRun runs sql as durable job d at parallelism par to its end.
func resumeRun(t *testing.T, e *Engine, sql string, d *Durable, par int) (durableResult, error) {
	t.Helper()
	var r durableResult
	d.Resumed = func(_ string, id int64) { r.resumed = id }
	s := newCollectSink()
	err := e.Execute(t.Context(), sql, RunOptions{Mode: Live, Parallelism: par, Durable: d}, s)
	s.mu.Lock()
	defer s.mu.Unlock()
	r.rows = slices.Clone(s.order[0])
	if err == nil {
		r.rowsIn = s.last[0].RowsIn
	}
	return r, err
}

// TestDurableStopWithSavepoint stops a durable job with a savepoint; the
// same command run again resumes from it, and so does a run from the
// savepoint at parallelism 1 and 4; each run's output with the stopped
// run's covers a failure-free run's windows, and the resumed run emits
// none twice. A savepoint of another query, or of state of another type,
// is refused.
func TestDurableStopWithSavepoint(t *testing.T) {
	e := newDurableEngine(t)
	full := fullRun(t, e)
	store, sps := dataflow.NewMemoryCheckpointStore(), dataflow.NewMemoryCheckpointStore()
	if _, err := (&Durable{Job: "j", Store: store, Savepoints: sps}).StopWithSavepoint(t.Context()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("stop of a job not running: %v", err)
	}
	d := &Durable{Job: "j", Store: store, Interval: 15 * time.Millisecond, Savepoints: sps}
	s := newCollectSink()
	wait, cancel := startDurable(t, e, durableSQL, d, s)
	defer cancel()
	ref, err := d.StopWithSavepoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, dataflow.ErrStopped) {
		t.Fatalf("stopped run: %v, want ErrStopped", err)
	}
	if ref.Dir != fmt.Sprintf("j/chk-%020d/", ref.ID) || ref.Location != "memory"+ref.Dir {
		t.Errorf("savepoint %+v", ref)
	}
	stopped := slices.Clone(s.order[0])

	// The same command resumes from the savepoint: it is the job's latest
	// checkpoint.
	r, err := resumeRun(t, e, durableSQL, &Durable{Job: "j", Store: store}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.resumed != ref.ID {
		t.Errorf("re-run resumed from checkpoint %d, want the savepoint %d", r.resumed, ref.ID)
	}
	checkResumed(t, full, stopped, r)

	// The job has ended and its checkpoints are gone; the savepoint stays.
	sp, err := ReadSavepoint(t.Context(), sps, ref.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Job != "j" || sp.Checkpoint.ID != ref.ID || !sp.Checkpoint.Savepoint {
		t.Fatalf("read savepoint: job %q, %d", sp.Job, sp.Checkpoint.ID)
	}
	for _, par := range []int{1, 4} {
		job := fmt.Sprintf("from-sp-%d", par)
		r, err := resumeRun(t, e, durableSQL, &Durable{Job: job, Store: store, FromSavepoint: sp}, par)
		if err != nil {
			t.Fatal(err)
		}
		if r.resumed != ref.ID {
			t.Errorf("parallelism %d: resumed from %d, want the savepoint %d", par, r.resumed, ref.ID)
		}
		checkResumed(t, full, stopped, r)
	}

	// Another query from the savepoint is refused, naming what differs.
	changed := strings.Replace(durableSQL, "'10'", "'20'", 1)
	_, err = resumeRun(t, e, changed, &Durable{Job: "j", Store: store, FromSavepoint: sp}, 2)
	if !errors.Is(err, ErrJobChanged) || !strings.Contains(err.Error(), "savepoint memoryj/chk-") ||
		!strings.Contains(err.Error(), "its query was \"SELECT k, window_start, count(*) AS n, sum(v) AS s FROM TUMBLE(slow, ts, INTERVAL '10' SECOND)") {
		t.Errorf("another query from the savepoint: %v", err)
	}
	if names, _ := store.List(t.Context(), "j/"); len(names) != 0 {
		t.Errorf("a refused run changed the job: %v", names)
	}

	// State of another type under the same operators: a savepoint whose
	// record names a session-window query.
	session := strings.Replace(durableSQL, "TUMBLE", "SESSION", 1)
	names, _ := sps.List(t.Context(), ref.Dir)
	for _, name := range names {
		b, _ := sps.Get(t.Context(), name)
		if strings.HasSuffix(name, "/job.json") {
			b = []byte(strings.Replace(string(b), "TUMBLE", "SESSION", 1))
		}
		if err := sps.Put(t.Context(), "moved/"+strings.TrimPrefix(name, ref.Dir), b); err != nil {
			t.Fatal(err)
		}
	}
	forged, err := ReadSavepoint(t.Context(), sps, "moved")
	if err != nil {
		t.Fatal(err)
	}
	_, err = resumeRun(t, e, session, &Durable{Job: "s", Store: store, FromSavepoint: forged}, 2)
	if !errors.Is(err, dataflow.ErrIncompatibleSnapshot) || !strings.Contains(err.Error(), "savepoint") {
		t.Errorf("state of another type: %v, want ErrIncompatibleSnapshot", err)
	}
	t.Log(err)
	if _, err := ReadSavepoint(t.Context(), store, "j/"); err == nil || !strings.Contains(err.Error(), "not the savepoint of a durable job") {
		t.Errorf("a directory that is no savepoint: %v", err)
	}
}

// TestDurableInsertStopWithSavepoint stops a durable INSERT with a
// savepoint and starts it from the savepoint at parallelism 1: the table then holds what a failure-free INSERT writes,
// every row once — the stopped run published up to the savepoint and
// nothing after it.
func TestDurableInsertStopWithSavepoint(t *testing.T) {
	e := newDurableEngine(t)
	root := t.TempDir()
	newInsertTarget(t, e, "ref", root+"/ref")
	run(t, e, fmt.Sprintf(durableInsertSQL, "ref"), RunOptions{Mode: Live})
	want := run(t, e, `SELECT k, ws, n, s FROM ref`, RunOptions{}).rows(t, 0)
	st := newInsertTarget(t, e, "out", root+"/out")
	store, sps := dataflow.NewMemoryCheckpointStore(), dataflow.NewMemoryCheckpointStore()
	sql := fmt.Sprintf(durableInsertSQL, "out")
	d := &Durable{Job: "j", Store: store, Interval: 15 * time.Millisecond, Savepoints: sps}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Execute(ctx, sql, RunOptions{Mode: Live, Durable: d}, newCollectSink()) }()
	deadline := time.Now().Add(30 * time.Second)
	published := func() bool { // a file of the table is published
		for _, k := range listKeys(t, st) {
			if strings.HasSuffix(k, ".parquet") && !strings.Contains(k, "/") {
				return true
			}
		}
		return false
	}
	for !published() {
		select {
		case err := <-done:
			t.Fatalf("the INSERT ended before it published a file: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing published after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	ref, err := d.StopWithSavepoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, dataflow.ErrStopped) {
		t.Fatalf("stopped INSERT: %v, want ErrStopped", err)
	}
	if n := len(run(t, e, `SELECT k, ws, n, s FROM out`, RunOptions{}).rows(t, 0)); n == 0 || n >= len(want) {
		t.Fatalf("the stopped INSERT published %d rows of %d", n, len(want))
	}
	sp, err := ReadSavepoint(t.Context(), sps, ref.Dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := resumeRun(t, e, sql, &Durable{Job: "j", Store: store, FromSavepoint: sp}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.resumed != ref.ID {
		t.Errorf("resumed from %d, want the savepoint %d", r.resumed, ref.ID)
	}
	for _, k := range listKeys(t, st) {
		if !strings.HasSuffix(k, ".parquet") || strings.Contains(k, "/") {
			t.Errorf("left after the job ended: %s", k)
		}
	}
	if got := run(t, e, `SELECT k, ws, n, s FROM out`, RunOptions{}).rows(t, 0); !slices.Equal(got, want) {
		t.Errorf("after the stop and the resume the table holds %d rows, a failure-free run %d:\n%s", len(got), len(want), rowsDiff(got, want))
	}
}
