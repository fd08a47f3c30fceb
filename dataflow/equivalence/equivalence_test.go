// Package equivalence is the proof of weir's central promise (DESIGN.md §4):
// a backfill over history and a live run over the same events give
// identical results.
//
// Each seed generates a workload (workload_test.go), computes its expected
// result by brute force (reference_test.go), and runs the engine several
// ways (run_test.go): bounded, and live with pauses that leave splits idle
// so that windows fire early and are updated later (livesource_test.go);
// with random parallelisms, batch sizes, split order, open splits, channel
// capacity and checkpoint barriers; and with failures: a third of the runs
// are killed at random moments and restarted from their latest complete
// checkpoint, sometimes at other parallelisms, and must still commit
// exactly the reference (sinks commit on checkpoint completion, so nothing
// uncommitted survives a failure). Every run's changelog folded into a
// table, its late side output and its late counters must equal the
// reference. Live runs execute in a testing/synctest bubble: pauses, the
// idle timeout and checkpoint moments are fake time.
//
//	go test ./dataflow/equivalence                          # 1,000 seeds
//	go test ./dataflow/equivalence -equivalence.seeds=20000 # more
//	go test ./dataflow/equivalence -equivalence.seed=42 -v  # one seed
package equivalence

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/weirdata/weir/watermark"
)

var (
	flagSeeds = flag.Int("equivalence.seeds", 1000, "number of seeds to run (100 with -short)")
	flagSeed  = flag.Uint64("equivalence.seed", 0, "run only this seed")
)

// runsPerSeed: half of them bounded, half live.
const runsPerSeed = 6

func TestEquivalence(t *testing.T) {
	if *flagSeed != 0 {
		checkSeed(t, *flagSeed)
		return
	}
	seeds := *flagSeeds
	if testing.Short() {
		seeds = min(seeds, 100)
	}
	t.Cleanup(func() {
		if seeds >= 100 && liveUpdates.Load() == 0 && !t.Failed() {
			t.Error("no live run re-emitted a window as an update: idleness never kicked in")
		}
		if seeds >= 100 && restores.Load() == 0 && !t.Failed() {
			t.Error("no run was restored from a checkpoint with state: failures never hit a checkpoint")
		}
	})
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			checkSeed(t, seed)
		})
	}
}

func checkSeed(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0))
	w := generate(r)
	want := reference(w)
	for i := range runsPerSeed {
		c := randomConfig(r, i >= runsPerSeed/2, len(w.splits))
		if err := check(t, w, c, want); err != nil {
			t.Fatalf("seed %d, run %d: %s\n%v\nworkload (times in ticks of %s after %s):\n%s\nreproduce: go test ./dataflow/equivalence -run 'TestEquivalence$' -equivalence.seed=%d -v",
				seed, i, c, err, tick, watermark.Time(base), w, seed)
		}
	}
}

// check runs w under c (inside a synctest bubble if live) and compares.
func check(t *testing.T, w workload, c config, want result) error {
	var got result
	var err error
	if c.live {
		synctest.Test(t, func(*testing.T) { got, err = run(w, c) })
	} else {
		got, err = run(w, c)
	}
	if err != nil {
		return err
	}
	var b strings.Builder
	diff(&b, "result", want.out1, got.out1)
	diff(&b, "second stage", want.out2, got.out2)
	diff(&b, "late rows", want.late, got.late)
	if c.failures == 0 && (got.lateN != want.lateN || got.futureN != want.futureN || got.nullTime != want.nullTime) {
		fmt.Fprintf(&b, "source counters late/future/null_time = %d/%d/%d, want %d/%d/%d\n",
			got.lateN, got.futureN, got.nullTime, want.lateN, want.futureN, want.nullTime)
	}
	if b.Len() > 0 {
		return errors.New(strings.TrimSuffix(b.String(), "\n"))
	}
	return nil
}

// diff writes the rows of two sorted multisets that are in only one of them.
func diff(b *strings.Builder, what string, want, got []string) {
	var lines []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			lines, i = append(lines, "  missing "+want[i]), i+1
		case i == len(want) || got[j] < want[i]:
			lines, j = append(lines, "  extra   "+got[j]), j+1
		default:
			i, j = i+1, j+1
		}
	}
	if lines != nil {
		fmt.Fprintf(b, "%s: %d rows, want %d\n%s\n", what, len(got), len(want), strings.Join(lines, "\n"))
	}
}
