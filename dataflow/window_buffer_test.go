package dataflow

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/datadriven"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// The scripts in testdata/window_join and testdata/topn drive one operator
// subtask directly, through a fake task context, so they can show what a
// job cannot easily produce: changelog input, rows for windows that fired
// already (live mode after idleness) and rows past retention.
//
// Commands:
//
//	join kind=<inner|left|right|full> left-keys=(a,..) right-keys=(b,..) [retention=<s>]
//	topn partition=(a,..) order=(col[:desc][:nullsfirst],..) n=<N> [rank=<col>] [retention=<s>]
//	    input: one line per input, "<name> col[:type] ..."; types int, str,
//	    float, bool; window_start and window_end are timestamps
//	batch input=<name>
//	    input: one row per line, values in schema order, "null" for NULL,
//	    timestamps in seconds; a leading "-" marks a retraction
//	watermark <seconds|inf>
//	metrics | keygroups
//	restore
//	    snapshots the operator, and replaces it with a new one restored
//	    from the snapshot (as after a failure); prints the key groups saved
//
// Each command prints the rows the operator emitted ("+" insert, "-"
// retraction), preceded by the column names whenever they change.

func TestWindowJoinScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/window_join", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, new(bufferHarness).run)
	})
}

func TestWindowTopNScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/topn", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, new(bufferHarness).run)
	})
}

// recordingOutput keeps what an operator emits.
type recordingOutput struct{ batches []Batch }

func (r *recordingOutput) Emit(_ context.Context, b Batch) error {
	r.batches = append(r.batches, b)
	return nil
}

// fakeTaskContext returns the context of subtask 0 of 1, with all key groups,
// in a live job whose sources may go idle (so fired windows are retained).
func fakeTaskContext(out Output) *TaskContext {
	groups := KeyGroupRange{Start: 0, End: DefaultMaxParallelism}
	return &TaskContext{
		Node: "test", Parallelism: 1, KeyGroups: groups, MaxParallelism: DefaultMaxParallelism,
		UpdatesPossible: true,
		Out:             out, State: NewStateBackend(groups), Metrics: &OperatorMetrics{},
		Logger: slog.New(slog.DiscardHandler),
	}
}

type bufferHarness struct {
	op      Operator
	newOp   func() Operator
	tc      *TaskContext
	out     *recordingOutput
	inputs  map[string]int
	schemas []*arrow.Schema
	cols    string // the column names last printed
}

func (h *bufferHarness) run(t *testing.T, d *datadriven.TestData) string {
	ctx := context.Background()
	switch d.Cmd {
	case "join", "topn":
		h.start(t, d)
		if err := h.op.Open(h.tc); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "batch":
		var name string
		d.ScanArgs(t, "input", &name)
		i, ok := h.inputs[name]
		if !ok {
			t.Fatalf("unknown input %q", name)
		}
		b := parseScriptBatch(t, h.schemas[i], d.Input)
		if err := h.op.ProcessBatch(ctx, i, b); err != nil {
			return "error: " + err.Error()
		}
	case "watermark":
		w := watermark.MaxTime
		if s := d.CmdArgs[0].Key; s != "inf" {
			sec, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			w = watermark.Time(sec * 1_000_000)
		}
		if err := h.op.ProcessWatermark(ctx, w); err != nil {
			return "error: " + err.Error()
		}
		if w == watermark.MaxTime {
			if err := h.op.Finish(ctx); err != nil {
				return "error: " + err.Error()
			}
		}
	case "metrics":
		m := h.tc.Metrics
		return fmt.Sprintf("retention_rows=%d updates=%d", m.RetentionRows.Load(), m.Updates.Load())
	case "keygroups":
		var m ManagedState
		switch op := h.op.(type) {
		case *windowJoinOp:
			m = op.buf
		case *windowTopNOp:
			m = op.buf
		}
		return fmt.Sprint(m.KeyGroups())
	case "restore":
		return h.restore(t)
	default:
		t.Fatalf("unknown command %q", d.Cmd)
	}
	return h.emitted()
}

