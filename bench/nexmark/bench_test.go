package nexmark

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkNexmark runs every query end to end (generator included) and
// reports events/s. `weir bench nexmark` is the full-size version:
//
//	go test -run '^$' -bench Nexmark -benchtime 3x ./bench/nexmark
func BenchmarkNexmark(b *testing.B) {
	for _, q := range Names() {
		b.Run("query="+q, func(b *testing.B) {
			b.ReportAllocs()
			var events int64
			for b.Loop() {
				r, err := Run(context.Background(), Options{Query: q, Events: 1_000_000, Parallelism: 2})
				if err != nil {
					b.Fatal(err)
				}
				events += r.Events
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func TestRunReportsMeasurements(t *testing.T) {
	r, err := Run(context.Background(), Options{Query: "q2", Events: 50_000, Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows == 0 || r.Wall <= 0 || r.CPU <= 0 || r.PeakRSS <= 0 {
		t.Fatalf("incomplete result %+v", r)
	}
	if _, err := Run(context.Background(), Options{Query: "q99"}); err == nil {
		t.Fatal("unknown query: want an error")
	}
}

// TestRunWithCheckpoints: with a checkpoint interval the job checkpoints
// into the directory as it runs and gives the result it gives without.
func TestRunWithCheckpoints(t *testing.T) {
	base, err := Run(t.Context(), Options{Query: "q5", Events: 2_000_000, Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r, err := Run(t.Context(), Options{Query: "q5", Events: 2_000_000, Parallelism: 2, CheckpointInterval: time.Millisecond, CheckpointDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r.Checkpoints == 0 || r.CheckpointBytes == 0 {
		t.Errorf("%d checkpoints, %d bytes: none taken", r.Checkpoints, r.CheckpointBytes)
	}
	if r.Rows != base.Rows {
		t.Errorf("%d result rows with checkpoints, %d without", r.Rows, base.Rows)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
		t.Errorf("checkpoint directory: %v, %d entries", err, len(entries))
	}
	if _, err := Run(t.Context(), Options{Query: "q5", Events: 1000, CheckpointInterval: time.Second}); err == nil {
		t.Error("a checkpoint interval without a directory: want an error")
	}
}

// BenchmarkCheckpointCost runs q5 without checkpoints and with one every
// second, for a profile of what checkpoints cost (`weir bench nexmark
// --checkpoint-interval` is the full-size comparison):
//
//	go test -run '^$' -bench CheckpointCost -benchtime 3x -cpuprofile cp.prof ./bench/nexmark
func BenchmarkCheckpointCost(b *testing.B) {
	for _, interval := range []time.Duration{0, time.Second} {
		b.Run("interval="+interval.String(), func(b *testing.B) {
			var events, checkpoints int64
			for b.Loop() {
				o := Options{Query: "q5", Events: 10_000_000, Parallelism: 2, CheckpointInterval: interval}
				if interval > 0 {
					o.CheckpointDir = b.TempDir()
				}
				r, err := Run(b.Context(), o)
				if err != nil {
					b.Fatal(err)
				}
				events, checkpoints = events+r.Events, checkpoints+r.Checkpoints
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(checkpoints)/float64(b.N), "checkpoints/op")
		})
	}
}
