package dataflow_test

// Behaviour scripts for window aggregates (testdata/windows), driven through
// whole jobs: bounded.Memory source → KeyBy → WindowAggregate → a recording
// sink, with the source's late output recorded too. The idle, barrier and graph
// scripts live in dd_*_test.go and share the row syntax below. Regenerate
// expected output with `go test ./dataflow -run Script -args -rewrite` and
// read the diff.
//
// Rows. A row is "k=1@10s v=5": key k, event time after "@" (seconds since
// the epoch, or any Go duration: -3s, 9.999999s, 1m30s; null for none), and
// value v. A field left out is NULL; "null" spells NULL too. k is an int64
// column unless some key is not an integer (then a string column); v is an
// int64 column unless some value has a decimal point (then float64). Rows are
// separated by ",", batches by "|"; every line of input starts a new batch.
//
// testdata/windows:
//
//	source delay=4s [skew=1m]     define the source: one line per split,
//	0: k=1@10s v=5, k=2@12s | …   "<split>: rows"; a split may continue on
//	                              more lines.
//
//	run [parallelism=(1, 2, 4)]   run the pipeline over the source, once per
//	    [trace]                   parallelism (source and aggregates alike)
//	window tumble 10s             and per batching: as written, one row per
//	aggs count(*) sum(v)          batch, and each split in one batch.
//
// The run input describes stages: "window tumble <size>", "window hop
// <slide> <size>", "window cumulate <step> <size>", "window session <gap>",
// or "window from-columns" (a cascade stage that groups by the window_start
// and window_end its input carries) starts a stage; "keys k" sets its
// grouping keys (default k; a bare "keys" groups by the window alone) and
// "aggs" its aggregates: count(*), count(c), sum(c), min(c), max(c), avg(c),
// each named by its own text (so a later stage can sum(sum(v))).
//
// Every run must give the same folded result (DESIGN.md §4: window contents
// depend only on each split's sequence); the output is that result sorted,
// the late side output sorted, and the counters summed over subtasks. When
// runs disagree, the output of each is printed instead, which fails the
// script. With trace (one split, parallelism 1 first, so that the order is
// deterministic) the output starts with what the sink received in that
// first run, in order: rows ("+"/"-") and watermarks.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/cockroachdb/datadriven"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

func TestWindowScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/windows", func(t *testing.T, path string) {
		var src *ddSource
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "source":
				src = &ddSource{}
				if d.HasArg("delay") {
					src.strategy.Delay = ddDurationArg(t, d, "delay")
				}
				if d.HasArg("skew") {
					src.strategy.MaxSkew = ddDurationArg(t, d, "skew")
				}
				if err := src.parse(d.Input); err != nil {
					d.Fatalf(t, "%v", err)
				}
				return fmt.Sprintf("splits=%d rows=%d", len(src.splits), src.rows())
			case "run":
				if src == nil {
					d.Fatalf(t, "run before source")
				}
				stages, err := ddParseStages(d.Input)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				pars := []int{1, 2, 4}
				if arg, ok := d.Arg("parallelism"); ok {
					pars = pars[:0]
					for i := range arg.Vals {
						var p int
						arg.Scan(t, i, &p)
						pars = append(pars, p)
					}
				}
				trace := d.HasArg("trace")
				if trace && (len(src.splits) != 1 || pars[0] != 1) {
					d.Fatalf(t, "trace needs one split and parallelism 1 first, to be deterministic")
				}
				return ddRunWindows(t, src, stages, pars, trace)
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

// ddSource is a bounded source described by a script.
type ddSource struct {
	strategy watermark.Strategy
	splits   [][][]ddRow // split → batch → row
}

func (s *ddSource) rows() int {
	n := 0
	for _, sp := range s.splits {
		for _, b := range sp {
			n += len(b)
		}
	}
	return n
}

func (s *ddSource) parse(input string) error {
	for _, line := range strings.Split(input, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("%q: want <split>: <rows>", line)
		}
		i, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(name, "split")))
		if err != nil || i < 0 || i > len(s.splits) {
			return fmt.Errorf("%q: splits are numbered 0, 1, … in order", line)
		}
		batches, err := ddParseBatches(rest)
		if err != nil {
			return err
		}
		if i == len(s.splits) {
			s.splits = append(s.splits, nil)
		}
		s.splits[i] = append(s.splits[i], batches...)
	}
	return nil
}

