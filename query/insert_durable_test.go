package query

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/storage"
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
