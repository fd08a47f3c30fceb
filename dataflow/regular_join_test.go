package dataflow_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/watermark"
)

// joinInput is one side of a join test: splits of (k, ts s, v) rows, each
// split in time order (so no row is late).
type joinInput [][][3]int64

func randomJoinInput(r *rand.Rand, splits, n int) joinInput {
	in := make(joinInput, splits)
	for s := range in {
		ts := int64(0)
		for i := 0; i < n; i++ {
			ts += r.Int64N(4)
			in[s] = append(in[s], [3]int64{r.Int64N(5), ts, r.Int64N(1000)})
		}
	}
	return in
}

func (in joinInput) parts(batch int) [][]arrow.RecordBatch {
	var parts [][]arrow.RecordBatch
	for _, split := range in {
		var bs []arrow.RecordBatch
		for i := 0; i < len(split); i += batch {
			bs = append(bs, rows(split[i:min(i+batch, len(split))]...))
		}
		parts = append(parts, bs)
	}
	return parts
}

func (in joinInput) all() [][3]int64 {
	var out [][3]int64
	for _, s := range in {
		out = append(out, s...)
	}
	return out
}

func tsString(sec int64) string {
	return time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05Z")
}

func rowString(l, r *[3]int64) string {
	side := func(x *[3]int64) string {
		if x == nil {
			return "(null) (null) (null)"
		}
		return fmt.Sprintf("%d %s %d", x[0], tsString(x[1]), x[2])
	}
	return side(l) + " " + side(r)
}

// referenceJoin joins by brute force: match says whether l and r join.
func referenceJoin(left, right [][3]int64, outer bool, match func(l, r [3]int64) bool) []string {
	var out []string
	for i := range left {
		n := 0
		for j := range right {
			if left[i][0] == right[j][0] && match(left[i], right[j]) {
				out = append(out, rowString(&left[i], &right[j]))
				n++
			}
		}
		if n == 0 && outer {
			out = append(out, rowString(&left[i], nil))
		}
	}
	sort.Strings(out)
	return out
}

// runJoin runs a two-input join over memory sources; the right source
// carries no event time when rightTimeless.
func runJoin(t *testing.T, p, batch int, left, right joinInput, rightTimeless bool, build func(g *dataflow.Graph, l, r dataflow.Stream) dataflow.Stream) []string {
	t.Helper()
	g := dataflow.NewGraph(p)
	l := g.Source("left", dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: left.parts(batch)}, EventTime: "ts",
		Watermarks: watermark.Strategy{Delay: time.Second}})
	rspec := dataflow.SourceSpec{Source: &bounded.Memory{Sch: testSchema, Parts: right.parts(batch)}, EventTime: "ts",
		Watermarks: watermark.Strategy{Delay: time.Second}}
	if rightTimeless {
		rspec.EventTime = ""
	}
	r := g.Source("right", rspec)
	out := build(g, l, r).Collect("out")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fold(t, out)
}

func checkJoin(t *testing.T, name string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: %d rows, want %d\ngot  %v\nwant %v", name, len(got), len(want), head(got), head(want))
	}
}

func head(s []string) []string { return s[:min(len(s), 6)] }

func TestRegularJoin(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		left, right := randomJoinInput(r, 2, 40), randomJoinInput(r, 3, 30)
		for _, tc := range []struct {
			kind dataflow.JoinKind
			ttl  time.Duration
		}{{dataflow.InnerJoin, 0}, {dataflow.LeftOuterJoin, 0}, {dataflow.InnerJoin, 5 * time.Second}, {dataflow.LeftOuterJoin, 3 * time.Second}} {
			ttl := int64(tc.ttl / time.Second)
			want := referenceJoin(left.all(), right.all(), tc.kind == dataflow.LeftOuterJoin, func(l, r [3]int64) bool {
				return ttl == 0 || (r[1]-l[1] <= ttl && l[1]-r[1] <= ttl)
			})
			for _, p := range []int{1, 3} {
				for _, batch := range []int{1, 7} {
					got := runJoin(t, p, batch, left, right, false, func(g *dataflow.Graph, l, r dataflow.Stream) dataflow.Stream {
						return g.RegularJoin("join", p, l, r, dataflow.RegularJoinSpec{LeftKeys: []string{"k"}, RightKeys: []string{"k"},
							Kind: tc.kind, TTL: tc.ttl, LeftTime: "ts", RightTime: "ts", LeftSchema: testSchema, RightSchema: testSchema})
					})
					checkJoin(t, fmt.Sprintf("seed %d %s ttl %s p=%d batch=%d", seed, tc.kind, tc.ttl, p, batch), got, want)
				}
			}
		}
	}
}