// ddRow is one input record: key, event time (µs, nil = NULL) and value.
type ddRow struct {
	k, v *string
	ts   *int64
}

// ddParseBatches reads rows separated by "," and batches separated by "|".
func ddParseBatches(text string) ([][]ddRow, error) {
	var out [][]ddRow
	for _, b := range strings.Split(text, "|") {
		var batch []ddRow
		for _, r := range strings.Split(b, ",") {
			if strings.TrimSpace(r) == "" {
				continue
			}
			row, err := ddParseRow(r)
			if err != nil {
				return nil, err
			}
			batch = append(batch, row)
		}
		if len(batch) > 0 {
			out = append(out, batch)
		}
	}
	return out, nil
}

func ddParseRow(text string) (ddRow, error) {
	var row ddRow
	for _, f := range strings.Fields(text) {
		if i := strings.Index(f, "@"); i >= 0 {
			ts, err := ddParseTime(f[i+1:])
			if err != nil {
				return row, fmt.Errorf("row %q: %w", text, err)
			}
			row.ts = ts
			if f = f[:i]; f == "" {
				continue
			}
		}
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			return row, fmt.Errorf("row %q: field %q is not name=value", text, f)
		}
		var p *string
		if val != "null" && val != "NULL" {
			p = &val
		}
		switch name {
		case "k":
			row.k = p
		case "v":
			row.v = p
		default:
			return row, fmt.Errorf("row %q: unknown field %q (k, v and @time)", text, name)
		}
	}
	return row, nil
}

// ddParseTime reads seconds since the epoch (10, -3, 9.999999), a Go
// duration (1m30s), or null.
func ddParseTime(s string) (*int64, error) {
	if s == "null" || s == "NULL" {
		return nil, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("bad time %q", s)
	}
	us := d.Microseconds()
	return &us, nil
}

// ddSchema infers the column types of rows (see the file comment).
func ddSchema(rows []ddRow) *arrow.Schema {
	kType, vType := arrow.DataType(arrow.PrimitiveTypes.Int64), arrow.DataType(arrow.PrimitiveTypes.Int64)
	for _, r := range rows {
		if r.k != nil {
			if _, err := strconv.ParseInt(*r.k, 10, 64); err != nil {
				kType = arrow.BinaryTypes.String
			}
		}
		if r.v != nil && strings.ContainsAny(*r.v, ".eEnN") {
			vType = arrow.PrimitiveTypes.Float64
		}
	}
	return arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: kType, Nullable: true},
		{Name: "ts", Type: columnar.TimestampType, Nullable: true},
		{Name: "v", Type: vType, Nullable: true},
	}, nil)
}

// ddRecord builds a batch of rows in schema.
func ddRecord(t testing.TB, schema *arrow.Schema, rows []ddRow) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	appendVal := func(fb array.Builder, s *string) {
		if s == nil {
			fb.AppendNull()
			return
		}
		var err error
		switch fb := fb.(type) {
		case *array.Int64Builder:
			var v int64
			v, err = strconv.ParseInt(*s, 10, 64)
			fb.Append(v)
		case *array.Float64Builder:
			var v float64
			v, err = strconv.ParseFloat(*s, 64)
			fb.Append(v)
		case *array.StringBuilder:
			fb.Append(*s)
		}
		if err != nil {
			t.Fatalf("value %q: %v", *s, err)
		}
	}
	for _, r := range rows {
		appendVal(b.Field(0), r.k)
		ts := b.Field(1).(*array.TimestampBuilder)
		if r.ts == nil {
			ts.AppendNull()
		} else {
			ts.Append(arrow.Timestamp(*r.ts))
		}
		appendVal(b.Field(2), r.v)
	}
	return b.NewRecordBatch()
}

// ddStage is one window aggregate of a run.
type ddStage struct {
	window      dataflow.Assigner
	fromColumns bool
	keys        []string
	aggs        []dataflow.Agg
}

