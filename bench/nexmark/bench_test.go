package nexmark

import (
	"context"
	"testing"
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
