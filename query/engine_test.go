package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
)

// collectSink folds each statement's changelog into a sorted row list.
type collectSink struct {
	mu       sync.Mutex
	schemas  map[int]*arrow.Schema
	counts   map[int]map[string]int
	order    map[int][]string // rows in arrival order (for ORDER BY checks)
	messages map[int]string
	progress int
	last     map[int]Progress // each statement's last progress
}

func newCollectSink() *collectSink {
	return &collectSink{schemas: map[int]*arrow.Schema{}, counts: map[int]map[string]int{}, order: map[int][]string{}, messages: map[int]string{}}
}

func (s *collectSink) Schema(i int, sc *arrow.Schema) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schemas[i] = sc
	s.counts[i] = map[string]int{}
	return nil
}

func (s *collectSink) Rows(i int, b dataflow.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := 0; r < b.Len(); r++ {
		parts := make([]string, b.Rec.NumCols())
		for c := range parts {
			parts[c] = b.Rec.Column(c).ValueStr(r)
		}
		row := strings.Join(parts, " | ")
		if b.Op(r) == dataflow.Retract {
			s.counts[i][row]--
		} else {
			s.counts[i][row]++
			s.order[i] = append(s.order[i], row)
		}
	}
	return nil
}

func (s *collectSink) Progress(i int, p Progress) error {
	s.mu.Lock()
	s.progress++
	if s.last == nil {
		s.last = map[int]Progress{}
	}
	s.last[i] = p
	s.mu.Unlock()
	return nil
}
func (s *collectSink) Done(i int, d Done) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages[i] = d.Message
	return nil
}

// rows returns statement i's folded rows, sorted.
func (s *collectSink) rows(t *testing.T, i int) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for row, n := range s.counts[i] {
		if n < 0 {
			t.Fatalf("statement %d: row %q retracted more than inserted", i, row)
		}
		for ; n > 0; n-- {
			out = append(out, row)
		}
	}
	sort.Strings(out)
	return out
}

func (s *collectSink) header(i int) string {
	var names []string
	for _, f := range s.schemas[i].Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, " | ")
}

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e := NewEngine(NewCatalog())
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ts", Type: columnar.TimestampType},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String},
	}, nil)
	batch := func(rows ...[4]any) arrow.RecordBatch {
		var k, ts, v []int64
		var names []string
		for _, r := range rows {
			k, ts, v, names = append(k, int64(r[0].(int))), append(ts, int64(r[1].(int))*1_000_000), append(v, int64(r[2].(int))), append(names, r[3].(string))
		}
		return columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), columnar.Int64s(v), columnar.StringsOf(names)}, len(rows))
	}
	e.Providers.Memory().Put("events", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{
		{batch([4]any{1, 1, 10, "a"}, [4]any{2, 3, 20, "b"}), batch([4]any{1, 4, 30, "a"}, [4]any{1, 12, 5, "a"})},
		{batch([4]any{2, 2, 7, "b"}, [4]any{3, 11, 1, "c"}), batch([4]any{3, 25, 2, "c"})},
	}})
	run(t, e, `CREATE TABLE events () WITH (history = 'mem://events', event_time = 'ts', watermark_delay = '5 seconds')`, RunOptions{})
	return e
}