func ddParseStages(input string) ([]ddStage, error) {
	var stages []ddStage
	for _, line := range strings.Split(input, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] != "window" && len(stages) == 0 {
			return nil, fmt.Errorf("%q: a stage starts with a window line", line)
		}
		switch f[0] {
		case "window":
			st := ddStage{keys: []string{"k"}}
			if len(f) < 2 {
				return nil, fmt.Errorf("%q: window kind missing", line)
			}
			var ds []time.Duration
			for _, a := range f[2:] {
				d, err := time.ParseDuration(a)
				if err != nil {
					return nil, fmt.Errorf("%q: %w", line, err)
				}
				ds = append(ds, d)
			}
			want := map[string]int{"tumble": 1, "hop": 2, "cumulate": 2, "session": 1, "from-columns": 0}
			if n, ok := want[f[1]]; !ok || n != len(ds) {
				return nil, fmt.Errorf("%q: want tumble <size>, hop <slide> <size>, cumulate <step> <size>, session <gap> or from-columns", line)
			}
			switch f[1] {
			case "tumble":
				st.window = dataflow.Tumble(ds[0])
			case "hop":
				st.window = dataflow.Hop(ds[0], ds[1])
			case "cumulate":
				st.window = dataflow.Cumulate(ds[0], ds[1])
			case "session":
				st.window = dataflow.Session(ds[0])
			case "from-columns":
				st.fromColumns = true
			}
			stages = append(stages, st)
		case "keys":
			stages[len(stages)-1].keys = f[1:]
		case "aggs":
			for _, a := range f[1:] {
				agg, err := ddParseAgg(a)
				if err != nil {
					return nil, err
				}
				stages[len(stages)-1].aggs = append(stages[len(stages)-1].aggs, agg)
			}
		default:
			return nil, fmt.Errorf("%q: want window, keys or aggs", line)
		}
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no stages")
	}
	return stages, nil
}

func ddParseAgg(s string) (dataflow.Agg, error) {
	open := strings.Index(s, "(")
	if open < 0 || !strings.HasSuffix(s, ")") {
		return dataflow.Agg{}, fmt.Errorf("aggregate %q: want fn(column)", s)
	}
	fn, col := s[:open], s[open+1:len(s)-1]
	agg := dataflow.Agg{Column: col, As: s}
	switch fn {
	case "count":
		agg.Func = dataflow.Count
		if col == "*" {
			agg.Func, agg.Column = dataflow.CountAll, ""
		}
	case "sum":
		agg.Func = dataflow.Sum
	case "min":
		agg.Func = dataflow.Min
	case "max":
		agg.Func = dataflow.Max
	case "avg":
		agg.Func = dataflow.Avg
	default:
		return agg, fmt.Errorf("aggregate %q: unknown function %q", s, fn)
	}
	return agg, nil
}

// ddRunWindows runs the stages over src for every parallelism and batching
// and prints the common result.
func ddRunWindows(t *testing.T, src *ddSource, stages []ddStage, pars []int, withTrace bool) string {
	var all []ddRow
	for _, sp := range src.splits {
		for _, b := range sp {
			all = append(all, b...)
		}
	}
	schema := ddSchema(all)
	batchings := []struct {
		name string
		fn   func([][]ddRow) [][]ddRow
	}{
		{"as written", func(b [][]ddRow) [][]ddRow { return b }},
		{"one row per batch", func(bs [][]ddRow) [][]ddRow {
			var out [][]ddRow
			for _, b := range bs {
				for _, r := range b {
					out = append(out, []ddRow{r})
				}
			}
			return out
		}},
		{"one batch per split", func(bs [][]ddRow) [][]ddRow {
			var one []ddRow
			for _, b := range bs {
				one = append(one, b...)
			}
			if one == nil {
				return nil
			}
			return [][]ddRow{one}
		}},
	}
	type result struct{ name, out string }
	var results []result
	var firstTrace string
	for _, p := range pars {
		for _, bt := range batchings {
			parts := make([][]arrow.RecordBatch, len(src.splits))
			for i, sp := range src.splits {
				for _, b := range bt.fn(sp) {
					parts[i] = append(parts[i], ddRecord(t, schema, b))
				}
			}
			out, trace := ddRunWindowJob(&bounded.Memory{Sch: schema, Parts: parts}, src.strategy, stages, p)
			results = append(results, result{fmt.Sprintf("parallelism %d, %s", p, bt.name), out})
			if len(results) == 1 {
				firstTrace = trace
			}
		}
	}
	same := true
	for _, r := range results[1:] {
		same = same && r.out == results[0].out
	}
	if same {
		if withTrace {
			return "trace:\n" + ddIndent(firstTrace) + results[0].out
		}
		return results[0].out
	}
	var b strings.Builder
	b.WriteString("RUNS DISAGREE\n")
	for _, r := range results {
		fmt.Fprintf(&b, "== %s\n%s", r.name, r.out)
	}
	return b.String()
}

