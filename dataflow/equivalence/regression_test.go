package equivalence

import (
	"testing"
	"time"

	"github.com/weirdata/weir/dataflow"
)

// TestFiredSessionsMergedByOneBatch: split 0 fires sessions [0,2) and [3,5)
// of key 1 while split 1 is idle; then one batch of split 1 extends [3,5) to
// [2,5) (an update) and bridges it with [0,2) into [0,5). The session merged
// away stayed among the batch's updates and was inserted again, from its
// released slot: an extra row "1 2 5 2".
func TestFiredSessionsMergedByOneBatch(t *testing.T) {
	at := func(t int) record { return record{k: 1, ts: base + us(ticks(t))} }
	w := workload{splits: [][]record{{at(0), at(3), at(20), at(21), at(22), at(23)}, {at(2), at(1)}}, delay: tick,
		q: query{kind: sessionW, a: ticks(2), aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}}}}
	c := config{live: true, srcPar: 1, opPar: 1, idle: 10 * time.Millisecond, cuts: [][]int{{1, 1, 1, 1, 1, 1}, {2}},
		pause: func(split, _ int) time.Duration { return []time.Duration{5 * time.Millisecond, time.Second}[split] }}
	if err := check(t, w, c, reference(w)); err != nil {
		t.Fatalf("%s\n%v\nworkload:\n%s", c, err, w)
	}
}
