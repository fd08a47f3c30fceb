package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/storage"
	"github.com/weirdata/weir/unbounded/nexmark"
)

// runGen is "weir gen": it writes a generated history as Parquet, in the
// layout weir's own history uses (split and position kept as columns).
func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen", "weir gen nexmark --events N --out URL [--seed S] [--base T] [--rate R] [--partitions P]", stderr)
	events := fs.Int64("events", 0, "number of events to generate (`N`, required)")
	out := fs.String("out", "", "destination `URL` (file:///path/, s3://bucket/prefix/ or a path, required)")
	seed := fs.Uint64("seed", 1, "random seed `S`; the same seed gives the same history")
	partitions := fs.Int("partitions", 4, "generator partitions `P`: each is a split, written as its own sequence of files")
	rate := fs.Int64("rate", 0, "events per second of event time (default 100000)")
	base := fs.String("base", "", "event time `T` of event 0, RFC 3339 (default 2026-01-01T00:00:00Z); with the same seed, rate and\n"+
		"partitions as a live feed nexmark://…?base=T, the history is the beginning of that feed, which a live run continues")
	codec := fs.String("codec", "snappy", "Parquet compression `CODEC`: snappy, zstd or none")
	fileRows := fs.Int64("file-rows", 1<<20, "rows per file at most")
	gen, err := parseNamed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case gen != "nexmark":
		return usagef(fs, "unknown generator %q (known: nexmark)", gen)
	case *events <= 0:
		return usagef(fs, "--events must be positive")
	case *out == "":
		return usagef(fs, "--out is required")
	case *partitions < 1:
		return usagef(fs, "--partitions must be positive")
	case *rate < 0:
		return usagef(fs, "--rate must be positive")
	}
	var baseTime time.Time
	if *base != "" {
		if baseTime, err = time.Parse(time.RFC3339Nano, *base); err != nil {
			return usagef(fs, "--base: %q is not an RFC 3339 time (2026-01-01T00:00:00Z)", *base)
		}
		baseTime = baseTime.UTC()
	}
	url := *out
	if !strings.HasSuffix(url, "/") {
		url += "/" // --out names a directory
	}
	store, prefix, err := storage.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("weir gen: %w", err)
	}
	cfg := nexmark.Config{Seed: *seed, Rate: *rate, Events: *events, BaseTime: baseTime}
	opts := parquet.WriterOptions{Codec: *codec, MaxFileRows: *fileRows, Lineage: true}
	start := time.Now()
	res, err := genNexmark(ctx, store, prefix, cfg, *partitions, opts)
	if err != nil {
		return fmt.Errorf("weir gen: %w", err)
	}
	elapsed := time.Since(start)
	var b strings.Builder
	c := cfg.WithDefaults()
	fmt.Fprintf(&b, "wrote %d Nexmark events (seed %d, %d partitions, rate %d/s, base %s, last event at %s) to %s in %s\n",
		*events, *seed, *partitions, c.Rate, c.BaseTime.Format(time.RFC3339Nano), lastEventTime(c).Format(time.RFC3339Nano), url, elapsed.Round(time.Millisecond))
	var files, rows, bytes int64
	for _, s := range res {
		fmt.Fprintf(&b, "  %-9s %5d files %12d rows %10.1f MB\n", s.dir, s.files, s.rows, float64(s.bytes)/1e6)
		files, rows, bytes = files+s.files, rows+s.rows, bytes+s.bytes
	}
	fmt.Fprintf(&b, "  %-9s %5d files %12d rows %10.1f MB   %.0f events/s, %.1f MB/s\n", "total", files, rows, float64(bytes)/1e6,
		float64(*events)/elapsed.Seconds(), float64(bytes)/1e6/elapsed.Seconds())
	_, err = io.WriteString(stdout, b.String())
	return err
}

