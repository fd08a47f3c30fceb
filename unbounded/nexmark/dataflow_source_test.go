package nexmark_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/unbounded/nexmark"
	"github.com/weirdata/weir/watermark"
)

// A paced source releases events when the (fake) wall clock reaches their
// event time, and the watermark follows the clock even for persons, which
// one of two partitions never holds.
func TestPacedSourceFollowsClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		cfg := nexmark.Config{Seed: 1, Rate: 10_000, BaseTime: start}
		g := dataflow.NewGraph(2)
		var lastWM [2]watermark.Time
		persons := g.Source("persons", dataflow.SourceSpec{
			Source: &nexmark.Source{Config: cfg, Kind: nexmark.Person, Partitions: 2, Paced: true}, EventTime: "date_time", Live: true})
		bids := g.Source("bids", dataflow.SourceSpec{
			Source: &nexmark.Source{Config: cfg, Kind: nexmark.Bid, Partitions: 2, Paced: true}, EventTime: "date_time", Live: true})
		pc := persons.Collect("p")
		bc := bids.Collect("b")
		persons.Apply("wm", 1, func() dataflow.Operator { return &wmRecorder{out: &lastWM[0]} })

		ctx, cancel := context.WithCancelCause(context.Background())
		job, err := dataflow.NewJob(g, dataflow.JobOptions{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- job.Run(ctx) }()

		time.Sleep(2 * time.Second)
		synctest.Wait()
		// 2 s at 10,000 events/s: 20,000 events, 46/50 of them bids and
		// 1/50 persons, released in 10 ms steps.
		if n := bc.Rows(); n < 18_000 || n > 18_400 {
			t.Errorf("bids after 2 s = %d, want about 18,400", n)
		}
		if n := pc.Rows(); n < 380 || n > 400 {
			t.Errorf("persons after 2 s = %d, want about 400", n)
		}
		if behind := start.Add(2 * time.Second).Sub(lastWM[0].Std()); behind > 50*time.Millisecond {
			t.Errorf("persons watermark %s is %s behind the clock", lastWM[0], behind)
		}
		stop := errors.New("stop")
		cancel(stop)
		if err := <-done; !errors.Is(err, stop) {
			t.Fatalf("Run = %v", err)
		}
	})
}

type wmRecorder struct {
	dataflow.BaseOperator
	out *watermark.Time
}

func (o *wmRecorder) ProcessBatch(context.Context, int, dataflow.Batch) error { return nil }
func (o *wmRecorder) ProcessWatermark(_ context.Context, w watermark.Time) error {
	*o.out = w
	return nil
}
