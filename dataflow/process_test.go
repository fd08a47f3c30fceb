package dataflow_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// runningCount is the "session-ish" pattern: per key, a running count of
// rows, emitted when the watermark passes ts + 10s for each distinct event
// time ts. Rows wait in a MapState by event time until their timer fires,
// so the count emitted at t covers exactly the rows with ts ≤ t − 10s —
// which have all arrived when W ≥ t — whatever order rows arrive in.
type runningCount struct {
	pending *dataflow.MapState[int64, int64] // event time → rows not yet counted
	total   *dataflow.ValueState[int64]
}

const countDelay = 10_000_000 // 10s in µs

var countSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "at", Type: columnar.TimestampType},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func (f *runningCount) Open(c *dataflow.ProcessContext) error {
	f.pending = dataflow.NewMapState(c.State(), "pending", dataflow.Int64Codec{}, dataflow.Int64Codec{})
	f.total = dataflow.NewValueState(c.State(), "total", dataflow.Int64Codec{})
	return nil
}

func (f *runningCount) ProcessRow(c *dataflow.ProcessContext, _ arrow.RecordBatch, _ int) error {
	ts, ok := c.Timestamp()
	if !ok {
		return errors.New("row without event time")
	}
	if watermark.Time(ts) < c.CurrentWatermark() {
		return fmt.Errorf("late row at %d behind watermark %s reached the operator", ts, c.CurrentWatermark())
	}
	n, _, err := f.pending.Get(c.KeyGroup(), c.Key(), ts)
	if err != nil {
		return err
	}
	c.RegisterEventTimer(ts + countDelay)
	return f.pending.Put(c.KeyGroup(), c.Key(), ts, n+1)
}

func (f *runningCount) OnTimer(c *dataflow.ProcessContext, t int64) error {
	total, _, err := f.total.Get(c.KeyGroup(), c.Key())
	if err != nil {
		return err
	}
	var done []int64
	err = f.pending.Range(c.KeyGroup(), c.Key(), func(ts, n int64) bool {
		if ts+countDelay > t {
			return false // Int64Codec keeps event times in order
		}
		total += n
		done = append(done, ts)
		return true
	})
	if err != nil {
		return err
	}
	for _, ts := range done {
		if err := f.pending.Delete(c.KeyGroup(), c.Key(), ts); err != nil {
			return err
		}
	}
	if err := f.total.Put(c.KeyGroup(), c.Key(), total); err != nil {
		return err
	}
	key, err := dataflow.DecodeKey(c.Key(), arrow.PrimitiveTypes.Int64)
	if err != nil {
		return err
	}
	return c.Emit(key[0], t, total)
}

// splitRows is one split's rows: (k, ts µs) in split order, out of order by
// less than the watermark delay so that none is late.
func genSplits(seed uint64, splits, rowsPerSplit int, delay int64) [][][2]int64 {
	rng := rand.New(rand.NewPCG(seed, 0))
	out := make([][][2]int64, splits)
	for s := range out {
		base := int64(rng.IntN(5_000_000))
		for range rowsPerSplit {
			base += rng.Int64N(3_000_000)
			out[s] = append(out[s], [2]int64{rng.Int64N(25), base + rng.Int64N(delay)})
		}
	}
	return out
}

func batchesOf(rows [][2]int64, size int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for len(rows) > 0 {
		n := min(size, len(rows))
		k := make([]int64, n)
		ts := make([]int64, n)
		v := make([]int64, n)
		for i, r := range rows[:n] {
			k[i], ts[i] = r[0], r[1]
		}
		out = append(out, columnar.Record(testSchema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), columnar.Int64s(v)}, n))
		rows = rows[n:]
	}
	return out
}

// onTimeCheck counts rows whose column col is behind its watermark: rows a
// process function emits for a timer must precede the watermark that fired it.
type onTimeCheck struct {
	dataflow.BaseOperator
	col  int
	wm   watermark.Time
	late *atomic.Int64
}

func (o *onTimeCheck) ProcessBatch(ctx context.Context, _ int, b dataflow.Batch) error {
	for _, at := range columnar.Int64Values(b.Rec.Column(o.col)) {
		if watermark.Time(at) < o.wm {
			o.late.Add(1)
		}
	}
	return o.TC.Out.Emit(ctx, b)
}

func (o *onTimeCheck) ProcessWatermark(_ context.Context, w watermark.Time) error {
	o.wm = w
	return nil
}

