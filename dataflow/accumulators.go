package dataflow

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/internal/columnar"
)

// AggFunc is an aggregate function of a window or group aggregate.
type AggFunc uint8

const (
	// CountAll is count(*).
	CountAll AggFunc = iota
	// Count is count(col): rows where col is not null.
	Count
	Sum
	Min
	Max
	Avg
	// CountDistinct is count(DISTINCT col): the number of distinct non-null
	// values, kept exactly (a multiset per slot; see distinctSet).
	CountDistinct
	// SumDistinct and AvgDistinct add (average) the distinct values.
	SumDistinct
	AvgDistinct
	// ApproxPercentile is approx_percentile(col, Fraction): the value of
	// rank ⌊Fraction·(n−1)⌋ within 1% relative error (see ddSketch).
	ApproxPercentile
	// ApproxCountDistinct is approx_count_distinct(col): a HyperLogLog
	// estimate, exact below 256 values (see hllSketch). It cannot take
	// retractions.
	ApproxCountDistinct
)

func (f AggFunc) String() string {
	return [...]string{"count(*)", "count", "sum", "min", "max", "avg", "count_distinct", "sum_distinct", "avg_distinct",
		"approx_percentile", "approx_count_distinct"}[f]
}

// holistic aggregates keep a per-slot structure rather than one number.
func (f AggFunc) holistic() bool { return f >= CountDistinct }

// Agg is one aggregate: Func over Column, named As in the output.
type Agg struct {
	Func   AggFunc
	Column string
	As     string
	// Fraction is ApproxPercentile's percentile, in [0, 1].
	Fraction float64
}

// accumulators holds the state of every aggregate for a set of slots (one
// slot per key and window) in flat, typed arrays: no per-row allocation and
// no boxing. A slot's aggregate with n == 0 has seen no non-null value.
type accumulators struct {
	aggs  []accCol
	count []int64 // rows per slot (inserts − retractions)
	// track keeps, for min and max, every value's multiplicity per slot, so
	// that a retraction can be undone exactly. It costs a map per slot, so it
	// is on only where retractions can arrive: a stage that aggregates the
	// rows of another window operator in a job whose sources may go idle.
	track bool
}

type accCol struct {
	fn    AggFunc
	col   int            // input column, -1 for count(*)
	float bool           // the values are float64 (else int64-like)
	text  bool           // min or max of text: the extremes are in s
	in    arrow.DataType // input type (min/max keep it)
	i     []int64
	f     []float64
	n     []int64
	s     []string // text min/max (see accumulators_text.go)
	// value multisets per slot when tracking (min, max)
	vi []map[int64]int64
	vf []map[float64]int64
	vs []map[string]int64
	// holistic aggregates' per-slot state (one of the three is used)
	dkind distinctKind
	frac  float64
	ds    []*distinctSet
	qs    []*ddSketch
	hs    []*hllSketch
}

// newAccumulators resolves aggs against the input schema.
func newAccumulators(schema *arrow.Schema, aggs []Agg) (*accumulators, error) {
	a := &accumulators{}
	for _, g := range aggs {
		c := accCol{fn: g.Func, col: -1, frac: g.Fraction}
		if g.Func.holistic() {
			j, err := ColumnIndex(schema, g.Column)
			if err != nil {
				return nil, fmt.Errorf("%s(%s): %w", g.Func, g.Column, err)
			}
			c.col, c.in = j, schema.Field(j).Type
			if err := c.checkHolistic(g); err != nil {
				return nil, err
			}
		} else if g.Func != CountAll {
			j, err := ColumnIndex(schema, g.Column)
			if err != nil {
				return nil, fmt.Errorf("%s(%s): %w", g.Func, g.Column, err)
			}
			c.col, c.in = j, schema.Field(j).Type
			switch c.in.ID() {
			case arrow.INT64, arrow.INT32, arrow.TIMESTAMP, arrow.DATE32:
			case arrow.FLOAT64:
				c.float = true
			default:
				switch {
				case (g.Func == Min || g.Func == Max) && isText(c.in):
					c.text = true
				case g.Func != Count:
					return nil, fmt.Errorf("%s(%s): type %s is not supported", g.Func, g.Column, c.in)
				}
			}
			if (g.Func == Sum || g.Func == Avg) && (c.in.ID() == arrow.TIMESTAMP || c.in.ID() == arrow.DATE32) {
				return nil, fmt.Errorf("%s(%s): cannot add %s values", g.Func, g.Column, c.in)
			}
		}
		a.aggs = append(a.aggs, c)
	}
	return a, nil
}

