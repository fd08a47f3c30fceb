package dataflow_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weirdata/weir/dataflow"
)

func TestIntervalJoin(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		r := rand.New(rand.NewPCG(seed, 5))
		left, right := randomJoinInput(r, 3, 50), randomJoinInput(r, 2, 60)
		for _, b := range [][2]int64{{-2, 3}, {0, 0}, {1, 10}} {
			want := referenceJoin(left.all(), right.all(), false, func(l, r [3]int64) bool {
				return r[1]-l[1] >= b[0] && r[1]-l[1] <= b[1]
			})
			for _, p := range []int{1, 2, 4} {
				for _, batch := range []int{1, 5, 100} {
					got := runJoin(t, p, batch, left, right, false, func(g *dataflow.Graph, l, rs dataflow.Stream) dataflow.Stream {
						return g.IntervalJoin("join", p, l, rs, dataflow.IntervalJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"},
							LeftTime: "ts", RightTime: "ts", Lower: time.Duration(b[0]) * time.Second, Upper: time.Duration(b[1]) * time.Second,
							LeftSchema: testSchema, RightSchema: testSchema})
					})
					checkJoin(t, fmt.Sprintf("seed %d bounds %v p=%d batch=%d", seed, b, p, batch), got, want)
				}
			}
		}
	}
}
