package query

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/unbounded/nexmark"
)

const durableInsertSQL = `INSERT INTO %s SELECT k, window_start, count(*), sum(v)
FROM TUMBLE(slow, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end`

// newInsertTarget creates table name over dir and returns its store.
func newInsertTarget(t *testing.T, e *Engine, name, dir string) storage.Store {
	t.Helper()
	run(t, e, `CREATE TABLE `+name+` (k bigint, ws timestamp, n bigint, s bigint) WITH (history = 'file://`+dir+`/')`, RunOptions{})
	st, _, err := storage.Open(context.Background(), "file://"+dir+"/")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// listKeys lists every object of st.
func listKeys(t *testing.T, st storage.Store) []string {
	t.Helper()
	infos, err := st.List(context.Background(), "")
	if err != nil {
		t.Error(err)
	}
	var out []string
	for _, i := range infos {
		out = append(out, i.Key)
	}
	return out
}

// durableInsert runs the INSERT into table as durable job "j"; stop, if
// set, cancels it once it returns true (polled).
func durableInsert(t *testing.T, e *Engine, store dataflow.CheckpointStore, table string, stop func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	if stop != nil {
		wg.Go(func() {
			for ctx.Err() == nil && !stop() {
				time.Sleep(time.Millisecond)
			}
			cancel()
		})
	}
	opts := RunOptions{Mode: Live, Durable: &Durable{Job: "j", Store: store, Interval: 15 * time.Millisecond}}
	err := e.Execute(ctx, fmt.Sprintf(durableInsertSQL, table), opts, newCollectSink())
	cancel()
	wg.Wait()
	return err
}

// TestDurableInsertExactlyOnce crashes a durable INSERT of a windowed
// aggregate at random moments after it completed checkpoints and re-runs
// it to its end: the table then holds what a failure-free INSERT writes,
// every row once; and at each crash, every .parquet object under the
// table's location is published data that stays.
func TestDurableInsertExactlyOnce(t *testing.T) {
	e := newDurableEngine(t)
	root := t.TempDir()
	newInsertTarget(t, e, "ref", root+"/ref")
	run(t, e, fmt.Sprintf(durableInsertSQL, "ref"), RunOptions{Mode: Live})
	want := run(t, e, `SELECT k, ws, n, s FROM ref`, RunOptions{}).rows(t, 0)
	if len(want) < 40 {
		t.Fatalf("failure-free INSERT wrote %d rows", len(want))
	}
	for seed := range 4 {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			table := fmt.Sprintf("out%d", seed)
			st := newInsertTarget(t, e, table, fmt.Sprintf("%s/%s", root, table))
			store := dataflow.NewMemoryCheckpointStore()
			var visible []string // .parquet objects seen at crashes
			crashes := 1 + seed%2
			for c := range crashes {
				var since time.Time
				delay := time.Duration(rng.IntN(40)) * time.Millisecond
				before := completeCheckpoints(t, store)
				err := durableInsert(t, e, store, table, func() bool {
					if since.IsZero() {
						fresh := 0
						for _, id := range completeCheckpoints(t, store) {
							if !slices.Contains(before, id) {
								fresh++
							}
						}
						if fresh >= 2 {
							since = time.Now()
						}
						return false
					}
					if time.Since(since) < delay {
						return false
					}
					for _, k := range listKeys(t, st) {
						if strings.HasSuffix(k, ".parquet") {
							if strings.Contains(k, "/") || strings.HasPrefix(k, "_") {
								t.Errorf("at the crash, %s is visible: staged data named .parquet", k)
							}
							visible = append(visible, k)
						}
					}
					return true
				})
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("crash %d: err = %v, want it cancelled (did it end first?)", c, err)
				}
			}
			if err := durableInsert(t, e, store, table, nil); err != nil {
				t.Fatal(err)
			}
			keys := listKeys(t, st)
			for _, k := range visible {
				if !slices.Contains(keys, k) {
					t.Errorf("%s was visible at a crash and is gone: it was not committed data", k)
				}
			}
			for _, k := range keys {
				if !strings.HasSuffix(k, ".parquet") || strings.Contains(k, "/") {
					t.Errorf("left after the job ended: %s", k)
				}
			}
			got := run(t, e, `SELECT k, ws, n, s FROM `+table, RunOptions{}).rows(t, 0)
			if !slices.Equal(got, want) {
				t.Errorf("after %d crashes the table holds %d rows, a failure-free run %d:\n%s", crashes, len(got), len(want), rowsDiff(got, want))
			}
		})
	}
}

