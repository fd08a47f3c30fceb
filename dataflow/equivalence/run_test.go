package equivalence

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "ts", Type: columnar.TimestampType, Nullable: true},
	{Name: "vi", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "vf", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// retention keeps every emitted window until the end of a live run, so that
// no row is dropped past retention (run checks RetentionRows stays 0).
const retention = 10_000 * time.Hour

// liveUpdates counts the rows that live runs re-emitted as updates, to make
// sure idleness does kick in.
var liveUpdates atomic.Int64

// restores counts the restarts from a checkpoint with operator state, to
// make sure failures do exercise restores.
var restores atomic.Int64

// config is how one run executes a workload; none of it may change the
// folded result.
type config struct {
	live                  bool
	srcPar, opPar, op2Par int
	capacity              int           // JobOptions.ChannelCapacity
	maxOpen               int           // SourceSpec.MaxOpenSplits (0 = default)
	batchMax              int           // batches hold 0..batchMax rows
	idle                  time.Duration // live: the idle timeout (fake time)
	pausePct              int           // live: % of batches preceded by a pause
	checkpoints           int           // barriers injected at random moments
	failures              int           // kills, each followed by a restore from the latest checkpoint
	seed                  uint64        // split order, batch cuts, pauses, checkpoint moments
	// Hand-written cases set the batch sizes of each split and the pause
	// before each live batch.
	cuts  [][]int
	pause func(split, batch int) time.Duration
}

func randomConfig(r *rand.Rand, live bool, splits int) config {
	c := config{live: live, srcPar: 1 + r.IntN(8), opPar: 1 + r.IntN(8), op2Par: 1 + r.IntN(8),
		capacity: 1 + r.IntN(16), batchMax: pick(r, 1, 2, 5, 20, 100), checkpoints: r.IntN(4), seed: r.Uint64()}
	if r.IntN(3) == 0 {
		c.maxOpen = 1 + r.IntN(4)
	}
	// A third of the runs fail and restore, drawn apart from r so that a
	// seed keeps its other choices.
	if fr := rand.New(rand.NewPCG(c.seed, 3)); fr.IntN(3) == 0 {
		c.failures = 1 + fr.IntN(3)
	}
	if live {
		// A live source subtask without splits waits for new splits forever
		// (waitLive in dataflow/source_task.go), so its job would not end.
		c.srcPar = min(c.srcPar, splits)
		c.idle = time.Duration(10+r.IntN(200)) * time.Millisecond
		c.pausePct = pick(r, 0, 10, 30, 60)
	}
	return c
}

func (c config) String() string {
	return fmt.Sprintf("live=%v idle=%s pauses=%d%% par=%d/%d/%d capacity=%d maxOpen=%d batchMax=%d checkpoints=%d failures=%d seed=%d",
		c.live, c.idle, c.pausePct, c.srcPar, c.opPar, c.op2Par, c.capacity, c.maxOpen, c.batchMax, c.checkpoints, c.failures, c.seed)
}

// source builds the run's source: the workload's splits in a random order
// (which decides each split's subtask), cut into batches of random sizes.
func (c config) source(r *rand.Rand, w workload) dataflow.Source {
	var parts [][]arrow.RecordBatch
	var pauses [][]time.Duration
	for _, i := range r.Perm(len(w.splits)) {
		rows, sizes := w.splits[i], []int(nil)
		if c.cuts != nil {
			sizes = c.cuts[i]
		} else {
			sizes = randomCuts(r, len(rows), c.batchMax)
		}
		var batches []arrow.RecordBatch
		var ps []time.Duration
		for j, n := range sizes {
			var pause time.Duration
			switch {
			case c.pause != nil:
				pause = c.pause(i, j)
			case r.IntN(100) < c.pausePct:
				pause = time.Duration(r.Int64N(int64(3 * c.idle)))
			}
			batches, ps, rows = append(batches, toRecord(rows[:n])), append(ps, pause), rows[n:]
		}
		parts, pauses = append(parts, batches), append(pauses, ps)
	}
	if c.live {
		return &liveSource{parts: parts, pauses: pauses}
	}
	return &bounded.Memory{Sch: schema, Parts: parts}
}

// randomCuts draws the sizes of the batches of n rows: 1..most rows each, and
// now and then 0 (a generator that skipped other events returns those).
func randomCuts(r *rand.Rand, n, most int) []int {
	var sizes []int
	for n > 0 || r.IntN(8) == 0 {
		k := min(n, 1+r.IntN(most))
		if r.IntN(10) == 0 {
			k = 0
		}
		sizes, n = append(sizes, k), n-k
	}
	return sizes
}

func toRecord(rs []record) arrow.RecordBatch {
	return columnar.Record(schema, []arrow.Array{
		column(arrow.PrimitiveTypes.Int64, rs, nullK, func(r record) int64 { return r.k }),
		column(columnar.TimestampType, rs, nullTS, func(r record) int64 { return r.ts }),
		column(arrow.PrimitiveTypes.Int64, rs, nullVI, func(r record) int64 { return r.vi }),
		column(arrow.PrimitiveTypes.Float64, rs, nullVF, func(r record) float64 { return r.vf }),
	}, len(rs))
}

func column[T any](dt arrow.DataType, rs []record, null uint8, val func(record) T) arrow.Array {
	vals, bits, nulls := make([]T, len(rs)), make([]byte, (len(rs)+7)/8), 0
	for i, r := range rs {
		vals[i] = val(r)
		if r.is(null) {
			nulls++
		} else {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return columnar.Fixed(dt, vals, bits, nulls)
}

// run executes the workload under c. A live run must be called inside a
// synctest bubble: its pauses, idle timeout and checkpoint moments are fake
// time.
//
// With c.failures > 0 the job is killed (cancelled) that many times at a
// random moment, after random checkpoints, and restarted each time from
// the latest complete checkpoint — sometimes at other parallelisms. The
// outputs are then the rows that sinks committed (two-phase commit on
// checkpoint completion), and must still equal the reference: nothing
// lost, nothing twice.
func run(w workload, c config) (result, error) {
	r := rand.New(rand.NewPCG(c.seed, 1))
	src := c.source(r, w)
	outs := []*dataflow.CommitCollector{dataflow.NewCommitCollector(), nil, dataflow.NewCommitCollector()}
	if w.q.stage2 {
		outs[1] = dataflow.NewCommitCollector()
	}
	store := dataflow.NewMemoryCheckpointStore()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	fr := rand.New(rand.NewPCG(c.seed, 2)) // failures: apart from r, so seeds keep their other choices
	var restore *dataflow.Checkpoint
	var res result
	for attempt := 0; ; attempt++ {
		kill := attempt < c.failures
		job, err := dataflow.NewJob(c.graph(w, src, outs), dataflow.JobOptions{ChannelCapacity: c.capacity, Logger: logger,
			Checkpoints: dataflow.CheckpointOptions{Store: store, Job: "equivalence"}, Restore: restore})
		if err != nil {
			return result{}, err
		}

		// Barriers at random moments: checkpoints must not change the
		// result. Then, when this attempt is to fail, a kill.
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			n := c.checkpoints
			if kill {
				n = fr.IntN(4)
			}
			wait := func(rr *rand.Rand) {
				if c.live {
					time.Sleep(time.Duration(rr.Int64N(int64(10 * c.idle))))
				} else {
					for range rr.IntN(300) {
						runtime.Gosched()
					}
				}
			}
			for range n {
				wait(r)
				if _, err := job.Checkpoint(ctx, false); err != nil {
					return // the job has ended
				}
			}
			if kill {
				wait(fr)
				cancel()
			}
		})
		err = job.Run(ctx)
		killed := ctx.Err() != nil && errors.Is(err, context.Canceled)
		cancel()
		wg.Wait()
		if err != nil && !killed {
			return result{}, err
		}
		if err := checkMetrics(job, c); err != nil {
			return result{}, err
		}
		if !killed {
			if c.failures == 0 {
				// Counters are not checkpointed: a replay counts again, so
				// they are compared only for runs without failures.
				for _, m := range job.Metrics("src") {
					res.lateN += m.LateRows.Load()
					res.futureN += m.FutureRows.Load()
					res.nullTime += m.NullTimeRows.Load()
				}
			}
			break
		}
		restore, err = dataflow.LatestCheckpoint(context.Background(), store, "equivalence", logger)
		switch {
		case errors.Is(err, dataflow.ErrNoCheckpoint):
			restore = nil // start afresh
		case err != nil:
			return result{}, err
		case len(restore.State) > 0:
			restores.Add(1)
		}
		if fr.IntN(2) == 0 {
			// Restart at other parallelisms: key groups move.
			c.opPar, c.op2Par = 1+fr.IntN(8), 1+fr.IntN(8)
			c.srcPar = 1 + fr.IntN(8)
			if c.live {
				c.srcPar = min(c.srcPar, len(w.splits))
			}
		}
	}

	retractions := 0
	for i, dst := range []*[]string{&res.out1, &res.out2, &res.late} {
		n := 0
		var err error
		if *dst, n, err = fold(outs[i]); err != nil {
			return result{}, err
		}
		retractions += n
	}
	if !c.live && retractions > 0 {
		return result{}, fmt.Errorf("a backfill retracted %d rows", retractions)
	}
	return res, nil
}

// graph builds the job: the workload's query over src, into outs (out1,
// out2 or nil, late).
func (c config) graph(w workload, src dataflow.Source, outs []*dataflow.CommitCollector) *dataflow.Graph {
	g := dataflow.NewGraph(c.opPar)
	in := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts", Live: c.live, Parallelism: c.srcPar,
		MaxOpenSplits: c.maxOpen, Watermarks: watermark.Strategy{Delay: w.delay, MaxSkew: w.skew, IdleTimeout: c.idle}})
	rows := in
	if w.q.filter {
		rows = in.Filter("filter", func(rec arrow.RecordBatch, sel []int32) ([]int32, error) {
			vi := rec.Column(2)
			for i, v := range columnar.Int64Values(vi) {
				if keep(vi.IsNull(i), v) {
					sel = append(sel, int32(i))
				}
			}
			return sel, nil
		})
	}
	agg := rows.KeyBy("k").WindowAggregate("agg", c.opPar, dataflow.WindowAggSpec{
		Keys: []string{"k"}, TimeColumn: "ts", Window: w.q.assigner(), Aggs: w.q.aggs, Retention: retention})
	// Sinks of parallelism 1 keep the order of each row's changes.
	agg.CollectCommitted("out1", 1, outs[0])
	in.Late().CollectCommitted("late", 1, outs[2])
	if w.q.stage2 {
		agg.KeyBy(dataflow.WindowStartColumn).WindowAggregate("agg2", c.op2Par, dataflow.WindowAggSpec{
			FromColumns: true, Aggs: stage2Aggs, Retention: retention}).CollectCommitted("out2", 1, outs[1])
	}
	return g
}

