package dataflow_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/weirdata/weir/dataflow"
)

func TestLookupJoin(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		r := rand.New(rand.NewPCG(seed, 9))
		stream, table := randomJoinInput(r, 3, 40), randomJoinInput(r, 2, 3)
		for _, kind := range []dataflow.JoinKind{dataflow.InnerJoin, dataflow.LeftOuterJoin} {
			want := referenceJoin(stream.all(), table.all(), kind == dataflow.LeftOuterJoin, func(l, r [3]int64) bool { return true })
			for _, p := range []int{1, 3} {
				for _, batch := range []int{1, 8} {
					got := runJoin(t, p, batch, stream, table, true, func(g *dataflow.Graph, l, rs dataflow.Stream) dataflow.Stream {
						return g.LookupJoin("join", p, l, rs, dataflow.LookupJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"},
							Kind: kind, LeftSchema: testSchema, RightSchema: testSchema})
					})
					checkJoin(t, fmt.Sprintf("seed %d %s p=%d batch=%d", seed, kind, p, batch), got, want)
				}
			}
		}
	}
}