func runCount(t *testing.T, splits [][][2]int64, p, batch int, delay time.Duration) []string {
	t.Helper()
	parts := make([][]arrow.RecordBatch, len(splits))
	for i, s := range splits {
		parts[i] = batchesOf(s, batch)
	}
	g := dataflow.NewGraph(p)
	var late atomic.Int64
	src := g.Source("src", dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: parts}, EventTime: "ts",
		Watermarks: watermark.Strategy{Delay: delay}})
	out := src.KeyBy("k").
		Process("count", p, countSchema, "ts", func() dataflow.KeyedProcessFunction { return &runningCount{} }).
		Apply("on-time", 1, func() dataflow.Operator { return &onTimeCheck{col: 1, late: &late} }).
		Collect("out")
	lateSrc := src.Late().Collect("late")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if lateSrc.Rows() != 0 {
		t.Fatalf("%d late rows at the source; the generator should make none", lateSrc.Rows())
	}
	if late.Load() != 0 {
		t.Errorf("p=%d: %d emitted rows arrived behind the watermark", p, late.Load())
	}
	var lines []string
	for _, b := range out.Batches() {
		if b.Ops != nil {
			t.Error("insert-only output has Ops")
		}
		k, at, n := columnar.Int64Values(b.Rec.Column(0)), columnar.Int64Values(b.Rec.Column(1)), columnar.Int64Values(b.Rec.Column(2))
		for i := range k {
			lines = append(lines, fmt.Sprintf("k=%d at=%d count=%d", k[i], at[i], n[i]))
		}
	}
	slices.Sort(lines)
	return lines
}