// outputFields returns the fields of the aggregate columns.
func (a *accumulators) outputFields(aggs []Agg) []arrow.Field {
	fields := make([]arrow.Field, len(aggs))
	for i, g := range aggs {
		c := a.aggs[i]
		var t arrow.DataType
		nullable := true
		switch g.Func {
		case CountAll, Count, CountDistinct, ApproxCountDistinct:
			t, nullable = arrow.PrimitiveTypes.Int64, false
		case SumDistinct:
			t = arrow.PrimitiveTypes.Int64
			if c.dkind == distinctFloat {
				t = arrow.PrimitiveTypes.Float64
			}
		case AvgDistinct, ApproxPercentile:
			t = arrow.PrimitiveTypes.Float64
		case Sum:
			t = arrow.PrimitiveTypes.Int64
			if c.float {
				t = arrow.PrimitiveTypes.Float64
			}
		case Avg:
			t = arrow.PrimitiveTypes.Float64
		case Min, Max:
			t = c.in
			if c.text {
				t = arrow.BinaryTypes.String
			}
			if c.in.ID() == arrow.INT32 {
				t = arrow.PrimitiveTypes.Int64
			}
			if c.in.ID() == arrow.DATE32 {
				t = arrow.PrimitiveTypes.Int64
			}
		}
		fields[i] = arrow.Field{Name: g.As, Type: t, Nullable: nullable}
	}
	return fields
}

// grow adds zeroed slots up to n.
func (a *accumulators) grow(n int) {
	for len(a.count) < n {
		a.count = append(a.count, 0)
		for k := range a.aggs {
			c := &a.aggs[k]
			if c.fn == CountAll {
				continue
			}
			c.n = append(c.n, 0)
			if c.fn == Count {
				continue
			}
			if c.fn.holistic() {
				c.growHolistic()
				continue
			}
			switch {
			case c.text:
				c.s = append(c.s, "")
				if a.track {
					c.vs = append(c.vs, nil)
				}
				continue
			case c.float:
				c.f = append(c.f, 0)
			default:
				c.i = append(c.i, 0)
			}
			if a.track && (c.fn == Min || c.fn == Max) {
				c.vi = append(c.vi, nil)
				c.vf = append(c.vf, nil)
			}
		}
	}
}

// reset zeroes slot s for reuse.
func (a *accumulators) reset(s int32) {
	a.count[s] = 0
	for k := range a.aggs {
		c := &a.aggs[k]
		if c.fn == CountAll {
			continue
		}
		c.n[s] = 0
		if c.fn == Count {
			continue
		}
		if c.fn.holistic() {
			c.resetHolistic(s)
			continue
		}
		switch {
		case c.text:
			c.s[s] = ""
			if a.track {
				c.vs[s] = nil
			}
			continue
		case c.float:
			c.f[s] = 0
		default:
			c.i[s] = 0
		}
		if a.track && (c.fn == Min || c.fn == Max) {
			c.vi[s], c.vf[s] = nil, nil
		}
	}
}

// add folds rows into slots: row r goes into slots[r] (rows with slot −1 are
// skipped). This is the hot loop: one pass per aggregate, typed.
func (a *accumulators) add(rec arrow.RecordBatch, slots []int32) error {
	for _, s := range slots {
		if s >= 0 {
			a.count[s]++
		}
	}
	for k := range a.aggs {
		c := &a.aggs[k]
		if c.fn == CountAll {
			continue
		}
		col := rec.Column(c.col)
		hasNulls := col.NullN() > 0
		if c.fn == Count {
			for r, s := range slots {
				if s >= 0 && (!hasNulls || col.IsValid(r)) {
					c.n[s]++
				}
			}
			continue
		}
		if c.fn.holistic() {
			c.addHolistic(col, slots, hasNulls)
			continue
		}
		if c.text {
			if err := c.addText(col, slots, hasNulls, a.track); err != nil {
				return err
			}
			continue
		}
		if c.float {
			vals := col.(*array.Float64).Float64Values()
			addFloat(c, vals, col, slots, hasNulls)
			if a.track && (c.fn == Min || c.fn == Max) {
				for r, s := range slots {
					if s >= 0 && (!hasNulls || col.IsValid(r)) {
						if c.vf[s] == nil {
							c.vf[s] = map[float64]int64{}
						}
						c.vf[s][vals[r]]++
					}
				}
			}
			continue
		}
		var vals []int64
		if id := col.DataType().ID(); id == arrow.INT32 || id == arrow.DATE32 {
			vals = widen(columnar.Int32Values(col))
		} else {
			vals = columnar.Int64Values(col)
		}
		addInt(c, vals, col, slots, hasNulls)
		if a.track && (c.fn == Min || c.fn == Max) {
			for r, s := range slots {
				if s >= 0 && (!hasNulls || col.IsValid(r)) {
					if c.vi[s] == nil {
						c.vi[s] = map[int64]int64{}
					}
					c.vi[s][vals[r]]++
				}
			}
		}
	}
	return nil
}