// start builds the operator and its inputs from a join or topn command.
func (h *bufferHarness) start(t *testing.T, d *datadriven.TestData) {
	h.out = &recordingOutput{}
	h.tc = fakeTaskContext(h.out)
	h.inputs, h.schemas, h.cols = map[string]int{}, nil, ""
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		h.inputs[f[0]] = len(h.schemas)
		h.schemas = append(h.schemas, parseScriptSchema(t, f[1:]))
	}
	var retention time.Duration
	if d.HasArg("retention") {
		var s int
		d.ScanArgs(t, "retention", &s)
		retention = time.Duration(s) * time.Second
		if s == 0 {
			retention = -1
		}
	}
	args := func(key string) []string {
		if a, ok := d.Arg(key); ok {
			return a.Vals
		}
		return nil
	}
	if d.Cmd == "join" {
		kinds := map[string]JoinKind{"inner": InnerJoin, "left": LeftOuterJoin, "right": RightOuterJoin, "full": FullOuterJoin}
		kind := InnerJoin
		if d.HasArg("kind") {
			var k string
			d.ScanArgs(t, "kind", &k)
			kind = kinds[k]
		}
		spec := WindowJoinSpec{LeftKeys: args("left-keys"), RightKeys: args("right-keys"), Kind: kind, Retention: retention}
		if len(h.schemas) == 2 {
			spec.LeftSchema, spec.RightSchema = h.schemas[0], h.schemas[1]
		}
		lcols, rcols, err := joinExchangeKeys(spec, nil, nil)
		h.newOp = func() Operator { return &windowJoinOp{spec: spec, exchange: [2][]string{lcols, rcols}, err: err} }
		h.op = h.newOp()
		h.tc.InputKeys = lcols
		return
	}
	spec := TopNSpec{PartitionBy: args("partition"), Retention: retention, RankColumn: ""}
	d.ScanArgs(t, "n", &spec.N)
	if d.HasArg("rank") {
		d.ScanArgs(t, "rank", &spec.RankColumn)
	}
	for _, o := range args("order") {
		parts := strings.Split(o, ":")
		k := SortKey{Column: parts[0]}
		for _, p := range parts[1:] {
			k.Desc = k.Desc || p == "desc"
			k.NullsFirst = k.NullsFirst || p == "nullsfirst"
		}
		spec.OrderBy = append(spec.OrderBy, k)
	}
	keys := spec.PartitionBy
	if len(keys) == 0 {
		keys = []string{WindowStartColumn}
	}
	h.newOp = func() Operator { return &windowTopNOp{spec: spec, keyCols: keys} }
	h.op = h.newOp()
	h.tc.InputKeys = keys
}