// lastEventTime is the event time of the last event of cfg (defaults
// applied, Events > 0): where a live feed continuing the history takes over.
func lastEventTime(cfg nexmark.Config) time.Time {
	g := nexmark.NewGenerator(cfg, nexmark.Bid, 0, 1)
	return time.UnixMicro(g.EventTime(cfg.Events - 1)).UTC()
}

// streamStats is what gen wrote for one stream.
type streamStats struct {
	dir                string
	files, rows, bytes int64
}

// nexmarkStreams are the streams gen writes, each in a directory of its own.
var nexmarkStreams = []struct {
	kind nexmark.Kind
	dir  string
}{{nexmark.Person, "persons"}, {nexmark.Auction, "auctions"}, {nexmark.Bid, "bids"}}

// genNexmark writes the three Nexmark streams under prefix: for each
// stream, each generator partition p is written by its own writer as files
// part-<p>-<seq>.parquet, in event order, with the partition's split ID
// (the one the live nexmark:// source uses) and each event's position in
// _split and _position. Files are committed at the end: a failed or
// interrupted run leaves nothing behind.
func genNexmark(ctx context.Context, store storage.Store, prefix string, cfg nexmark.Config, partitions int, opts parquet.WriterOptions) ([]streamStats, error) {
	cfg = cfg.WithDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type job struct {
		stream, partition int
	}
	jobs := make(chan job)
	stats := make([]streamStats, len(nexmarkStreams))
	var mu sync.Mutex
	var writers []*parquet.Writer
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				s := nexmarkStreams[j.stream]
				o := opts
				o.Prefix = prefix + s.dir + "/"
				o.ID = fmt.Sprintf("%04d", j.partition)
				w, err := genPartition(ctx, store, cfg, s.kind, j.partition, partitions, o)
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				writers = append(writers, w)
				mu.Unlock()
			}
		})
	}
	for s := range nexmarkStreams {
		for p := range partitions {
			jobs <- job{s, p}
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		for _, w := range writers {
			_ = w.Abort(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	// Every file is written: commit them all.
	for s := range stats {
		stats[s].dir = nexmarkStreams[s].dir
	}
	for _, w := range writers {
		files, err := w.Close(ctx)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			for s := range stats {
				if strings.HasPrefix(f.Key, prefix+stats[s].dir+"/") {
					stats[s].files++
					stats[s].rows += f.Rows
					stats[s].bytes += f.Bytes
				}
			}
		}
	}
	return stats, nil
}

// genPartition writes one stream's partition and returns its writer with
// the files finished but not committed.
func genPartition(ctx context.Context, store storage.Store, cfg nexmark.Config, kind nexmark.Kind, p, partitions int, opts parquet.WriterOptions) (*parquet.Writer, error) {
	g := nexmark.NewGenerator(cfg, kind, p, partitions)
	w, err := parquet.NewWriter(store, g.Schema(), opts)
	if err != nil {
		return nil, err
	}
	// The live source's split ID (nexmark.Source), so that a backfill of
	// this history and a live run name the same splits.
	split := fmt.Sprintf("nexmark/%s/seed=%d/%d-of-%d", kind, cfg.Seed, p, partitions)
	var positions []int64
	for pos, done := int64(0), false; !done; {
		rec, next, d := g.Next(pos, 1<<16)
		positions = positions[:0]
		for q := pos; q < next; q++ {
			if nexmark.KindOf(g.EventNumber(q)) == kind {
				positions = append(positions, q)
			}
		}
		if int64(len(positions)) != rec.NumRows() {
			return nil, fmt.Errorf("nexmark %s partition %d: %d rows for %d positions", kind, p, rec.NumRows(), len(positions))
		}
		if err := w.WriteLineage(ctx, rec, split, positions); err != nil {
			_ = w.Abort(ctx)
			return nil, err
		}
		pos, done = next, d
	}
	if err := w.Precommit(ctx); err != nil {
		return nil, err
	}
	return w, nil
}