func ddRunWindowJob(mem *bounded.Memory, strategy watermark.Strategy, stages []ddStage, p int) (result, trace string) {
	g := dataflow.NewGraph(p)
	in := g.Source("src", dataflow.SourceSpec{Source: mem, EventTime: "ts", Watermarks: strategy})
	s := in
	var aggNames []string
	for i, st := range stages {
		name := fmt.Sprintf("agg%d", i+1)
		aggNames = append(aggNames, name)
		s = s.KeyBy(ddPartitionKeys(st)...).WindowAggregate(name, p, ddWindowSpec(st))
	}
	out := ddCollect(s, "out")
	late := ddCollect(in.Late(), "late")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		return fmt.Sprintf("error: %v\n", err), ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := job.Run(ctx); err != nil {
		return fmt.Sprintf("error: %v\n", err), ""
	}
	var b strings.Builder
	b.WriteString("rows:\n")
	ddWriteRows(&b, ddFold(out.batches()))
	b.WriteString("late:\n")
	ddWriteRows(&b, ddFold(late.batches()))
	src := ddSum(job, "src")
	aggs := ddSum(job, aggNames...)
	fmt.Fprintf(&b, "counters: late=%d future=%d null_time=%d retention=%d updates=%d\n",
		src.late, src.future, src.nullTime, aggs.retention, aggs.updates)
	return b.String(), out.trace()
}

// ddSink records what reaches it, batches and watermarks, in order. It has
// parallelism 1, so the order is the one its single input delivered.
type ddSink struct {
	mu     sync.Mutex
	events []ddEvent
	read   int // events already printed by next
}

type ddEvent struct {
	batch dataflow.Batch
	wm    watermark.Time
}

func ddCollect(s dataflow.Stream, name string) *ddSink {
	k := &ddSink{}
	s.Apply(name, 1, func() dataflow.Operator { return &ddSinkOp{sink: k} })
	return k
}

type ddSinkOp struct {
	dataflow.BaseOperator
	sink *ddSink
}

func (o *ddSinkOp) ProcessBatch(_ context.Context, _ int, b dataflow.Batch) error {
	o.sink.mu.Lock()
	defer o.sink.mu.Unlock()
	o.sink.events = append(o.sink.events, ddEvent{batch: b})
	return nil
}

func (o *ddSinkOp) ProcessWatermark(_ context.Context, w watermark.Time) error {
	o.sink.mu.Lock()
	defer o.sink.mu.Unlock()
	o.sink.events = append(o.sink.events, ddEvent{wm: w})
	return nil
}

func (k *ddSink) batches() []dataflow.Batch {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []dataflow.Batch
	for _, e := range k.events {
		if e.batch.Rec != nil {
			out = append(out, e.batch)
		}
	}
	return out
}

// trace prints every event in order: "+ row" / "- row" for changelog rows,
// "watermark t" for watermarks.
func (k *ddSink) trace() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return ddTrace(k.events)
}

// next prints the events since the previous call.
func (k *ddSink) next() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := ddTrace(k.events[k.read:])
	k.read = len(k.events)
	return s
}

// nextSorted is next for a sink fed by several subtasks, whose interleaving
// is not deterministic: the rows since the last call sorted (a retraction
// before an insertion of the same row), then the last watermark.
func (k *ddSink) nextSorted() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	events := k.events[k.read:]
	k.read = len(k.events)
	type line struct{ row, op string }
	var lines []line
	var last *ddEvent
	for i, e := range events {
		if e.batch.Rec == nil {
			last = &events[i]
			continue
		}
		for r := 0; r < e.batch.Len(); r++ {
			lines = append(lines, line{ddFormatRow(e.batch.Rec, r), e.batch.Op(r).String()})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if lines[i].row != lines[j].row {
			return lines[i].row < lines[j].row
		}
		return lines[i].op == "-" && lines[j].op == "+"
	})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", l.op, l.row)
	}
	if last != nil {
		fmt.Fprintf(&b, "watermark %s\n", ddSecs(int64(last.wm)))
	}
	return b.String()
}