func widen(v []int32) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func addInt(c *accCol, vals []int64, col arrow.Array, slots []int32, hasNulls bool) {
	switch c.fn {
	case Sum, Avg:
		for r, s := range slots {
			if s >= 0 && (!hasNulls || col.IsValid(r)) {
				c.i[s] += vals[r]
				c.n[s]++
			}
		}
	case Min:
		for r, s := range slots {
			if s >= 0 && (!hasNulls || col.IsValid(r)) {
				if v := vals[r]; c.n[s] == 0 || v < c.i[s] {
					c.i[s] = v
				}
				c.n[s]++
			}
		}
	case Max:
		for r, s := range slots {
			if s >= 0 && (!hasNulls || col.IsValid(r)) {
				if v := vals[r]; c.n[s] == 0 || v > c.i[s] {
					c.i[s] = v
				}
				c.n[s]++
			}
		}
	}
}

func addFloat(c *accCol, vals []float64, col arrow.Array, slots []int32, hasNulls bool) {
	switch c.fn {
	case Sum, Avg:
		for r, s := range slots {
			if s >= 0 && (!hasNulls || col.IsValid(r)) {
				c.f[s] += vals[r]
				c.n[s]++
			}
		}
	case Min:
		for r, s := range slots {
			if s >= 0 && (!hasNulls || col.IsValid(r)) {
				if v := vals[r]; c.n[s] == 0 || v < c.f[s] || math.IsNaN(c.f[s]) {
					c.f[s] = v
				}
				c.n[s]++
			}
		}
	case Max:
		for r, s := range slots {
			if s >= 0 && (!hasNulls || col.IsValid(r)) {
				if v := vals[r]; c.n[s] == 0 || v > c.f[s] || math.IsNaN(v) {
					c.f[s] = v
				}
				c.n[s]++
			}
		}
	}
}

