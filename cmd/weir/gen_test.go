package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/unbounded/nexmark"
)

// TestGenNexmark generates a small history, reads it back with the Parquet
// source, and queries it through `weir query`.
func TestGenNexmark(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const events, partitions = 30_000, 3
	var stdout, stderr bytes.Buffer
	args := []string{"gen", "nexmark", "--events", fmt.Sprint(events), "--out", "file://" + dir + "/",
		"--seed", "7", "--partitions", fmt.Sprint(partitions), "--file-rows", "4000", "--codec", "zstd"}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("weir gen: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "bids") || !strings.Contains(stdout.String(), "total") {
		t.Fatalf("weir gen printed:\n%s", stdout.String())
	}

	// The rows of each stream are its events among 0 … events-1.
	want := map[nexmark.Kind]int64{}
	for e := range int64(events) {
		want[nexmark.KindOf(e)]++
	}
	store, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range nexmarkStreams {
		infos, err := store.List(ctx, s.dir+"/")
		if err != nil {
			t.Fatal(err)
		}
		var rows int64
		// Files by generator partition, in name order: the partition's
		// sequence of files.
		byPart := map[string][]storage.ObjectInfo{}
		for _, f := range infos {
			base := path.Base(f.Key) // part-<partition>-<seq>.parquet
			part := strings.Split(base, "-")[1]
			byPart[part] = append(byPart[part], f)
		}
		for part, files := range byPart {
			sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
			src, err := parquet.New(ctx, store, files, parquet.Options{})
			if err != nil {
				t.Fatal(err)
			}
			splits, err := src.Splits(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lastTime, lastPos, split := int64(-1), int64(-1), ""
			for _, sp := range splits {
				rd, err := sp.Open(ctx, 0)
				if err != nil {
					t.Fatal(err)
				}
				for {
					rec, _, err := rd.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					rows += rec.NumRows()
					ts := column(t, rec, "date_time").(*array.Timestamp)
					pos := column(t, rec, parquet.PositionColumn).(*array.Int64)
					sid := column(t, rec, parquet.SplitColumn).(*array.String)
					for i := range int(rec.NumRows()) {
						if v := int64(ts.Value(i)); v < lastTime {
							t.Fatalf("%s partition %s: event time went back from %d to %d", s.dir, part, lastTime, v)
						} else {
							lastTime = v
						}
						if v := pos.Value(i); v <= lastPos {
							t.Fatalf("%s partition %s: position went back from %d to %d", s.dir, part, lastPos, v)
						} else {
							lastPos = v
						}
						if split == "" {
							split = sid.Value(i)
						} else if sid.Value(i) != split {
							t.Fatalf("%s partition %s: splits %q and %q", s.dir, part, split, sid.Value(i))
						}
					}
				}
				_ = rd.Close()
			}
			p, _ := strconv.Atoi(part)
			if wantSplit := fmt.Sprintf("nexmark/%s/seed=7/%d-of-%d", s.kind, p, partitions); split != wantSplit {
				t.Errorf("%s partition %s: split %q, want %q", s.dir, part, split, wantSplit)
			}
		}
		if rows != want[s.kind] {
			t.Errorf("%s: %d rows, want %d", s.dir, rows, want[s.kind])
		}
	}

	// weir query reads it.
	stdout.Reset()
	stderr.Reset()
	q := fmt.Sprintf("SELECT count(*) FROM read_parquet('file://%s/bids/**/*.parquet')", dir)
	if code := run(ctx, []string{"query", "--format", "csv", "--workspace", t.TempDir(), q}, &stdout, &stderr); code != 0 {
		t.Fatalf("weir query: exit %d: %s", code, stderr.String())
	}
	if got, wantOut := stdout.String(), fmt.Sprintf("count\n%d\n", want[nexmark.Bid]); got != wantOut {
		t.Fatalf("weir query printed %q, want %q", got, wantOut)
	}
}

func column(t *testing.T, rec arrow.RecordBatch, name string) arrow.Array {
	t.Helper()
	is := rec.Schema().FieldIndices(name)
	if len(is) != 1 {
		t.Fatalf("no column %q in %s", name, rec.Schema())
	}
	return rec.Column(is[0])
}

// TestGenBaseLiveFrom generates a history whose base lies an hour in the
// past, and runs `weir query --mode live --from T` on a table with that
// history and the matching live feed: the 1 s windows go on through the
// history's end with every bid, and the lineage positions continue.
func TestGenBaseLiveFrom(t *testing.T) {
	ctx := context.Background()
	dir, ws := t.TempDir(), t.TempDir()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	b := base.Format(time.RFC3339)
	var stdout, stderr bytes.Buffer
	// 10 017 events at 1000/s: the history ends 10.016 s after base, and
	// the first events after it are bids.
	args := []string{"gen", "nexmark", "--events", "10017", "--rate", "1000", "--partitions", "2", "--base", b, "--out", "file://" + dir + "/"}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("weir gen: exit %d: %s", code, &stderr)
	}
	if want := "base " + b + ", last event at " + base.Add(10016*time.Millisecond).Format(time.RFC3339Nano); !strings.Contains(stdout.String(), want) {
		t.Fatalf("weir gen printed %q, want it to say %q", &stdout, want)
	}
	ddl := fmt.Sprintf(`CREATE TABLE bids () WITH (history = 'file://%s/bids/', live = 'nexmark://bids?rate=1000&partitions=2&seed=1&base=%s', event_time = 'date_time')`, dir, b)
	if code := run(ctx, []string{"query", "--workspace", ws, ddl}, &stdout, &stderr); code != 0 {
		t.Fatalf("weir query: exit %d: %s", code, &stderr)
	}
	stdout.Reset()
	from := base.Add(5 * time.Second)
	q := `SELECT _split, window_start, count(*) AS n, count(DISTINCT _position) AS d, min(_position) AS lo, max(_position) AS hi
		FROM TUMBLE(bids, date_time, INTERVAL '1' SECOND) GROUP BY _split, window_start, window_end`
	args = []string{"query", "--workspace", ws, "--mode", "live", "--from", from.Format(time.RFC3339), "--for", "3s", "--format", "csv", q}
	if code := run(ctx, args, &stdout, &stderr); code != 0 {
		t.Fatalf("weir query --mode live --from: exit %d: %s", code, &stderr)
	}
	// Per second of event time and partition: 500 events (positions), of
	// which 460 bids; the first two positions of each second are a person
	// or an auction (event numbers ≡ 0…3 mod 50), the last is a bid.
	type key struct {
		split string
		at    time.Time
	}
	rows := map[key][]string{}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n")[1:] {
		f := strings.Split(l, ",")
		at, err := time.Parse(time.RFC3339, f[2])
		if f[0] != "+" || err != nil {
			t.Fatalf("row %q: want an insert of a window", l)
		}
		rows[key{f[1], at}] = f[3:]
	}
	for p := range 2 {
		split := fmt.Sprintf("nexmark/bid/seed=1/%d-of-2", p)
		for s := 5; s < 20; s++ {
			at := base.Add(time.Duration(s) * time.Second)
			r := rows[key{split, at}]
			if r == nil {
				t.Fatalf("split %s: no window at %s (%d s after base; the history ends after 10 s); output:\n%s", split, at, s, &stdout)
			}
			if lo, hi := fmt.Sprint(500*s+2), fmt.Sprint(500*s+499); r[0] != "460" || r[1] != "460" || r[2] != lo || r[3] != hi {
				t.Errorf("split %s, window %d s after base: rows, distinct positions, first, last = %v, want 460, 460, %s, %s", split, s, r, lo, hi)
			}
		}
	}
}