// rowsDiff names the rows lost and the rows extra or doubled.
func rowsDiff(got, want []string) string {
	count := map[string]int{}
	for _, r := range want {
		count[r]++
	}
	for _, r := range got {
		count[r]--
	}
	var b strings.Builder
	for r, n := range count {
		switch {
		case n > 0:
			fmt.Fprintf(&b, "lost %d× %s\n", n, r)
		case n < 0:
			fmt.Fprintf(&b, "extra %d× %s\n", -n, r)
		}
	}
	return b.String()
}

// TestDurableInsertCommitIdempotent: a commit replayed — twice, after a
// crash between publishing and deleting the staged files, and by recovery
// after the commit — publishes nothing twice; recovery discards what was
// staged after the restored checkpoint.
func TestDurableInsertCommitIdempotent(t *testing.T) {
	ctx := context.Background()
	st, _, err := storage.Open(ctx, "file://"+t.TempDir()+"/")
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	in := &insertion{ctx: ctx, store: st, schema: schema, runID: "r1", staging: "_staging/j/"}
	newSink := func() *durableInsertSink {
		o := &durableInsertSink{insertSink: insertSink{in: in}}
		if err := o.Open(&dataflow.TaskContext{}); err != nil {
			t.Fatal(err)
		}
		return o
	}
	write := func(o *durableInsertSink, vs ...int64) {
		if err := o.ProcessBatch(ctx, 0, dataflow.Inserts(columnar.Record(schema, []arrow.Array{columnar.Int64s(vs)}, len(vs)))); err != nil {
			t.Fatal(err)
		}
	}
	published := func() []string {
		var out []string
		for _, k := range listKeys(t, st) {
			if strings.HasSuffix(k, ".parquet") {
				out = append(out, k)
			}
		}
		return out
	}
	o := newSink()
	write(o, 1, 2, 3)
	if err := o.PrecommitCheckpoint(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if p := published(); len(p) != 0 {
		t.Fatalf("published before the commit: %v", p)
	}
	// Keep the staging objects, to put them back as a crash before their
	// deletion would have left them.
	saved := map[string][]byte{}
	for _, k := range listKeys(t, st) {
		b, err := storage.ReadAll(ctx, st, k)
		if err != nil {
			t.Fatal(err)
		}
		saved[k] = b
	}
	for range 2 {
		if err := o.CommitCheckpoint(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	first := published()
	if len(first) != 1 || in.rows.Load() != 3 {
		t.Fatalf("after commit: files %v, %d rows", first, in.rows.Load())
	}
	for k, b := range saved {
		if err := storage.Put(ctx, st, k, b, storage.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Staged after checkpoint 1, never completed.
	write(o, 4, 5)
	if err := o.PrecommitCheckpoint(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := newSink().RecoverCheckpoint(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if p := published(); !slices.Equal(p, first) || in.rows.Load() != 3 {
		t.Fatalf("after recovery: files %v (had %v), %d rows (had 3)", p, first, in.rows.Load())
	}
	if keys := listKeys(t, st); !slices.Equal(keys, first) {
		t.Fatalf("recovery left %v", keys)
	}
}

// TestDurableInsertRollsPerCheckpoint: each checkpoint stages the rows
// since the previous one as files of their own (no file spans two
// checkpoints), and a checkpoint without new rows stages and publishes
// nothing.
func TestDurableInsertRollsPerCheckpoint(t *testing.T) {
	ctx := context.Background()
	st, _, err := storage.Open(ctx, "file://"+t.TempDir()+"/")
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	in := &insertion{ctx: ctx, store: st, schema: schema, runID: "r1", staging: "_staging/j/"}
	o := &durableInsertSink{insertSink: insertSink{in: in}}
	if err := o.Open(&dataflow.TaskContext{}); err != nil {
		t.Fatal(err)
	}
	write := func(vs ...int64) {
		if err := o.ProcessBatch(ctx, 0, dataflow.Inserts(columnar.Record(schema, []arrow.Array{columnar.Int64s(vs)}, len(vs)))); err != nil {
			t.Fatal(err)
		}
	}
	manifests := func() []int64 {
		var ids []int64
		for _, k := range listKeys(t, st) {
			if id, ok := manifestID(k); ok {
				ids = append(ids, id)
			}
		}
		return ids
	}
	write(1, 2, 3)
	if err := o.PrecommitCheckpoint(ctx, 1); err != nil {
		t.Fatal(err)
	}
	write(4, 5)
	for id := int64(2); id <= 3; id++ { // 3 has no new rows
		if err := o.PrecommitCheckpoint(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := manifests(); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("manifests of checkpoints %v, want [1 2] (none for a checkpoint without rows)", got)
	}
	if err := o.CommitCheckpoint(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var published []string
	for _, k := range listKeys(t, st) {
		if strings.HasSuffix(k, ".parquet") {
			published = append(published, k)
		} else {
			t.Errorf("left after the commit: %s", k)
		}
	}
	if len(published) != 2 || in.rows.Load() != 5 {
		t.Fatalf("published %v with %d rows, want a file per checkpoint with rows (2) and 5 rows", published, in.rows.Load())
	}
	if err := o.PrecommitCheckpoint(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := o.CommitCheckpoint(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if n := len(listKeys(t, st)); n != 2 {
		t.Fatalf("an empty checkpoint changed the table: %d objects, want 2", n)
	}
}

// slowMetadataStore takes 50 ms to write a checkpoint's metadata.
type slowMetadataStore struct{ dataflow.CheckpointStore }

func (s slowMetadataStore) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasSuffix(name, "/_metadata") {
		time.Sleep(50 * time.Millisecond) // a slow store, not a wait for anything
	}
	return s.CheckpointStore.Put(ctx, name, data)
}

// liveInsertSQL counts the bids of every second: windows close as the live
// feed's watermark passes them.
const liveInsertSQL = `INSERT INTO %s SELECT window_start, count(*), sum(price)
FROM TUMBLE(%s, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end`

// TestLiveInsert runs a live INSERT of one-second windows as a durable
// job, over a Nexmark feed (deterministic: a fixed base and seed) and over
// a history of its first events followed by the feed: cancelled at a
// random moment after some checkpoints, resumed, three times. The table
// then holds each window from the first on exactly once, with the count
// and sum a backfill over the same events gives: none missing (each
// resumed run went on where the previous one's last checkpoint was), none
// twice (rows staged after it were discarded, not published).
func TestLiveInsert(t *testing.T) {
	const rate, seed = 2000, 5
	base := time.Now().UTC().Add(-4 * time.Second).Truncate(time.Second)
	feed := fmt.Sprintf("nexmark://bids?rate=%d&seed=%d&partitions=2&base=%s", rate, seed, base.Format(time.RFC3339))
	history := writeBids(t, nexmark.Config{Seed: seed, Rate: rate, BaseTime: base, Events: 3 * rate}, 2, histOpts{})
	for _, tc := range []struct{ name, with string }{
		{"live", fmt.Sprintf("live = '%s'", feed)},
		{"history-then-live", fmt.Sprintf("history = '%s', live = '%s'", history, feed)},
	} {
		t.Run("source="+tc.name, func(t *testing.T) {
			e := newTestEngine(t)
			run(t, e, `CREATE TABLE feed () WITH (`+tc.with+`, event_time = 'date_time')`, RunOptions{})
			testLiveInsert(t, e, feed, base, rate)
		})
	}
}

func testLiveInsert(t *testing.T, e *Engine, feed string, base time.Time, rate int) {
	dir := t.TempDir()
	run(t, e, `CREATE TABLE out (ws timestamp, n bigint, s bigint) WITH (history = 'file://`+dir+`/out/')`, RunOptions{})
	st, _, err := storage.Open(t.Context(), "file://"+dir+"/out/")
	if err != nil {
		t.Fatal(err)
	}
	sql := fmt.Sprintf(liveInsertSQL, "out", "feed")
	// Without a job name, a live INSERT is refused where the table is named.
	err = e.Execute(t.Context(), sql, RunOptions{Mode: Live, From: base}, newCollectSink())
	var qe *Error
	if !errors.As(err, &qe) || !strings.Contains(err.Error(), "--job NAME") || qe.Line != 1 || qe.Column != 13 {
		t.Fatalf("live INSERT without a job: %v, want an error at 1:13 asking for --job NAME", err)
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	// Each checkpoint's metadata takes a while to write, so that a cancel
	// can land between a sink's staging and the checkpoint's completion.
	store := slowMetadataStore{dataflow.NewMemoryCheckpointStore()}
	visible := map[string]bool{} // .parquet objects seen at a cancel
	windows := 0
	for r := range 4 {
		before := completeCheckpoints(t, store)
		published := len(visible)
		// Even runs are cancelled while a file is staged and its
		// checkpoint not complete, odd ones after a random delay.
		atStaged := r%2 == 0
		delay := time.Duration(rng.IntN(300)) * time.Millisecond
		var since time.Time
		var stuck atomic.Bool
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			defer cancel()
			for deadline := time.Now().Add(time.Minute); ctx.Err() == nil; {
				if time.Now().After(deadline) {
					stuck.Store(true)
					return
				}
				if since.IsZero() {
					// Three fresh checkpoints (the store keeps the last
					// three), and a file published by this run.
					fresh, n := 0, 0
					for _, id := range completeCheckpoints(t, store) {
						if !slices.Contains(before, id) {
							fresh++
						}
					}
					for _, k := range listKeys(t, st) {
						if strings.HasSuffix(k, ".parquet") && !visible[k] {
							n++
						}
					}
					if fresh >= 3 && n > 0 {
						since = time.Now()
					}
				} else if atStaged {
					for _, k := range listKeys(t, st) {
						if _, ok := manifestID(k); ok {
							return
						}
					}
				} else if time.Since(since) >= delay {
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
		opts := RunOptions{Mode: Live, From: base, Durable: &Durable{Job: "j", Store: store, Interval: 100 * time.Millisecond}}
		err := e.Execute(ctx, sql, opts, newCollectSink())
		cancel()
		wg.Wait()
		if stuck.Load() {
			t.Fatalf("run %d: no three checkpoints and a published file within a minute", r)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run %d: err = %v, want it cancelled", r, err)
		}
		for _, k := range listKeys(t, st) {
			if !strings.HasSuffix(k, ".parquet") {
				continue
			}
			if strings.Contains(k, "/") || strings.HasPrefix(k, "_") {
				t.Errorf("run %d: at the cancel, %s is visible: staged data named .parquet", r, k)
			}
			visible[k] = true
		}
		got := run(t, e, `SELECT ws, n, s FROM out`, RunOptions{}).rows(t, 0)
		// Readers see the published files only, whatever is staged.
		staged := 0
		for _, k := range listKeys(t, st) {
			if strings.HasSuffix(k, ".staged") {
				staged++
			}
		}
		if atStaged && staged == 0 {
			t.Errorf("run %d: cancelled with a staged file, which is gone", r)
		}
		if raw := run(t, e, `SELECT ws, n, s FROM read_parquet('file://`+dir+`/out/')`, RunOptions{}).rows(t, 0); !slices.Equal(raw, got) {
			t.Errorf("run %d: read_parquet of the location (%d staged files there) reads %d rows, the table %d", r, staged, len(raw), len(got))
		}
		when := fmt.Sprintf("%v after its third checkpoint", delay)
		if atStaged {
			when = "with a file staged"
		}
		t.Logf("run %d (cancelled %s): %d files, %d windows, %d staged files left", r, when, len(visible), len(got), staged)
		if len(visible) <= published || len(got) <= windows {
			t.Fatalf("run %d published nothing new: %d files, %d windows (had %d, %d)", r, len(visible), len(got), published, windows)
		}
		windows = len(got)
	}
	for k := range visible {
		if !slices.Contains(listKeys(t, st), k) {
			t.Errorf("%s was visible at a cancel and is gone", k)
		}
	}

	// The reference: a backfill over the events up to the last window.
	got := run(t, e, `SELECT ws, n, s FROM out`, RunOptions{}).rows(t, 0)
	events := (len(got) + 2) * rate
	run(t, e, fmt.Sprintf(`CREATE TABLE ref () WITH (live = '%s&events=%d', event_time = 'date_time')`, feed, events), RunOptions{})
	all := run(t, e, `SELECT window_start, count(*), sum(price) FROM TUMBLE(ref, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end`, RunOptions{}).rows(t, 0)
	if len(all) < len(got)+1 {
		t.Fatalf("the backfill has %d windows, the live INSERT %d", len(all), len(got))
	}
	want := all[:len(got)] // windows from base on, in time order
	if !slices.Equal(got, want) {
		t.Errorf("the table holds %d windows, not those of a backfill from %s:\n%s", len(got), base.Format(time.RFC3339), rowsDiff(got, want))
	}
}