// restore snapshots the operator and replaces it with a new one restored
// from the snapshot, which must snapshot to the same bytes.
func (h *bufferHarness) restore(t *testing.T) string {
	ctx := context.Background()
	blobs, err := h.op.(StateSnapshotter).SnapshotKeyGroups(ctx, Barrier{ID: 1})
	if err != nil {
		return "error: " + err.Error()
	}
	keys := h.tc.InputKeys
	h.tc = fakeTaskContext(h.out)
	h.tc.InputKeys = keys
	h.op = h.newOp()
	if err := h.op.Open(h.tc); err != nil {
		t.Fatal(err)
	}
	kgs := sortedMapKeys(blobs)
	for _, kg := range kgs {
		if err := h.op.(StateSnapshotter).RestoreKeyGroup(kg, blobs[kg]); err != nil {
			return "error: " + err.Error()
		}
	}
	again, err := h.op.(StateSnapshotter).SnapshotKeyGroups(ctx, Barrier{ID: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(blobs, again, bytes.Equal) {
		t.Errorf("the restored operator snapshots to other bytes")
	}
	return fmt.Sprintf("restored key groups %v", kgs)
}

// emitted prints and forgets what the operator emitted.
func (h *bufferHarness) emitted() string {
	var b strings.Builder
	for _, batch := range h.out.batches {
		if cols := schemaNames(batch.Rec.Schema()); cols != h.cols {
			h.cols = cols
			fmt.Fprintf(&b, "  %s\n", cols)
		}
		for i := range batch.Len() {
			b.WriteString(batch.Op(i).String())
			for _, c := range batch.Rec.Columns() {
				b.WriteString(" " + formatScriptValue(c, i))
			}
			b.WriteString("\n")
		}
	}
	h.out.batches = nil
	if b.Len() == 0 {
		return ""
	}
	return b.String()
}

func parseScriptSchema(t *testing.T, cols []string) *arrow.Schema {
	types := map[string]arrow.DataType{
		"int": arrow.PrimitiveTypes.Int64, "str": arrow.BinaryTypes.String,
		"float": arrow.PrimitiveTypes.Float64, "bool": arrow.FixedWidthTypes.Boolean,
	}
	var fields []arrow.Field
	for _, c := range cols {
		name, typ, _ := strings.Cut(c, ":")
		var dt arrow.DataType = columnar.TimestampType
		if typ != "" {
			var ok bool
			if dt, ok = types[typ]; !ok {
				t.Fatalf("unknown type %q", typ)
			}
		}
		fields = append(fields, arrow.Field{Name: name, Type: dt, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

// parseScriptBatch reads rows of schema, one per line.
func parseScriptBatch(t *testing.T, schema *arrow.Schema, input string) Batch {
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	var ops []Op
	retract := false
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		op := Insert
		if f[0] == "-" || f[0] == "+" {
			if f[0] == "-" {
				op, retract = Retract, true
			}
			f = f[1:]
		}
		ops = append(ops, op)
		if len(f) != schema.NumFields() {
			t.Fatalf("row %q has %d values for %d columns", line, len(f), schema.NumFields())
		}
		for i, v := range f {
			appendScriptValue(t, rb.Field(i), v)
		}
	}
	b := Batch{Rec: rb.NewRecordBatch()}
	if retract {
		b.Ops = ops
	}
	return b
}

func appendScriptValue(t *testing.T, fb array.Builder, v string) {
	if v == "null" {
		fb.AppendNull()
		return
	}
	var err error
	switch b := fb.(type) {
	case *array.Int64Builder:
		var x int64
		x, err = strconv.ParseInt(v, 10, 64)
		b.Append(x)
	case *array.TimestampBuilder:
		var x int64
		x, err = strconv.ParseInt(v, 10, 64)
		b.Append(arrow.Timestamp(x * 1_000_000))
	case *array.Float64Builder:
		var x float64
		x, err = strconv.ParseFloat(v, 64)
		b.Append(x)
	case *array.BooleanBuilder:
		var x bool
		x, err = strconv.ParseBool(v)
		b.Append(x)
	case *array.StringBuilder:
		b.Append(v)
	default:
		t.Fatalf("unsupported builder %T", fb)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// formatScriptValue prints row i of a column; timestamps in seconds.
func formatScriptValue(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	if a.DataType().ID() == arrow.TIMESTAMP {
		us := columnar.Int64Values(a)[i]
		if us%1_000_000 == 0 {
			return strconv.FormatInt(us/1_000_000, 10)
		}
		return strconv.FormatInt(us, 10) + "us"
	}
	return a.ValueStr(i)
}

// TestWindowBufferOrderAndRetention drives the buffer with a trivial
// compute function (the window's row counts) and checks firing order,
// retention and the state it reports.
func TestWindowBufferOrderAndRetention(t *testing.T) {
	ctx := context.Background()
	out := &recordingOutput{}
	tc := fakeTaskContext(out)
	var fired []Window
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: WindowStartColumn, Type: columnar.TimestampType},
		{Name: WindowEndColumn, Type: columnar.TimestampType},
	}, nil)
	count := func(w Window, in [][]rowChunk) ([]arrow.RecordBatch, error) {
		fired = append(fired, w)
		n := int64(chunkRows(in[0]))
		return []arrow.RecordBatch{columnar.Record(schema, []arrow.Array{
			columnar.Int64s([]int64{n}), columnar.Timestamps([]int64{w.Start}), columnar.Timestamps([]int64{w.End}),
		}, 1)}, nil
	}
	buf := newWindowBuffer(tc, 1, 5, []*KeySelector{Keys("k")}, count)
	rows := func(ws ...[3]int64) Batch {
		k, s, e := make([]int64, len(ws)), make([]int64, len(ws)), make([]int64, len(ws))
		for i, w := range ws {
			k[i], s[i], e[i] = w[0], w[1], w[2]
		}
		return Inserts(columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(s), columnar.Timestamps(e)}, len(ws)))
	}
	// Hop-like windows interleaved in one batch, and a second batch.
	if err := buf.add(ctx, 0, rows([3]int64{1, 0, 20}, [3]int64{2, 10, 20}, [3]int64{3, 0, 20}, [3]int64{4, 10, 30})); err != nil {
		t.Fatal(err)
	}
	if err := buf.add(ctx, 0, rows([3]int64{5, 5, 20})); err != nil {
		t.Fatal(err)
	}
	if err := buf.advance(ctx, 19); err != nil {
		t.Fatal(err)
	}
	if len(fired) != 0 {
		t.Fatalf("fired %v before any window end", fired)
	}
	if err := buf.advance(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if want := []Window{{0, 20}, {5, 20}, {10, 20}}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v (by end, then start)", fired, want)
	}
	if got := int64(chunkRows(buf.windows[Window{0, 20}].inputs[0])); got != 2 {
		t.Fatalf("window [0,20) holds %d rows, want 2", got)
	}
	hashes := make([]uint64, 5)
	if err := Keys("k").Hash(rows([3]int64{1, 0, 0}, [3]int64{2, 0, 0}, [3]int64{3, 0, 0}, [3]int64{4, 0, 0}, [3]int64{5, 0, 0}).Rec, hashes); err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, h := range hashes {
		want = append(want, KeyGroupOf(h, DefaultMaxParallelism))
	}
	slices.Sort(want)
	if kgs := buf.KeyGroups(); !slices.Equal(kgs, slices.Compact(want)) {
		t.Fatalf("key groups %v, want %v", kgs, want)
	}
	// Within retention (end 20 + 5): an update. Past it: dropped and counted.
	if err := buf.add(ctx, 0, rows([3]int64{6, 10, 20})); err != nil {
		t.Fatal(err)
	}
	if got := tc.Metrics.Updates.Load(); got != 2 {
		t.Fatalf("updates = %d, want 2 (retract 1, insert 1)", got)
	}
	if err := buf.advance(ctx, 25); err != nil {
		t.Fatal(err)
	}
	if len(buf.windows) != 1 {
		t.Fatalf("%d windows kept after retention, want 1", len(buf.windows))
	}
	if err := buf.add(ctx, 0, rows([3]int64{7, 0, 20}, [3]int64{8, 5, 20})); err != nil {
		t.Fatal(err)
	}
	if got := tc.Metrics.RetentionRows.Load(); got != 2 {
		t.Fatalf("retention rows = %d, want 2", got)
	}
	if err := buf.advance(ctx, watermark.MaxTime); err != nil {
		t.Fatal(err)
	}
	if len(buf.windows) != 0 || len(fired) != 5 {
		t.Fatalf("after +inf: %d windows kept, %d fired (want 0, 5)", len(buf.windows), len(fired))
	}
}

func TestDropTimeSaturates(t *testing.T) {
	b := &windowBuffer{retention: 10}
	if got := b.dropTime(math.MaxInt64 - 3); got != math.MaxInt64 {
		t.Fatalf("dropTime near max = %d", got)
	}
}

func TestCoalesce(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	rec := func(vals ...string) arrow.RecordBatch {
		return columnar.Record(schema, []arrow.Array{columnar.StringsOf(vals)}, len(vals))
	}
	out, err := coalesce([]arrow.RecordBatch{rec("a"), rec(), rec("b", "c"), rec("d", "e", "f"), rec("g")}, 4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out {
		got = append(got, r.Column(0).String())
	}
	if want := []string{`["a" "b" "c"]`, `["d" "e" "f" "g"]`}; !slices.Equal(got, want) {
		t.Fatalf("coalesce = %v, want %v", got, want)
	}
}

// windowedBids returns n bids (auction, bidder, price, date_time,
// window_start, window_end) in 10 s tumbling windows of perWindow bids, in
// batches of batch rows, and one (maxprice, window_start, window_end) row
// per window.
func windowedBids(n, perWindow, batch int) ([]Batch, Batch) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
		{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Int64},
		{Name: "date_time", Type: columnar.TimestampType},
		{Name: WindowStartColumn, Type: columnar.TimestampType},
		{Name: WindowEndColumn, Type: columnar.TimestampType},
	}, nil)
	const size = 10_000_000
	var x uint64 = 7
	next := func(m int64) int64 { // xorshift: cheap, deterministic
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return int64(x % uint64(m))
	}
	cols := make([][]int64, 6)
	for i := range cols {
		cols[i] = make([]int64, n)
	}
	var maxes, starts, ends []int64
	for i := range n {
		ts := int64(i) * size / int64(perWindow)
		ws := ts / size * size
		cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i] = next(1000), next(10_000), next(1_000_000), ts, ws, ws+size
		if len(starts) == 0 || starts[len(starts)-1] != ws {
			maxes, starts, ends = append(maxes, 0), append(starts, ws), append(ends, ws+size)
		}
		maxes[len(maxes)-1] = max(maxes[len(maxes)-1], cols[2][i])
	}
	var batches []Batch
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		arrs := []arrow.Array{columnar.Int64s(cols[0][lo:hi]), columnar.Int64s(cols[1][lo:hi]), columnar.Int64s(cols[2][lo:hi]),
			columnar.Timestamps(cols[3][lo:hi]), columnar.Timestamps(cols[4][lo:hi]), columnar.Timestamps(cols[5][lo:hi])}
		batches = append(batches, Inserts(columnar.Record(schema, arrs, hi-lo)))
	}
	maxSchema := arrow.NewSchema([]arrow.Field{
		{Name: "maxprice", Type: arrow.PrimitiveTypes.Int64},
		{Name: WindowStartColumn, Type: columnar.TimestampType},
		{Name: WindowEndColumn, Type: columnar.TimestampType},
	}, nil)
	right := Inserts(columnar.Record(maxSchema, []arrow.Array{columnar.Int64s(maxes), columnar.Timestamps(starts), columnar.Timestamps(ends)}, len(maxes)))
	return batches, right
}