func run(t *testing.T, e *Engine, sql string, opts RunOptions) *collectSink {
	t.Helper()
	s := newCollectSink()
	if err := e.Execute(context.Background(), sql, opts, s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func ts(sec int) string {
	return columnar.Timestamps([]int64{int64(sec) * 1_000_000}).ValueStr(0)
}

func TestQueries(t *testing.T) {
	e := newTestEngine(t)
	for _, tc := range []struct {
		sql    string
		header string
		want   []string
	}{
		{"SELECT k, v FROM events WHERE v > 9", "k | v", []string{"1 | 10", "1 | 30", "2 | 20"}},
		{"SELECT count(*) AS n, sum(v) AS s FROM events", "n | s", []string{"7 | 75"}},
		{"SELECT k, count(*), max(v) FROM events GROUP BY k", "k | count | max", []string{"1 | 3 | 30", "2 | 2 | 20", "3 | 2 | 2"}},
		{"SELECT k, window_start, count(*) AS n FROM TUMBLE(events, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end",
			"k | window_start | n", []string{
				"1 | " + ts(0) + " | 2", "1 | " + ts(10) + " | 1", "2 | " + ts(0) + " | 2", "3 | " + ts(10) + " | 1", "3 | " + ts(20) + " | 1"}},
		{"SELECT name, k * 2 + 1 AS x FROM events WHERE name = 'c'", "name | x", []string{"c | 7", "c | 7"}},
		{"SELECT DISTINCT name FROM events", "name", []string{"a", "b", "c"}},
		{"SELECT k FROM events UNION ALL SELECT k FROM events WHERE k = 3", "k", []string{"1", "1", "1", "2", "2", "3", "3", "3", "3"}},
		{"WITH big AS (SELECT * FROM events WHERE v >= 10) SELECT count(*) FROM big", "count", []string{"3"}},
		{"SELECT k, count(*) AS n FROM events GROUP BY k HAVING count(*) > 2", "k | n", []string{"1 | 3"}},
		{"SELECT 1 + 1 AS two", "two", []string{"2"}},
	} {
		for _, mode := range []Mode{Backfill, Live} {
			t.Run(fmt.Sprintf("%s/%s", mode, tc.sql), func(t *testing.T) {
				s := run(t, e, tc.sql, RunOptions{Mode: mode, Parallelism: 3})
				if h := s.header(0); h != tc.header {
					t.Errorf("header %q, want %q", h, tc.header)
				}
				got := s.rows(t, 0)
				want := append([]string(nil), tc.want...)
				sort.Strings(want)
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

func TestOrderByLimit(t *testing.T) {
	e := newTestEngine(t)
	s := run(t, e, "SELECT k, v FROM events ORDER BY v DESC LIMIT 3", RunOptions{})
	if got := strings.Join(s.order[0], ", "); got != "1 | 30, 2 | 20, 1 | 10" {
		t.Fatalf("ordered rows = %s", got)
	}
	// A memory table ends even in a live run, so ORDER BY is allowed there;
	// a feed that does not end is refused with a position.
	live := run(t, e, "SELECT k FROM events ORDER BY k DESC LIMIT 2", RunOptions{Mode: Live})
	if got := strings.Join(live.order[0], ", "); got != "3, 3" {
		t.Fatalf("live ordered rows = %s", got)
	}
	run(t, e, `CREATE TABLE feed () WITH (live = 'nexmark://bids?rate=1000', event_time = 'date_time')`, RunOptions{})
	err := e.Execute(context.Background(), "SELECT auction FROM feed\nORDER BY auction", RunOptions{Mode: Live}, newCollectSink())
	var qe *Error
	if !errors.As(err, &qe) || !errors.Is(err, ErrUnsupported) || qe.Line != 2 {
		t.Fatalf("ORDER BY over a live feed: %v, want an unsupported error at line 2", err)
	}
}

func TestErrorsHavePositions(t *testing.T) {
	e := newTestEngine(t)
	for _, tc := range []struct {
		sql       string
		msg       string
		line, col int
	}{
		{"SELECT nope FROM events", `column "nope" does not exist`, 1, 8},
		{"SELECT k\nFROM missing", `relation "missing" does not exist`, 2, 6},
		{"SELECT k, count(*) FROM events\nGROUP BY v", `column "k" must appear in the GROUP BY clause`, 1, 8},
		{"SELECT k FROM events WHERE count(*) > 1", "aggregate functions are not allowed in WHERE", 1, 28},
		{"SELECT * FROM TUMBLE(events, k, INTERVAL '1' SECOND)", "must window by the input's event-time column", 1, 30},
		{"SELECT k FROM events WHERE", "syntax error at end of input", 1, 27},
	} {
		err := e.Execute(context.Background(), tc.sql, RunOptions{}, newCollectSink())
		var qe *Error
		if !errors.As(err, &qe) {
			t.Errorf("%s: error %v, want *Error", tc.sql, err)
			continue
		}
		if !strings.Contains(qe.Msg, tc.msg) || qe.Line != tc.line || qe.Column != tc.col {
			t.Errorf("%s:\ngot  %q at %d:%d\nwant %q at %d:%d", tc.sql, qe.Msg, qe.Line, qe.Column, tc.msg, tc.line, tc.col)
		}
	}
}

func TestNexmarkTable(t *testing.T) {
	e := NewEngine(NewCatalog())
	run(t, e, `CREATE TABLE bids () WITH (live = 'nexmark://bids?events=50000&partitions=3', event_time = 'date_time')`, RunOptions{})
	s := run(t, e, `SELECT count(*) FROM bids; EXPLAIN SELECT auction, count(*) FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_start, window_end`, RunOptions{})
	if got := s.rows(t, 0); len(got) != 1 || got[0] != "46000" {
		t.Fatalf("count = %v, want 46000 bids of 50000 events", got)
	}
	plan := strings.Join(s.order[1], "\n")
	if !strings.Contains(plan, "WindowAggregate TUMBLE(10s)") || !strings.Contains(plan, "hash") {
		t.Fatalf("EXPLAIN:\n%s", plan)
	}
}

// An event-time column of another unit or without a time zone (a Parquet
// TIMESTAMP without time zone) is what the source makes of it: UTC µs.
func TestEventTimeWithoutZone(t *testing.T) {
	e := NewEngine(NewCatalog())
	ntz := &arrow.TimestampType{Unit: arrow.Millisecond}
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: ntz}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	ts := columnar.Fixed(ntz, []int64{1_000, 2_000, 12_000}, nil, 0)
	rec := columnar.Record(schema, []arrow.Array{ts, columnar.Int64s([]int64{1, 2, 3})}, 3)
	e.Providers.Memory().Put("ntz", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{{rec}}})
	run(t, e, `CREATE TABLE ntz () WITH (history = 'mem://ntz', event_time = 'ts')`, RunOptions{})
	for _, mode := range []Mode{Backfill, Live} {
		s := run(t, e, `SELECT window_start, sum(v) AS s FROM TUMBLE(ntz, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end; SELECT ts, v FROM ntz WHERE v = 3`, RunOptions{Mode: mode})
		if got := strings.Join(s.rows(t, 0), "; "); got != ts0(0)+" | 3; "+ts0(10)+" | 3" {
			t.Errorf("%s windows: %s", mode, got)
		}
		if got := strings.Join(s.rows(t, 1), "; "); !strings.HasSuffix(got, "| 3") {
			t.Errorf("%s rows: %s", mode, got)
		}
	}
}

func ts0(sec int) string { return ts(sec) }

// WHERE conjuncts on one side of an inner join are applied below it.
func TestFilterPushedIntoJoin(t *testing.T) {
	e := newTestEngine(t)
	sql := "SELECT a.v, b.v FROM events a JOIN events b ON a.k = b.k WHERE a.v > 9 AND b.v < 8"
	for _, mode := range []Mode{Backfill, Live} {
		s := run(t, e, sql+"; EXPLAIN "+sql, RunOptions{Mode: mode, Parallelism: 2})
		if got := strings.Join(s.rows(t, 0), "; "); got != "10 | 5; 20 | 7; 30 | 5" {
			t.Errorf("%s: rows %s", mode, got)
		}
		plan := strings.Join(s.order[1], "\n")
		join := strings.Index(plan, "join")
		if join < 0 || strings.Count(plan[join:], "Filter") != 2 {
			t.Errorf("%s: filters not below the join:\n%s", mode, plan)
		}
	}
}
