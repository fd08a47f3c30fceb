package main

import (
	"context"
	"testing"
	"time"
)

// TestBenchLatency runs the latency benchmark briefly: windows must arrive,
// each after its end (a negative latency would mean a window was emitted
// before the wall clock, which paces the feed, reached its end).
func TestBenchLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a live query for seconds")
	}
	o := latencyOptions{Rate: 20_000, Partitions: 2, Window: 100 * time.Millisecond,
		Duration: 1500 * time.Millisecond, Warmup: 500 * time.Millisecond, Viewers: 3, Parallelism: 2}
	res, err := benchLatency(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Samples) < 5 {
		t.Fatalf("%d windows arrived in %s of 100 ms windows", len(res.Samples), o.Duration)
	}
	if res.Samples[0] < 0 {
		t.Fatalf("a window arrived %s before its end", -res.Samples[0])
	}
}
