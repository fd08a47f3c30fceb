package query

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/unbounded/nexmark"
)

// replayFile is one history file: rows of one split from position first,
// with these event times (seconds).
type replayFile struct {
	writer string // the writer's ID, which names the file
	split  string
	first  int64
	secs   []int
}

// writeReplayHistory writes files of (ts, v) rows, v = the event time in
// seconds, with lineage unless noLineage. It returns the history's URL.
func writeReplayHistory(t *testing.T, files []replayFile, noLineage bool) string {
	t.Helper()
	ctx := context.Background()
	url := "file://" + t.TempDir() + "/"
	store, prefix, err := storage.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: columnar.TimestampType}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for _, f := range files {
		w, err := parquet.NewWriter(store, schema, parquet.WriterOptions{Prefix: prefix, ID: f.writer, Lineage: !noLineage})
		if err != nil {
			t.Fatal(err)
		}
		var ts, v, pos []int64
		for i, s := range f.secs {
			ts, v, pos = append(ts, int64(s)*1_000_000), append(v, int64(s)), append(pos, f.first+int64(i))
		}
		rec := columnar.Record(schema, []arrow.Array{columnar.Timestamps(ts), columnar.Int64s(v)}, len(ts))
		if noLineage {
			err = w.Write(ctx, rec)
		} else {
			err = w.WriteLineage(ctx, rec, f.split, pos)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

// TestReplayLineage: a backfill of a history written with lineage reads one
// split per _split, its files in position order, so a row that is late in
// its live split's sequence across a file boundary is late in the
// backfill too, exactly as in a live run from the same history — and not
// on time as it would be if its file were a split of its own.
func TestReplayLineage(t *testing.T) {
	const s0, s1 = "memory/0", "memory/1" // the split IDs of the live feed mem://feed
	files := []replayFile{
		// Split 0 spans two files; the file with its later positions sorts
		// first by name. 97 and 98 are more than 2 s behind the split's
		// maximum (100, then 103): late in the split's sequence, while 97
		// would be on time at the start of a split of its own.
		{writer: "b", split: s0, first: 0, secs: []int{90, 92, 95, 99, 100}},
		{writer: "a", split: s0, first: 5, secs: []int{97, 101, 103, 98, 105}},
		{writer: "c", split: s1, first: 0, secs: []int{91, 93, 107}},
	}
	lineage := writeReplayHistory(t, files, false)
	plain := writeReplayHistory(t, files, true)

	e := NewEngine(NewCatalog())
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: columnar.TimestampType}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	e.Providers.Memory().Put("feed", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{nil, nil}}) // a feed that ends where the history does
	run(t, e, fmt.Sprintf(`CREATE TABLE hist () WITH (history = '%s', event_time = 'ts', watermark_delay = '2 seconds');
		CREATE TABLE spliced () WITH (history = '%s', live = 'mem://feed', event_time = 'ts', watermark_delay = '2 seconds');
		CREATE TABLE plain () WITH (history = '%s', event_time = 'ts', watermark_delay = '2 seconds')`, lineage, lineage, plain), RunOptions{})

	const q = `SELECT window_start, count(*) AS n, sum(v) AS total FROM TUMBLE(%s, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end`
	from := time.Unix(80, 0).UTC()
	want := []string{ts(90) + " | 6 | 560", ts(100) + " | 5 | 516"}
	for _, tc := range []struct {
		name, table string
		opts        RunOptions
		want        []string
		late        int64
	}{
		{"backfill", "hist", RunOptions{Mode: Backfill, Parallelism: 2}, want, 2},
		{"backfill from", "hist", RunOptions{Mode: Backfill, From: from, To: time.Unix(200, 0), Parallelism: 1}, want, 2},
		{"backfill of a table with a feed", "spliced", RunOptions{Mode: Backfill, From: from, Parallelism: 2}, want, 2},
		{"history then live", "spliced", RunOptions{Mode: Live, From: from, Parallelism: 2}, want, 2},
		{"live, no feed", "hist", RunOptions{Mode: Live, Parallelism: 2}, want, 2},
		{"read_parquet", fmt.Sprintf("read_parquet('%s', event_time => 'ts', watermark_delay => INTERVAL '2' SECOND)", lineage),
			RunOptions{Mode: Backfill, Parallelism: 2}, want, 2},
		// Without lineage each file is a split: 97 starts one, on time.
		{"no lineage", "plain", RunOptions{Mode: Backfill, Parallelism: 2}, []string{ts(90) + " | 7 | 657", ts(100) + " | 5 | 516"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := run(t, e, fmt.Sprintf(q, tc.table), tc.opts)
			if got := s.rows(t, 0); !slices.Equal(got, tc.want) {
				t.Errorf("rows\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if got := s.last[0].LateRows; got != tc.late {
				t.Errorf("%d late rows, want %d", got, tc.late)
			}
		})
	}

	// The splits are the live ones; a split opened at a position (a
	// restart) returns the rows from there, across the file boundary.
	tab, _ := e.Catalog.Table("hist")
	ctx := context.Background()
	src, _, err := e.openTable(ctx, tab, SourceRequest{Mode: Backfill, EventTime: "ts", Columns: []string{"v", parquet.PositionColumn, "ts"}})
	if err != nil {
		t.Fatal(err)
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := sortedIDs(splits); !slices.Equal(ids, []string{s0, s1}) {
		t.Fatalf("splits %v, want %s and %s", ids, s0, s1)
	}
	for _, p := range []int64{0, 3, 5, 9, 10} {
		rows, _ := readAll(t, splits[0], dataflow.Position(p))
		var got []int64
		for _, r := range rows {
			got = append(got, r.pos)
		}
		var wantPos []int64
		for q := p; q < 10; q++ {
			wantPos = append(wantPos, q)
		}
		if !slices.Equal(got, wantPos) {
			t.Errorf("split %s opened at %d: positions %v, want %v", s0, p, got, wantPos)
		}
	}
}

// TestReplayFallsBack: a history read alone is replayed per lineage split
// only when its footers let the lineage be followed; otherwise each file
// is a split, as before, and every row is read.
func TestReplayFallsBack(t *testing.T) {
	cfg := nexmark.Config{Seed: 3, Rate: 1000, BaseTime: time.Unix(0, 0).UTC(), Events: 4000}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		o      histOpts
		replay bool
	}{
		{"lineage", histOpts{}, true},
		{"no lineage", histOpts{noLineage: true}, false},
		{"several splits per file", histOpts{oneFile: true}, false},
		{"overlap", histOpts{splitID: func(int) string { return "s" }}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(NewCatalog())
			e.Logger = slog.New(slog.DiscardHandler)
			run(t, e, fmt.Sprintf(`CREATE TABLE t () WITH (history = '%s', event_time = 'date_time')`, writeBids(t, cfg, 2, tc.o)), RunOptions{})
			tab, _ := e.Catalog.Table("t")
			src, _, err := e.openTable(ctx, tab, SourceRequest{Mode: Backfill, EventTime: "date_time", Columns: []string{"price"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := src.(*hybridSource); ok != tc.replay {
				t.Errorf("source %T, want a replay: %v", src, tc.replay)
			}
			want := run(t, e, "SELECT count(*) AS n, sum(price) AS s FROM t", RunOptions{Mode: Backfill, Parallelism: 2}).rows(t, 0)
			if got := run(t, e, "SELECT count(*) AS n, sum(price) AS s FROM read_parquet('"+tab.History+"', event_time => 'date_time')", RunOptions{Mode: Backfill}).rows(t, 0); !slices.Equal(got, want) || strings.HasPrefix(want[0], "0 ") {
				t.Errorf("%v, want %v (and not none)", got, want)
			}
		})
	}
}