func ddTrace(events []ddEvent) string {
	var b strings.Builder
	for _, e := range events {
		if e.batch.Rec == nil {
			fmt.Fprintf(&b, "watermark %s\n", ddSecs(int64(e.wm)))
			continue
		}
		for r := 0; r < e.batch.Len(); r++ {
			fmt.Fprintf(&b, "%s %s\n", e.batch.Op(r), ddFormatRow(e.batch.Rec, r))
		}
	}
	return b.String()
}

type ddCounters struct{ late, future, nullTime, retention, updates int64 }

// ddSum adds up the counters of the named nodes' subtasks.
func ddSum(job *dataflow.Job, nodes ...string) ddCounters {
	var c ddCounters
	for _, n := range nodes {
		for _, m := range job.Metrics(n) {
			c.late += m.LateRows.Load()
			c.future += m.FutureRows.Load()
			c.nullTime += m.NullTimeRows.Load()
			c.retention += m.RetentionRows.Load()
			c.updates += m.Updates.Load()
		}
	}
	return c
}

// ddFold folds a changelog into its rows (a sorted multiset); a row
// retracted more often than inserted is shown with a "-" and its excess.
func ddFold(batches []dataflow.Batch) []string {
	counts := map[string]int{}
	for _, b := range batches {
		for r := 0; r < b.Len(); r++ {
			s := ddFormatRow(b.Rec, r)
			if b.Op(r) == dataflow.Retract {
				counts[s]--
			} else {
				counts[s]++
			}
		}
	}
	var out []string
	for s, n := range counts {
		for ; n > 0; n-- {
			out = append(out, s)
		}
		for ; n < 0; n++ {
			out = append(out, "- "+s+"  (retracted, never inserted)")
		}
	}
	sort.Strings(out)
	return out
}

func ddIndent(s string) string {
	if s == "" {
		return "  (nothing)\n"
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

func ddWriteRows(b *strings.Builder, rows []string) {
	if len(rows) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, r := range rows {
		fmt.Fprintf(b, "  %s\n", r)
	}
}

// ddFormatRow prints row r in the script syntax: the ts column as "@time"
// after the field before it, window_start and window_end as "[start,end)",
// other columns as name=value.
func ddFormatRow(rec arrow.RecordBatch, r int) string {
	var fields []string
	schema := rec.Schema()
	for j := 0; j < int(rec.NumCols()); j++ {
		name := schema.Field(j).Name
		val := ddValue(rec.Column(j), r)
		switch name {
		case "ts":
			if len(fields) > 0 {
				fields[len(fields)-1] += "@" + val
			} else {
				fields = append(fields, "@"+val)
			}
		case dataflow.WindowStartColumn:
			end := ""
			if e := schema.FieldIndices(dataflow.WindowEndColumn); len(e) == 1 {
				end = ddValue(rec.Column(e[0]), r)
			}
			fields = append(fields, "["+val+","+end+")")
		case dataflow.WindowEndColumn:
		default:
			fields = append(fields, name+"="+val)
		}
	}
	return strings.Join(fields, " ")
}

func ddValue(col arrow.Array, r int) string {
	if col.IsNull(r) {
		return "NULL"
	}
	switch c := col.(type) {
	case *array.Int64:
		return strconv.FormatInt(c.Value(r), 10)
	case *array.Float64:
		return strconv.FormatFloat(c.Value(r), 'g', -1, 64)
	case *array.Timestamp:
		return ddSecs(int64(c.Value(r)))
	case *array.String:
		return c.Value(r)
	}
	return col.ValueStr(r)
}

// ddSecs formats µs as exact seconds since the epoch: 10s, -0.5s, 9.999999s.
func ddSecs(us int64) string {
	switch watermark.Time(us) {
	case watermark.MinTime:
		return "-inf"
	case watermark.MaxTime:
		return "+inf"
	}
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	s := fmt.Sprintf("%s%d", sign, us/1_000_000)
	if frac := us % 1_000_000; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")
	}
	return s + "s"
}

func ddDurationArg(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var s string
	d.ScanArgs(t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}
