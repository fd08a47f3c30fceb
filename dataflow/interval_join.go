package dataflow

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// IntervalJoinSpec describes an interval join (Flink SQL's interval join):
// a left and a right row join when their keys are equal and the right
// row's event time lies within [left time + Lower, left time + Upper]:
//
//	ON l.k = r.k AND r.ts BETWEEN l.ts - INTERVAL '5' SECOND AND l.ts + INTERVAL '10' SECOND
//
// is Lower = −5s, Upper = 10s. Matches are emitted as soon as the second
// row of a pair arrives (insert-only output), and each buffered row is
// dropped once the watermark passes the end of the interval in which the
// other side could still match it. Which pairs join depends only on the
// rows, never on arrival order, so backfill and live agree.
//
// Output columns: as RegularJoinSpec's. Only inner joins are supported.
type IntervalJoinSpec struct {
	LeftKeys, RightKeys []string
	LeftTime, RightTime string
	Lower, Upper        time.Duration
	// LeftSchema and RightSchema are the inputs' schemas.
	LeftSchema, RightSchema *arrow.Schema
}

// IntervalJoin adds an interval join; both inputs are keyed by their join
// keys.
func (g *Graph) IntervalJoin(name string, p int, left, right Stream, spec IntervalJoinSpec) Stream {
	js := streamJoinSpec{leftKeys: spec.LeftKeys, rightKeys: spec.RightKeys, kind: InnerJoin,
		leftTime: spec.LeftTime, rightTime: spec.RightTime, leftSchema: spec.LeftSchema, rightSchema: spec.RightSchema,
		bounded: true, lower: spec.Lower.Microseconds(), upper: spec.Upper.Microseconds()}
	return g.Connect(name, p, func() Operator { return &streamJoinOp{spec: js, name: "interval join"} },
		left.KeyBy(spec.LeftKeys...), right.KeyBy(spec.RightKeys...))
}