// retract removes row r from slot s (a changelog retraction). Count, sum and
// avg are undone arithmetically; min and max only when values are tracked
// (see accumulators.track) — otherwise the retraction is an error rather
// than a wrong result.
func (a *accumulators) retract(rec arrow.RecordBatch, r int, s int32) error {
	a.count[s]--
	for k := range a.aggs {
		c := &a.aggs[k]
		if c.fn == CountAll {
			continue
		}
		col := rec.Column(c.col)
		if !col.IsValid(r) {
			continue
		}
		switch c.fn {
		case Count:
			c.n[s]--
		case CountDistinct, SumDistinct, AvgDistinct, ApproxPercentile, ApproxCountDistinct:
			if err := c.retractHolistic(col, r, s); err != nil {
				return err
			}
		case Sum, Avg:
			c.n[s]--
			if c.float {
				c.f[s] -= col.(*array.Float64).Value(r)
			} else {
				c.i[s] -= intValue(col, r)
			}
		default:
			if !a.track {
				return fmt.Errorf("%s over an updating input is supported only on windowed input (window_start, window_end)", c.fn)
			}
			if err := c.untrack(col, r, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// untrack removes one occurrence of row r's value from slot s's multiset and
// recomputes the extreme if that value was it.
func (c *accCol) untrack(col arrow.Array, r int, s int32) error {
	if c.text {
		return c.untrackText(col, r, s)
	}
	if c.float {
		v := col.(*array.Float64).Value(r)
		m := c.vf[s]
		if m[v] == 0 {
			return fmt.Errorf("%s: retraction of value %v never added", c.fn, v)
		}
		if m[v]--; m[v] == 0 {
			delete(m, v)
		}
		c.n[s]--
		first := true
		for x := range m {
			if first || (c.fn == Min && x < c.f[s]) || (c.fn == Max && x > c.f[s]) {
				c.f[s], first = x, false
			}
		}
		return nil
	}
	v := intValue(col, r)
	m := c.vi[s]
	if m[v] == 0 {
		return fmt.Errorf("%s: retraction of value %d never added", c.fn, v)
	}
	if m[v]--; m[v] == 0 {
		delete(m, v)
	}
	c.n[s]--
	first := true
	for x := range m {
		if first || (c.fn == Min && x < c.i[s]) || (c.fn == Max && x > c.i[s]) {
			c.i[s], first = x, false
		}
	}
	return nil
}

func intValue(col arrow.Array, r int) int64 {
	switch col.DataType().ID() {
	case arrow.INT32, arrow.DATE32:
		return int64(columnar.Int32Values(col)[r])
	}
	return columnar.Int64Values(col)[r]
}

// merge folds slot src into dst (session windows that grew together).
func (a *accumulators) merge(dst, src int32) {
	a.count[dst] += a.count[src]
	for k := range a.aggs {
		c := &a.aggs[k]
		if c.fn == CountAll {
			continue
		}
		if c.n[src] == 0 {
			continue
		}
		if c.text {
			c.mergeText(dst, src, a.track)
			c.n[dst] += c.n[src]
			continue
		}
		switch c.fn {
		case CountDistinct, SumDistinct, AvgDistinct, ApproxPercentile, ApproxCountDistinct:
			c.mergeHolistic(dst, src)
		case Sum, Avg:
			if c.float {
				c.f[dst] += c.f[src]
			} else {
				c.i[dst] += c.i[src]
			}
		case Min:
			if c.float {
				if c.n[dst] == 0 || c.f[src] < c.f[dst] {
					c.f[dst] = c.f[src]
				}
			} else if c.n[dst] == 0 || c.i[src] < c.i[dst] {
				c.i[dst] = c.i[src]
			}
		case Max:
			if c.float {
				if c.n[dst] == 0 || c.f[src] > c.f[dst] {
					c.f[dst] = c.f[src]
				}
			} else if c.n[dst] == 0 || c.i[src] > c.i[dst] {
				c.i[dst] = c.i[src]
			}
		}
		c.n[dst] += c.n[src]
		if a.track && (c.fn == Min || c.fn == Max) {
			for v, k := range c.vi[src] {
				if c.vi[dst] == nil {
					c.vi[dst] = map[int64]int64{}
				}
				c.vi[dst][v] += k
			}
			for v, k := range c.vf[src] {
				if c.vf[dst] == nil {
					c.vf[dst] = map[float64]int64{}
				}
				c.vf[dst][v] += k
			}
		}
	}
}

// sameOutput reports whether slots a and b produce the same output values.
func (acc *accumulators) sameOutput(a, b int32) bool {
	for k := range acc.aggs {
		c := &acc.aggs[k]
		switch c.fn {
		case CountAll:
			if acc.count[a] != acc.count[b] {
				return false
			}
		case Count:
			if c.n[a] != c.n[b] {
				return false
			}
		case CountDistinct, SumDistinct, AvgDistinct, ApproxPercentile, ApproxCountDistinct:
			if !c.sameHolistic(a, b) {
				return false
			}
		case Avg:
			if (c.n[a] == 0) != (c.n[b] == 0) {
				return false
			}
			if c.n[a] != 0 {
				if c.float && c.f[a]/float64(c.n[a]) != c.f[b]/float64(c.n[b]) {
					return false
				}
				if !c.float && float64(c.i[a])/float64(c.n[a]) != float64(c.i[b])/float64(c.n[b]) {
					return false
				}
			}
		default:
			if (c.n[a] == 0) != (c.n[b] == 0) {
				return false
			}
			if c.text {
				if c.n[a] != 0 && c.s[a] != c.s[b] {
					return false
				}
				continue
			}
			if c.n[a] != 0 && ((c.float && c.f[a] != c.f[b]) || (!c.float && c.i[a] != c.i[b])) {
				return false
			}
		}
	}
	return true
}

// output builds the aggregate columns for slots, in that order.
func (a *accumulators) output(fields []arrow.Field, slots []int32) []arrow.Array {
	cols := make([]arrow.Array, len(a.aggs))
	for k := range a.aggs {
		c := &a.aggs[k]
		switch c.fn {
		case CountAll:
			v := make([]int64, len(slots))
			for i, s := range slots {
				v[i] = a.count[s]
			}
			cols[k] = columnar.Int64s(v)
		case Count:
			v := make([]int64, len(slots))
			for i, s := range slots {
				v[i] = c.n[s]
			}
			cols[k] = columnar.Int64s(v)
		case CountDistinct, SumDistinct, AvgDistinct, ApproxPercentile, ApproxCountDistinct:
			cols[k] = c.outputHolistic(fields[k].Type, slots)
		case Avg:
			v := make([]float64, len(slots))
			valid, nulls := validity(c.n, slots)
			for i, s := range slots {
				if c.n[s] > 0 {
					if c.float {
						v[i] = c.f[s] / float64(c.n[s])
					} else {
						v[i] = float64(c.i[s]) / float64(c.n[s])
					}
				}
			}
			cols[k] = columnar.Fixed(arrow.PrimitiveTypes.Float64, v, valid, nulls)
		default:
			if c.text {
				cols[k] = c.outputText(slots)
				continue
			}
			valid, nulls := validity(c.n, slots)
			if c.float {
				v := make([]float64, len(slots))
				for i, s := range slots {
					v[i] = c.f[s]
				}
				cols[k] = columnar.Fixed(fields[k].Type, v, valid, nulls)
			} else {
				v := make([]int64, len(slots))
				for i, s := range slots {
					v[i] = c.i[s]
				}
				cols[k] = columnar.Fixed(fields[k].Type, v, valid, nulls)
			}
		}
	}
	return cols
}

func validity(n []int64, slots []int32) ([]byte, int) {
	nulls := 0
	for _, s := range slots {
		if n[s] == 0 {
			nulls++
		}
	}
	if nulls == 0 {
		return nil, 0
	}
	bits := make([]byte, (len(slots)+7)/8)
	for i, s := range slots {
		if n[s] > 0 {
			bits[i>>3] |= 1 << (i & 7)
		}
	}
	return bits, nulls
}

// checkHolistic checks a holistic aggregate's input type.
func (c *accCol) checkHolistic(g Agg) error {
	kind, ok := distinctKindOf(c.in)
	c.dkind = kind
	numeric := ok && (kind == distinctFloat || kind == distinctInt) && c.in.ID() != arrow.TIMESTAMP &&
		c.in.ID() != arrow.DATE32 && c.in.ID() != arrow.DATE64
	switch g.Func {
	case SumDistinct, AvgDistinct, ApproxPercentile:
		if !numeric {
			return fmt.Errorf("%s(%s): type %s is not supported", g.Func, g.Column, c.in)
		}
	case ApproxCountDistinct:
		return nil // anything the hash exchange hashes
	default:
		if !ok {
			return fmt.Errorf("%s(%s): type %s is not supported", g.Func, g.Column, c.in)
		}
	}
	if g.Func == ApproxPercentile && !(g.Fraction >= 0 && g.Fraction <= 1) {
		return fmt.Errorf("approx_percentile(%s, %v): the percentile must be between 0 and 1", g.Column, g.Fraction)
	}
	return nil
}

func (c *accCol) growHolistic() {
	switch c.fn {
	case ApproxPercentile:
		c.qs = append(c.qs, nil)
	case ApproxCountDistinct:
		c.hs = append(c.hs, nil)
	default:
		c.ds = append(c.ds, nil)
	}
}

func (c *accCol) resetHolistic(s int32) {
	switch c.fn {
	case ApproxPercentile:
		c.qs[s] = nil
	case ApproxCountDistinct:
		c.hs[s] = nil
	default:
		c.ds[s] = nil
	}
}

func (c *accCol) addHolistic(col arrow.Array, slots []int32, hasNulls bool) {
	var hashes []uint64
	if c.fn == ApproxCountDistinct {
		hashes = make([]uint64, col.Len())
		if err := columnar.HashColumns([]arrow.Array{col}, hashes); err != nil {
			panic(fmt.Sprintf("dataflow: approx_count_distinct: %v", err)) // checked at open
		}
	}
	for r, s := range slots {
		if s < 0 || (hasNulls && !col.IsValid(r)) {
			continue
		}
		switch c.fn {
		case ApproxPercentile:
			if c.qs[s] == nil {
				c.qs[s] = &ddSketch{}
			}
			if !c.qs[s].add(c.number(col, r), 1) {
				continue
			}
		case ApproxCountDistinct:
			if c.hs[s] == nil {
				c.hs[s] = &hllSketch{}
			}
			c.hs[s].add(hashes[r])
		default:
			if c.ds[s] == nil {
				c.ds[s] = &distinctSet{}
			}
			c.ds[s].add(c.dkind, col, r)
		}
		c.n[s]++
	}
}

// number reads a numeric value as float64.
func (c *accCol) number(col arrow.Array, r int) float64 {
	if c.dkind == distinctFloat {
		return floatAt(col, r)
	}
	return float64(intAt(col, r))
}

func (c *accCol) retractHolistic(col arrow.Array, r int, s int32) error {
	switch c.fn {
	case ApproxCountDistinct:
		return fmt.Errorf("approx_count_distinct over an updating input is not supported (use count(DISTINCT ...))")
	case ApproxPercentile:
		if c.qs[s] == nil || !c.qs[s].add(c.number(col, r), -1) {
			return nil
		}
	default:
		if c.ds[s] == nil {
			return fmt.Errorf("%s: retraction of value %s never added", c.fn, col.ValueStr(r))
		}
		if err := c.ds[s].retract(c.dkind, col, r); err != nil {
			return err
		}
	}
	c.n[s]--
	return nil
}

func (c *accCol) mergeHolistic(dst, src int32) {
	switch c.fn {
	case ApproxPercentile:
		if c.qs[src] != nil {
			if c.qs[dst] == nil {
				c.qs[dst] = &ddSketch{}
			}
			c.qs[dst].merge(c.qs[src])
		}
	case ApproxCountDistinct:
		if c.hs[src] != nil {
			if c.hs[dst] == nil {
				c.hs[dst] = &hllSketch{}
			}
			c.hs[dst].merge(c.hs[src])
		}
	default:
		if c.ds[src] != nil {
			if c.ds[dst] == nil {
				c.ds[dst] = &distinctSet{}
			}
			c.ds[dst].merge(c.ds[src])
		}
	}
}

// holisticValue is slot s's result: an int64 or a float64, and whether it
// is not NULL.
func (c *accCol) holisticValue(s int32) (int64, float64, bool) {
	switch c.fn {
	case CountDistinct:
		return c.ds[s].count(), 0, true
	case ApproxCountDistinct:
		return c.hs[s].estimate(), 0, true
	case ApproxPercentile:
		v, ok := c.qs[s].quantile(c.frac)
		return 0, v, ok
	}
	d := c.ds[s]
	if d.count() == 0 {
		return 0, 0, false
	}
	if c.fn == SumDistinct {
		if c.dkind == distinctFloat {
			return 0, d.sumFloat(), true
		}
		return d.sumInt(), 0, true
	}
	if c.dkind == distinctFloat {
		return 0, d.sumFloat() / float64(d.count()), true
	}
	return 0, float64(d.sumInt()) / float64(d.count()), true
}

func (c *accCol) sameHolistic(a, b int32) bool {
	ia, fa, va := c.holisticValue(a)
	ib, fb, vb := c.holisticValue(b)
	return va == vb && ia == ib && (fa == fb || math.IsNaN(fa) && math.IsNaN(fb))
}

func (c *accCol) outputHolistic(t arrow.DataType, slots []int32) arrow.Array {
	ints := make([]int64, len(slots))
	floats := make([]float64, len(slots))
	var valid []byte
	nulls := 0
	for i, s := range slots {
		iv, fv, ok := c.holisticValue(s)
		ints[i], floats[i] = iv, fv
		if !ok {
			if valid == nil {
				valid = make([]byte, (len(slots)+7)/8)
				for j := range valid {
					valid[j] = 0xff
				}
			}
			valid[i>>3] &^= 1 << (i & 7)
			nulls++
		}
	}
	if t.ID() == arrow.FLOAT64 {
		return columnar.Fixed(t, floats, valid, nulls)
	}
	return columnar.Fixed(t, ints, valid, nulls)
}
