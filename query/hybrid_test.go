package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/unbounded/nexmark"
)

// histOpts vary how writeBids writes a history.
type histOpts struct {
	noLineage bool
	oneFile   bool             // all partitions into one file
	splitID   func(int) string // the split ID of a partition (default: the feed's)
}

// writeBids writes the bids of cfg's events as weir gen does: one writer
// per generator partition, with lineage (unless o says otherwise). It
// returns the history's URL.
func writeBids(t *testing.T, cfg nexmark.Config, partitions int, o histOpts) string {
	t.Helper()
	ctx := context.Background()
	url := "file://" + t.TempDir() + "/"
	store, prefix, err := storage.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.WithDefaults()
	lineage := !o.noLineage
	var w *parquet.Writer
	for p := range partitions {
		g := nexmark.NewGenerator(cfg, nexmark.Bid, p, partitions)
		if w == nil || !o.oneFile {
			if w, err = parquet.NewWriter(store, g.Schema(), parquet.WriterOptions{Prefix: prefix, ID: fmt.Sprintf("%04d", p), Lineage: lineage, RowGroupRows: 4096}); err != nil {
				t.Fatal(err)
			}
		}
		id := fmt.Sprintf("nexmark/%s/seed=%d/%d-of-%d", nexmark.Bid, cfg.Seed, p, partitions) // as weir gen and the feed name it
		if o.splitID != nil {
			id = o.splitID(p)
		}
		for pos, done := int64(0), false; !done; {
			rec, next, d := g.Next(pos, 1<<13)
			var positions []int64
			for q := pos; q < next; q++ {
				if nexmark.KindOf(g.EventNumber(q)) == nexmark.Bid {
					positions = append(positions, q)
				}
			}
			if lineage {
				err = w.WriteLineage(ctx, rec, id, positions)
			} else {
				err = w.Write(ctx, rec)
			}
			if err != nil {
				t.Fatal(err)
			}
			pos, done = next, d
		}
		if !o.oneFile || p == partitions-1 {
			if _, err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return url
}

// hybridSetup is a history of the first events of a Nexmark feed whose base
// lies an hour in the past, and a table with that history and the feed.
type hybridSetup struct {
	base            time.Time
	e               *Engine
	live            string // the feed's URL, ending after `total` events
	short, long     string // histories of `short` and `total` events
	shortN, totalN  int64
	shortEnd, fromT time.Time
}

func newHybridSetup(t *testing.T) *hybridSetup {
	t.Helper()
	const rate, partitions = 1000, 4
	s := &hybridSetup{base: time.Now().UTC().Add(-time.Hour).Truncate(time.Second), shortN: 20_017, totalN: 35_000}
	cfg := nexmark.Config{Seed: 7, Rate: rate, BaseTime: s.base}
	cfg.Events = s.shortN
	s.short = writeBids(t, cfg, partitions, histOpts{})
	cfg.Events = s.totalN
	s.long = writeBids(t, cfg, partitions, histOpts{})
	s.live = fmt.Sprintf("nexmark://bids?seed=7&rate=%d&partitions=%d&base=%s&events=%d", rate, partitions, s.base.Format(time.RFC3339), s.totalN)
	s.shortEnd = s.base.Add(20 * time.Second)
	s.fromT = s.base.Add(5*time.Second + 300*time.Millisecond)
	s.e = NewEngine(NewCatalog())
	run(t, s.e, fmt.Sprintf(`CREATE TABLE bids () WITH (history = '%s', live = '%s', event_time = 'date_time', watermark_delay = '1 second');
		CREATE TABLE bids_long () WITH (history = '%s', event_time = 'date_time', watermark_delay = '1 second')`, s.short, s.live, s.long), RunOptions{})
	return s
}

// TestHybridEqualsBackfill: a live run from a time inside the history reads
// the history, then the feed from the next position of each split, and
// gives the rows a backfill over a longer history of the same events
// gives: no gap, no duplicate, the same windows.
func TestHybridEqualsBackfill(t *testing.T) {
	s := newHybridSetup(t)
	for _, q := range []string{
		`SELECT window_start, window_end, count(*) AS n, sum(price) AS total FROM TUMBLE(%s, date_time, INTERVAL '1' SECOND) GROUP BY window_start, window_end`,
		`SELECT auction, window_start, max(price) AS top FROM TUMBLE(%s, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_start, window_end`,
		`SELECT _split, window_start, count(*) AS n, count(DISTINCT _position) AS positions, min(_position) AS first, max(_position) AS last
			FROM TUMBLE(%s, date_time, INTERVAL '5' SECOND) GROUP BY _split, window_start, window_end`,
	} {
		live := run(t, s.e, fmt.Sprintf(q, "bids"), RunOptions{Mode: Live, From: s.fromT, Parallelism: 3}).rows(t, 0)
		backfill := run(t, s.e, fmt.Sprintf(q, "bids_long"), RunOptions{Mode: Backfill, From: s.fromT, Parallelism: 2}).rows(t, 0)
		if len(backfill) < 10 {
			t.Fatalf("%s: the backfill has only %d rows", q, len(backfill))
		}
		if !slices.Equal(live, backfill) {
			t.Errorf("%s:\nlive from %s (%d rows) differs from the backfill (%d rows):\n%s", q, s.fromT, len(live), len(backfill), diffRows(live, backfill))
		}
	}

	// Per split and 5 s window: as many distinct positions as rows, and
	// the windows on both sides of the history's end are all there.
	rows := run(t, s.e, `SELECT _split, window_start, count(*) AS n, count(DISTINCT _position) AS d
		FROM TUMBLE(bids, date_time, INTERVAL '5' SECOND) GROUP BY _split, window_start, window_end`,
		RunOptions{Mode: Live, From: s.fromT}).rows(t, 0)
	windows := map[string]bool{}
	for _, r := range rows {
		f := strings.Split(r, " | ")
		if f[2] != f[3] {
			t.Errorf("split %s, window %s: %s rows, %s distinct positions", f[0], f[1], f[2], f[3])
		}
		windows[f[1]] = true
	}
	for _, at := range []time.Time{s.shortEnd.Add(-5 * time.Second), s.shortEnd, s.shortEnd.Add(10 * time.Second)} {
		if w := columnar.Timestamps([]int64{at.Truncate(5 * time.Second).UnixMicro()}).ValueStr(0); !windows[w] {
			t.Errorf("no rows in the window starting at %s (history ends at %s); windows: %v", w, s.shortEnd, windows)
		}
	}
}

// diffRows lists the rows only one side has (at most 10 each).
func diffRows(a, b []string) string {
	count := map[string]int{}
	for _, r := range a {
		count[r]++
	}
	for _, r := range b {
		count[r]--
	}
	var out []string
	for r, n := range count {
		switch {
		case n > 0:
			out = append(out, fmt.Sprintf("  live only (%d): %s", n, r))
		case n < 0:
			out = append(out, fmt.Sprintf("  backfill only (%d): %s", -n, r))
		}
	}
	slices.Sort(out)
	return strings.Join(out[:min(len(out), 20)], "\n")
}

// TestHybridPositions: a split opened at any position p (a restart from a
// checkpoint) returns exactly the rows at positions ≥ p of the split read
// from the start — in the history, at the switch and in the feed — and its
// positions are the feed's.
func TestHybridPositions(t *testing.T) {
	s := newHybridSetup(t)
	tab, _ := s.e.Catalog.Table("bids")
	ctx := context.Background()
	src, bounded, err := s.e.openTable(ctx, tab, SourceRequest{Mode: Live, From: s.fromT, EventTime: "date_time", Columns: []string{"price", parquet.PositionColumn, "date_time"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bounded {
		t.Fatal("a feed of events=N is bounded")
	}
	splits, err := src.Splits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 4 || splits[1].ID() != "nexmark/bid/seed=7/1-of-4" {
		t.Fatalf("splits %v, want the feed's four", sortedIDs(splits))
	}
	sp := splits[1]
	all, ends := readAll(t, sp, 0)
	hist := src.(*hybridSource).hist.bySplit[sp.ID()]
	if hist == nil || hist.last <= 0 {
		t.Fatalf("split %s: no history (%+v)", sp.ID(), hist)
	}
	// Positions increase by the feed's steps, through the switch.
	var prev int64 = -1
	for i, r := range all {
		if r.pos <= prev {
			t.Fatalf("row %d: position %d after %d", i, r.pos, prev)
		}
		prev = r.pos
	}
	if all[0].time.Before(s.fromT) || all[len(all)-1].pos <= hist.last {
		t.Fatalf("rows from %s at %d to %d: want them from %s and beyond the history's last position %d", all[0].time, all[0].pos, prev, s.fromT, hist.last)
	}
	for _, p := range []int64{all[0].pos, all[len(all)/3].pos + 1, hist.last, hist.last + 1, ends[len(ends)/2], all[len(all)-1].pos} {
		got, _ := readAll(t, sp, dataflow.Position(p))
		i, _ := slices.BinarySearchFunc(all, p, func(r posRow, p int64) int { return int(r.pos - p) })
		if want := all[i:]; !slices.Equal(got, want) {
			t.Errorf("opened at %d: %d rows from %v, want %d from %v", p, len(got), first(got), len(want), first(want))
		}
	}
}

type posRow struct {
	pos, price int64
	time       time.Time
}

func first(rs []posRow) any {
	if len(rs) == 0 {
		return nil
	}
	return rs[0]
}

// readAll reads split sp from pos to its end; ends are the positions Next
// returned.
func readAll(t *testing.T, sp dataflow.Split, pos dataflow.Position) ([]posRow, []int64) {
	t.Helper()
	ctx := context.Background()
	rd, err := sp.Open(ctx, pos)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rd.Close() }()
	var rows []posRow
	var ends []int64
	for {
		rec, p, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			return rows, ends
		}
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, int64(p))
		price, position, tm := columnar.Int64Values(rec.Column(0)), columnar.Int64Values(rec.Column(1)), columnar.Int64Values(rec.Column(2))
		for i := range price {
			rows = append(rows, posRow{pos: position[i], price: price[i], time: time.UnixMicro(tm[i]).UTC()})
		}
		if n := len(rows); n > 0 && rows[n-1].pos >= int64(p) {
			t.Fatalf("Next returned position %d after a row at %d", p, rows[n-1].pos)
		}
	}
}

func sortedIDs(splits []dataflow.Split) []string {
	var ids []string
	for _, s := range splits {
		ids = append(ids, s.ID())
	}
	return ids
}

// TestHybridRefuses: what cannot be continued without a gap or a
// duplicate fails when the query is compiled, naming the table and why.
func TestHybridRefuses(t *testing.T) {
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	cfg := nexmark.Config{Seed: 3, Rate: 1000, BaseTime: base, Events: 4000}
	feed := func(partitions int, b time.Time) string {
		return fmt.Sprintf("nexmark://bids?seed=3&rate=1000&partitions=%d&base=%s", partitions, b.Format(time.RFC3339))
	}
	withLineage := writeBids(t, cfg, 2, histOpts{})
	for _, tc := range []struct {
		name, history, live string
		want                []string
	}{
		{"no lineage", writeBids(t, cfg, 2, histOpts{noLineage: true}), feed(2, base), []string{"history has no lineage", "_split", "_position"}},
		{"partitioning", withLineage, feed(4, base), []string{"split nexmark/bid/seed=3/0-of-2", "partitioned alike"}},
		{"base time", withLineage, feed(2, base.Add(time.Second)), []string{"same events", "base time"}},
		{"several splits per file", writeBids(t, cfg, 2, histOpts{oneFile: true}), feed(2, base), []string{"several splits", "part-0000-000000.parquet"}},
		{"overlap", writeBids(t, cfg, 2, histOpts{splitID: func(int) string { return "nexmark/bid/seed=3/0-of-2" }}), feed(2, base),
			[]string{"overlap", "split nexmark/bid/seed=3/0-of-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(NewCatalog())
			run(t, e, fmt.Sprintf(`CREATE TABLE t () WITH (history = '%s', live = '%s', event_time = 'date_time')`, tc.history, tc.live), RunOptions{})
			sink := newCollectSink()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := e.Execute(ctx, "SELECT count(*) FROM t", RunOptions{Mode: Live, From: base.Add(time.Second)}, sink)
			if err == nil {
				t.Fatal("no error")
			}
			// At the table's name in the FROM clause.
			for _, w := range append(tc.want, `table "t"`, "line 1, column 22") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
