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