// runOperator feeds an operator subtask batches on input 0 (and right on
// input 1 first, if any), each batch followed by a watermark at its last
// event time; it returns the number of rows emitted.
func runOperator(b *testing.B, op Operator, batches []Batch, right *Batch) int {
	ctx := context.Background()
	out := &recordingOutput{}
	if err := op.Open(fakeTaskContext(out)); err != nil {
		b.Fatal(err)
	}
	if right != nil {
		if err := op.ProcessBatch(ctx, 1, *right); err != nil {
			b.Fatal(err)
		}
	}
	for _, batch := range batches {
		if err := op.ProcessBatch(ctx, 0, batch); err != nil {
			b.Fatal(err)
		}
		ts := columnar.Int64Values(batch.Rec.Column(3))
		if err := op.ProcessWatermark(ctx, watermark.Time(ts[len(ts)-1])); err != nil {
			b.Fatal(err)
		}
	}
	if err := op.ProcessWatermark(ctx, watermark.MaxTime); err != nil {
		b.Fatal(err)
	}
	rows := 0
	for _, o := range out.batches {
		rows += o.Len()
	}
	return rows
}

// BenchmarkWindowJoinOperator measures the window join operator alone (one
// subtask, no exchange): q7's 1M bids in windows of 10,000 joined with the
// windows' max prices.
//
//	go test ./dataflow/ -run '^$' -bench Operator -benchtime 5x
func BenchmarkWindowJoinOperator(b *testing.B) {
	const n = 1_000_000
	batches, right := windowedBids(n, 10_000, 4096)
	spec := WindowJoinSpec{LeftKeys: []string{"price"}, RightKeys: []string{"maxprice"}}
	b.ReportAllocs()
	for b.Loop() {
		op := &windowJoinOp{spec: spec, exchange: [2][]string{{"price"}, {"maxprice"}}}
		if rows := runOperator(b, op, batches, &right); rows < n/10_000 {
			b.Fatalf("%d rows out", rows)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWindowTopNOperator measures the window top-N operator alone:
// the top 10 prices of each window, and the top 3 of each auction.
func BenchmarkWindowTopNOperator(b *testing.B) {
	const n = 1_000_000
	batches, _ := windowedBids(n, 10_000, 4096)
	for _, bc := range []struct {
		name string
		spec TopNSpec
	}{
		{"partition=none/n=10", TopNSpec{OrderBy: []SortKey{{Column: "price", Desc: true}}, N: 10, RankColumn: "rank"}},
		{"partition=auction/n=3", TopNSpec{PartitionBy: []string{"auction"}, OrderBy: []SortKey{{Column: "price", Desc: true}}, N: 3, RankColumn: "rank"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			keys := bc.spec.PartitionBy
			if len(keys) == 0 {
				keys = []string{WindowStartColumn}
			}
			b.ReportAllocs()
			for b.Loop() {
				if rows := runOperator(b, &windowTopNOp{spec: bc.spec, keyCols: keys}, batches, nil); rows == 0 {
					b.Fatal("no rows out")
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// TestWindowJoinOutputBatches checks that a large window output (a cross
// product) is emitted in batches of bounded size.
func TestWindowJoinOutputBatches(t *testing.T) {
	ctx := context.Background()
	out := &recordingOutput{}
	op := &windowJoinOp{exchange: [2][]string{{WindowStartColumn}, {WindowStartColumn}}}
	if err := op.Open(fakeTaskContext(out)); err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
		{Name: WindowStartColumn, Type: columnar.TimestampType},
		{Name: WindowEndColumn, Type: columnar.TimestampType},
	}, nil)
	const n = 300
	vals, starts, ends := make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range vals {
		vals[i], ends[i] = int64(i), 10
	}
	rec := columnar.Record(schema, []arrow.Array{columnar.Int64s(vals), columnar.Timestamps(starts), columnar.Timestamps(ends)}, n)
	for input := range 2 {
		if err := op.ProcessBatch(ctx, input, Inserts(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if err := op.ProcessWatermark(ctx, watermark.MaxTime); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, b := range out.batches {
		if b.Len() > coalesceRows+n {
			t.Errorf("a batch of %d rows", b.Len())
		}
		total += b.Len()
	}
	if total != n*n || len(out.batches) < 2 {
		t.Fatalf("%d rows in %d batches, want %d rows in several", total, len(out.batches), n*n)
	}
}