// checkMetrics checks one attempt's operator counters: no row dropped past
// retention, and no update of a fired window in a backfill.
func checkMetrics(job *dataflow.Job, c config) error {
	updates := int64(0)
	for _, node := range []string{"agg", "agg2"} {
		for _, m := range job.Metrics(node) {
			if n := m.RetentionRows.Load(); n > 0 {
				return fmt.Errorf("%s dropped %d rows past retention", node, n)
			}
			updates += m.Updates.Load()
		}
	}
	if !c.live && updates > 0 {
		return fmt.Errorf("a backfill updated fired windows (%d updates)", updates)
	}
	liveUpdates.Add(updates)
	return nil
}

// fold folds a changelog into a sorted multiset of row strings and counts
// its retractions. A row retracted more often than it was inserted so far is
// an error: each row's changes come from one subtask, so they arrive in order.
func fold(c *dataflow.CommitCollector) ([]string, int, error) {
	if c == nil {
		return nil, 0, nil
	}
	counts, retractions := map[string]int{}, 0
	for _, b := range c.Batches() {
		for i := range b.Len() {
			cells := make([]string, b.Rec.NumCols())
			for j, col := range b.Rec.Columns() {
				cells[j] = cell(col, i)
			}
			row := strings.Join(cells, " ")
			if b.Op(i) == dataflow.Retract {
				retractions++
				if counts[row]--; counts[row] < 0 {
					return nil, 0, fmt.Errorf("row %q retracted before it was inserted", row)
				}
			} else {
				counts[row]++
			}
		}
	}
	var out []string
	for row, n := range counts {
		for range n {
			out = append(out, row)
		}
	}
	sort.Strings(out)
	return out, retractions, nil
}

func cell(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "_"
	}
	switch c := col.(type) {
	case *array.Int64:
		return fmtNum(float64(c.Value(i)))
	case *array.Float64:
		return fmtNum(c.Value(i))
	case *array.Timestamp:
		return fmtTime(int64(c.Value(i)))
	}
	return col.ValueStr(i)
}