func TestProcessRunningCount(t *testing.T) {
	const delay = 2 * time.Second
	splits := genSplits(42, 6, 300, delay.Microseconds())
	// Reference: for each key and each distinct event time ts, the number of
	// the key's rows at or before ts, at ts + 10s.
	byKey := map[int64][]int64{}
	for _, s := range splits {
		for _, r := range s {
			byKey[r[0]] = append(byKey[r[0]], r[1])
		}
	}
	var want []string
	for k, ts := range byKey {
		slices.Sort(ts)
		for i, x := range ts {
			if i+1 < len(ts) && ts[i+1] == x {
				continue
			}
			want = append(want, fmt.Sprintf("k=%d at=%d count=%d", k, x+countDelay, i+1))
		}
	}
	slices.Sort(want)

	for _, run := range []struct{ p, batch int }{{1, 7}, {4, 3}, {4, 100}, {3, 1000}} {
		got := runCount(t, splits, run.p, run.batch, delay)
		if !slices.Equal(got, want) {
			t.Fatalf("p=%d batch=%d: %d rows differ from the reference's %d\n%s", run.p, run.batch, len(got), len(want), firstDiff(got, want))
		}
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("row %d: got %s, want %s", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

// runningSum emits its key's sum as an update per row: retract the old
// sum, insert the new one.
type runningSum struct{ sums *dataflow.ValueState[int64] }

func (f *runningSum) ProcessRow(c *dataflow.ProcessContext, rec arrow.RecordBatch, row int) error {
	if f.sums == nil {
		f.sums = dataflow.NewValueState(c.State(), "sum", dataflow.Int64Codec{})
	}
	k := rec.Column(0).(*array.Int64).Value(row)
	v := rec.Column(2).(*array.Int64).Value(row)
	old, ok, err := f.sums.Get(c.KeyGroup(), c.Key())
	if err != nil {
		return err
	}
	if ok {
		if err := c.EmitRetract(k, old); err != nil {
			return err
		}
	}
	if err := c.Emit(k, old+v); err != nil {
		return err
	}
	return f.sums.Put(c.KeyGroup(), c.Key(), old+v)
}

func (f *runningSum) OnTimer(*dataflow.ProcessContext, int64) error { return nil }

// changelogFold folds a changelog per key (c.Op tells inserts from
// retractions) and emits, at the end of input, each key's net row count and
// last inserted sum.
type changelogFold struct {
	net  *dataflow.ValueState[int64]
	last *dataflow.ValueState[int64]
}

func (f *changelogFold) Open(c *dataflow.ProcessContext) error {
	f.net = dataflow.NewValueState(c.State(), "net", dataflow.Int64Codec{})
	f.last = dataflow.NewValueState(c.State(), "last", dataflow.Int64Codec{})
	return nil
}

func (f *changelogFold) ProcessRow(c *dataflow.ProcessContext, rec arrow.RecordBatch, row int) error {
	n, _, _ := f.net.Get(c.KeyGroup(), c.Key())
	if c.Op() == dataflow.Retract {
		n--
	} else {
		n++
		if err := f.last.Put(c.KeyGroup(), c.Key(), rec.Column(1).(*array.Int64).Value(row)); err != nil {
			return err
		}
	}
	c.RegisterEventTimer(math.MaxInt64) // fires on the final watermark
	return f.net.Put(c.KeyGroup(), c.Key(), n)
}

func (f *changelogFold) OnTimer(c *dataflow.ProcessContext, _ int64) error {
	n, _, _ := f.net.Get(c.KeyGroup(), c.Key())
	last, _, _ := f.last.Get(c.KeyGroup(), c.Key())
	key, err := dataflow.DecodeKey(c.Key(), arrow.PrimitiveTypes.Int64)
	if err != nil {
		return err
	}
	return c.Emit(key[0], n, last)
}

func TestProcessRetractions(t *testing.T) {
	src := &bounded.Memory{Sch: testSchema, Parts: [][]arrow.RecordBatch{
		{rows([3]int64{1, 1, 10}, [3]int64{2, 2, 5}, [3]int64{1, 3, 1})},
		{rows([3]int64{1, 1, 100}), rows([3]int64{3, 4, 7})},
	}}
	sumSchema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "sum", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	foldSchema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "net", Type: arrow.PrimitiveTypes.Int64},
		{Name: "last", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	g := dataflow.NewGraph(2)
	sums := g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts"}).
		KeyBy("k").Process("sum", 2, sumSchema, "", func() dataflow.KeyedProcessFunction { return &runningSum{} })
	changelog := sums.Collect("changelog")
	folded := sums.KeyBy("k").Process("fold", 3, foldSchema, "", func() dataflow.KeyedProcessFunction { return &changelogFold{} }).Collect("folded")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	retracts := 0
	for _, b := range changelog.Batches() {
		for i := range b.Len() {
			if b.Op(i) == dataflow.Retract {
				retracts++
			}
		}
	}
	if retracts != 2 { // key 1 has three rows: two updates
		t.Errorf("%d retractions, want 2", retracts)
	}
	var got []string
	for _, b := range folded.Batches() {
		k, n, last := columnar.Int64Values(b.Rec.Column(0)), columnar.Int64Values(b.Rec.Column(1)), columnar.Int64Values(b.Rec.Column(2))
		for i := range k {
			got = append(got, fmt.Sprintf("%d:%d:%d", k[i], n[i], last[i]))
		}
	}
	sort.Strings(got)
	if want := "1:1:111 2:1:5 3:1:7"; strings.Join(got, " ") != want {
		t.Errorf("folded changelog = %v, want %s", got, want)
	}
}

type emitFn struct {
	dataflow.KeyedProcessFunction
	emit func(c *dataflow.ProcessContext) error
}

func (f emitFn) ProcessRow(c *dataflow.ProcessContext, _ arrow.RecordBatch, _ int) error {
	return f.emit(c)
}

func TestProcessErrors(t *testing.T) {
	src := &bounded.Memory{Sch: testSchema, Parts: [][]arrow.RecordBatch{{rows([3]int64{1, 1, 1})}}}
	run := func(keys []string, timeCol string, out *arrow.Schema, fn func(c *dataflow.ProcessContext) error) error {
		g := dataflow.NewGraph(1)
		g.Source("src", dataflow.SourceSpec{Source: src, EventTime: "ts"}).KeyBy(keys...).
			Process("p", 1, out, timeCol, func() dataflow.KeyedProcessFunction { return emitFn{emit: fn} }).
			Collect("out")
		job, err := dataflow.NewJob(g, dataflow.JobOptions{})
		if err != nil {
			return err
		}
		return job.Run(context.Background())
	}
	ok := func(*dataflow.ProcessContext) error { return nil }
	for _, tc := range []struct {
		name    string
		keys    []string
		timeCol string
		out     *arrow.Schema
		fn      func(c *dataflow.ProcessContext) error
		want    string
	}{
		{"no time column", []string{"k"}, "nope", countSchema, ok, `no column "nope"`},
		{"time column not a timestamp", []string{"k"}, "v", countSchema, ok, `time column "v": type int64 is not a timestamp`},
		{"no output schema", []string{"k"}, "", nil, ok, "nil output schema"},
		{"wrong arity", []string{"k"}, "", countSchema,
			func(c *dataflow.ProcessContext) error { return c.Emit(1) }, "1 values for 3 columns"},
		{"wrong type", []string{"k"}, "", countSchema,
			func(c *dataflow.ProcessContext) error { return c.Emit("x", 1, 2) }, `column "k" (int64): cannot use string`},
	} {
		err := run(tc.keys, tc.timeCol, tc.out, tc.fn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestRowWriter(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16, Nullable: true},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "d32", Type: arrow.FixedWidthTypes.Date32},
		{Name: "s", Type: arrow.BinaryTypes.String},
		{Name: "b", Type: arrow.BinaryTypes.Binary},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	w, err := dataflow.NewRowWriter(schema)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2024, 3, 1, 13, 0, 0, 0, time.UTC)
	if err := w.Append(dataflow.Insert, -128, uint8(7), 3, day, day, []byte("bytes"), "str", true); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(dataflow.Retract, int64(127), nil, float32(0.5), watermark.Time(1_500_000), arrow.Date32(1), "s", []byte{0}, false); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]any{
		{128, 0, 0.0, 0, 0, "", "", false},                   // int8 out of range
		{0, -1, 0.0, 0, 0, "", "", false},                    // negative uint
		{0, 0, "x", 0, 0, "", "", false},                     // string into float
		{0, 0, 0.0, 0, 0, "", "", nil},                       // NULL into a non-nullable column
		{0, 0, 0.0, 0, 0, "", "", 1},                         // int into bool
		{0, 0, 0.0, 0, 0, "", uint64(math.MaxUint64), false}, // uint into binary
	} {
		if err := w.Append(dataflow.Insert, bad...); err == nil {
			t.Errorf("Append(%v) succeeded", bad)
		}
	}
	if w.Len() != 2 {
		t.Fatalf("Len = %d after failed appends, want 2 (a failed Append adds nothing)", w.Len())
	}
	b := w.Batch()
	if w.Len() != 0 || b.Len() != 2 || b.Op(0) != dataflow.Insert || b.Op(1) != dataflow.Retract {
		t.Fatalf("batch: %d rows, ops %v", b.Len(), b.Ops)
	}
	rec := b.Rec
	check := func(col int, want string) {
		t.Helper()
		if got := rec.Column(col).String(); got != want {
			t.Errorf("column %s = %s, want %s", rec.ColumnName(col), got, want)
		}
	}
	check(0, "[-128 127]")
	check(1, "[7 (null)]")
	check(2, "[3 0.5]")
	check(3, fmt.Sprintf("[%d 1500]", day.UnixMilli()))
	check(4, "[2024-03-01 1970-01-02]")
	check(5, `["bytes" "s"]`)
	check(6, `["str" "\x00"]`)
	check(7, "[true false]")
	if b := w.Batch(); b.Len() != 0 || b.Ops != nil {
		t.Errorf("empty batch: %d rows, ops %v", b.Len(), b.Ops)
	}
	if _, err := dataflow.NewRowWriter(arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil)); err == nil {
		t.Error("NewRowWriter accepted a list column")
	}
}

// tumblingCount counts each key's rows per 10-second tumbling window with
// a timer per window end: the window [end−10s, end) is complete when the
// watermark reaches end.
type tumblingCount struct {
	size   int64                            // µs
	counts *dataflow.MapState[int64, int64] // window end → rows
}

func (f *tumblingCount) Open(c *dataflow.ProcessContext) error {
	f.counts = dataflow.NewMapState(c.State(), "counts", dataflow.Int64Codec{}, dataflow.Int64Codec{})
	return nil
}

func (f *tumblingCount) ProcessRow(c *dataflow.ProcessContext, _ arrow.RecordBatch, _ int) error {
	ts, _ := c.Timestamp()
	end := ts - ts%f.size + f.size
	n, _, err := f.counts.Get(c.KeyGroup(), c.Key(), end)
	if err != nil {
		return err
	}
	c.RegisterEventTimer(end)
	return f.counts.Put(c.KeyGroup(), c.Key(), end, n+1)
}

func (f *tumblingCount) OnTimer(c *dataflow.ProcessContext, end int64) error {
	n, _, err := f.counts.Get(c.KeyGroup(), c.Key(), end)
	if err != nil {
		return err
	}
	if err := f.counts.Delete(c.KeyGroup(), c.Key(), end); err != nil {
		return err
	}
	key, err := dataflow.DecodeKey(c.Key(), arrow.BinaryTypes.String)
	if err != nil {
		return err
	}
	return c.Emit(key[0], end, n)
}

func ExampleKeyedStream_Process() {
	clicks := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: columnar.TimestampType},
	}, nil)
	src := &bounded.Memory{Sch: clicks, Parts: [][]arrow.RecordBatch{{
		columnar.Record(clicks, []arrow.Array{
			columnar.StringsOf([]string{"ann", "bob", "ann", "ann"}),
			columnar.Timestamps([]int64{1_000_000, 2_000_000, 4_000_000, 12_000_000}),
		}, 4),
	}}}
	out := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "window_end", Type: columnar.TimestampType},
		{Name: "clicks", Type: arrow.PrimitiveTypes.Int64},
	}, nil)

	g := dataflow.NewGraph(2)
	counts := g.Source("clicks", dataflow.SourceSpec{Source: src, EventTime: "ts"}).
		KeyBy("user").
		Process("count-per-10s", 0, out, "ts", func() dataflow.KeyedProcessFunction {
			return &tumblingCount{size: 10_000_000}
		}).
		Collect("out")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := job.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	var lines []string
	for _, b := range counts.Batches() {
		users := b.Rec.Column(0).(*array.String)
		ends, n := columnar.Int64Values(b.Rec.Column(1)), columnar.Int64Values(b.Rec.Column(2))
		for i := range b.Len() {
			end := time.Duration(ends[i]) * time.Microsecond
			lines = append(lines, fmt.Sprintf("%s [%s, %s): %d", users.Value(i), end-10*time.Second, end, n[i]))
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// ann [0s, 10s): 2
	// ann [10s, 20s): 1
	// bob [0s, 10s): 1
}

// BenchmarkProcess measures the per-row cost of the process-function API
// in a whole job (source, hash exchange, operator) at parallelism 1; the
// fn=noop case is the runtime around the function.
func BenchmarkProcess(b *testing.B) {
	const n, batch = 1 << 18, 4096
	rng := rand.New(rand.NewPCG(1, 1))
	data := make([][2]int64, n)
	for i := range data {
		data[i] = [2]int64{rng.Int64N(10_000), int64(i) * 1000}
	}
	parts := [][]arrow.RecordBatch{batchesOf(data, batch)}
	for _, bc := range []struct {
		name string
		fn   func() dataflow.KeyedProcessFunction
	}{
		{"noop", func() dataflow.KeyedProcessFunction {
			return emitFn{emit: func(*dataflow.ProcessContext) error { return nil }}
		}},
		{"value-state", func() dataflow.KeyedProcessFunction { return &countOnly{} }},
		{"value-state+emit", func() dataflow.KeyedProcessFunction { return &countOnly{emit: true} }},
		{"map-state+timer", func() dataflow.KeyedProcessFunction { return &runningCount{} }},
	} {
		b.Run("fn="+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g := dataflow.NewGraph(1)
				g.Source("src", dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: parts}, EventTime: "ts"}).
					KeyBy("k").Process("p", 1, countSchema, "ts", bc.fn).
					Sink("sink", 1, func(context.Context, int, dataflow.Batch) error { return nil })
				job, err := dataflow.NewJob(g, dataflow.JobOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if err := job.Run(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
		})
	}
}

// countOnly keeps a per-key count in a ValueState and, if emit, emits it per row.
type countOnly struct {
	emit  bool
	count *dataflow.ValueState[int64]
}

func (f *countOnly) Open(c *dataflow.ProcessContext) error {
	f.count = dataflow.NewValueState(c.State(), "count", dataflow.Int64Codec{})
	return nil
}

func (f *countOnly) ProcessRow(c *dataflow.ProcessContext, rec arrow.RecordBatch, row int) error {
	n, _, err := f.count.Get(c.KeyGroup(), c.Key())
	if err != nil {
		return err
	}
	if err := f.count.Put(c.KeyGroup(), c.Key(), n+1); err != nil {
		return err
	}
	if f.emit {
		ts, _ := c.Timestamp()
		return c.Emit(rec.Column(0).(*array.Int64).Value(row), ts, n+1)
	}
	return nil
}

func (f *countOnly) OnTimer(*dataflow.ProcessContext, int64) error { return nil }
