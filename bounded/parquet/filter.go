package parquet

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Op is the comparison of a predicate.
type Op uint8

// The comparisons. A NULL value satisfies no comparison but IsNull (as in a
// SQL WHERE clause, where unknown filters the row out). Floating-point values
// compare as IEEE 754 does: NaN equals nothing, is unequal to everything and
// is neither smaller nor larger than anything.
const (
	Eq        Op = iota + 1 // =
	Ne                      // <> (!=)
	Lt                      // <
	Le                      // <=
	Gt                      // >
	Ge                      // >=
	In                      // IN (Values...)
	IsNull                  // IS NULL
	IsNotNull               // IS NOT NULL
)

var opNames = [...]string{Eq: "=", Ne: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">=", In: "IN", IsNull: "IS NULL", IsNotNull: "IS NOT NULL"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", o)
}

// Pred is one predicate: Column Op Value, Column IN Values, Column IS [NOT]
// NULL. Column names a column of the source's schema (a file column or a
// partition column).
//
// A constant is an int, an intN or uintN, a float32 or float64, a string, a
// []byte, a bool or a time.Time. It compares with the column's values in the
// column's domain: integers with integer and numeric columns (a fractional
// constant against an integer column compares exactly: k < 2.5 is k <= 2),
// time.Time with timestamp, date (days, UTC) and int64 columns (int64 event
// times are microseconds, as everywhere in weir), strings and byte slices
// with string and binary columns, bools with bool columns. Any other pairing,
// and any predicate on a DECIMAL column, is refused by New: the planner keeps
// such a predicate above the source.
type Pred struct {
	Column string
	Op     Op
	Value  any
	Values []any
}

// Filter is a conjunction of predicates and an event-time range [From, To)
// (a zero time leaves that side open) on the source's EventTime column.
//
// The source applies the filter exactly: it returns only the rows that
// satisfy it. It uses it first to read less: partition values prune files
// before they are opened, row-group statistics and bloom filters prune row
// groups, and the page index prunes pages. Because lateness is decided on the
// rows a split returns (DESIGN §4), a predicate pushed here defines the
// split's record sequence; the event-time range of a backfill always belongs
// here, other predicates when the planner accepts that.
type Filter struct {
	And      []Pred
	From, To time.Time
	// Partitions are predicates used only to skip whole files by their
	// partition values; a predicate on another column, or one that does not
	// fit its column's type, prunes nothing. They are not applied to rows:
	// the caller keeps them above the source. Since a file is a split,
	// skipping a whole file leaves every other split's sequence as it is.
	Partitions []Pred
}

// String renders the filter as SQL-like text, for EXPLAIN and messages.
func (f Filter) String() string {
	var parts []string
	for _, p := range f.And {
		parts = append(parts, p.String())
	}
	if !f.From.IsZero() {
		parts = append(parts, "event_time >= "+f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		parts = append(parts, "event_time < "+f.To.UTC().Format(time.RFC3339Nano))
	}
	if len(parts) == 0 {
		return "true"
	}
	return strings.Join(parts, " AND ")
}

func (p Pred) String() string {
	switch p.Op {
	case IsNull, IsNotNull:
		return fmt.Sprintf("%s %s", p.Column, p.Op)
	case In:
		vals := make([]string, len(p.Values))
		for i, v := range p.Values {
			vals[i] = fmt.Sprintf("%#v", v)
		}
		return fmt.Sprintf("%s IN (%s)", p.Column, strings.Join(vals, ", "))
	}
	return fmt.Sprintf("%s %s %#v", p.Column, p.Op, p.Value)
}

// domain is how a column's values compare.
type domain uint8

const (
	domInt   domain = iota // signed and narrow unsigned integers, dates, times, timestamps (as int64)
	domUint                // uint64
	domFloat               // float32, float64
	domBytes               // string, binary
	domBool                // bool (as 0 and 1 in i)
	domNull                // the NULL type: every value is NULL
)

// scalar is a constant or a statistic in a domain.
type scalar struct {
	i int64
	u uint64
	f float64
	b []byte
}

func cmpScalar(d domain, a, b scalar) int {
	switch d {
	case domInt, domBool:
		return cmpOrdered(a.i, b.i)
	case domUint:
		return cmpOrdered(a.u, b.u)
	case domFloat:
		return cmpOrdered(a.f, b.f)
	case domBytes:
		return strings.Compare(string(a.b), string(b.b))
	}
	return 0
}

func cmpOrdered[T int64 | uint64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// boundPred is a predicate resolved against the source's schema, its
// constant normalized into the column's domain and unit.
type boundPred struct {
	name  string
	field int // index in the merged schema
	part  bool
	typ   arrow.DataType
	dom   domain
	op    Op
	c     scalar
	set   []scalar // In: sorted, distinct
	// always: every non-NULL value satisfies the predicate; never: none does.
	always, never bool
	strSet        map[string]struct{}
	intSet        map[int64]struct{}
}

func domainOf(t arrow.DataType) (domain, error) {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32,
		arrow.DATE32, arrow.TIME32, arrow.TIME64, arrow.TIMESTAMP:
		return domInt, nil
	case arrow.UINT64:
		return domUint, nil
	case arrow.FLOAT32, arrow.FLOAT64:
		return domFloat, nil
	case arrow.STRING, arrow.BINARY:
		return domBytes, nil
	case arrow.BOOL:
		return domBool, nil
	case arrow.NULL:
		return domNull, nil
	}
	return 0, fmt.Errorf("filters on %s columns are not supported", t)
}

// bindPred resolves p against a column of type t.
func bindPred(p Pred, field int, t arrow.DataType, part bool) (*boundPred, error) {
	bp := &boundPred{name: p.Column, field: field, part: part, typ: t, op: p.Op}
	fail := func(err error) (*boundPred, error) {
		return nil, fmt.Errorf("filter %s: %w", p, err)
	}
	d, err := domainOf(t)
	if err != nil {
		return fail(err)
	}
	bp.dom = d
	switch p.Op {
	case IsNull, IsNotNull:
		return bp, nil
	case Eq, Ne, Lt, Le, Gt, Ge:
		if d == domNull {
			bp.never = true
			return bp, nil
		}
		k, err := constant(p.Value, t, d)
		if err != nil {
			return fail(err)
		}
		bp.normalize(k)
		return bp, nil
	case In:
		if d == domNull {
			bp.never = true
			return bp, nil
		}
		for _, v := range p.Values {
			k, err := constant(v, t, d)
			if err != nil {
				return fail(err)
			}
			if k.exact && !k.below && !k.above {
				bp.set = append(bp.set, k.s)
			}
		}
		slices.SortFunc(bp.set, func(a, b scalar) int { return cmpScalar(d, a, b) })
		bp.set = slices.CompactFunc(bp.set, func(a, b scalar) bool { return cmpScalar(d, a, b) == 0 })
		if d == domFloat {
			bp.set = slices.DeleteFunc(bp.set, func(s scalar) bool { return math.IsNaN(s.f) })
		}
		if len(bp.set) == 0 {
			bp.never = true
		}
		if len(bp.set) > 8 {
			switch d {
			case domBytes:
				bp.strSet = make(map[string]struct{}, len(bp.set))
				for _, s := range bp.set {
					bp.strSet[string(s.b)] = struct{}{}
				}
			case domInt, domBool:
				bp.intSet = make(map[int64]struct{}, len(bp.set))
				for _, s := range bp.set {
					bp.intSet[s.i] = struct{}{}
				}
			}
		}
		return bp, nil
	}
	return fail(fmt.Errorf("unknown operator"))
}

// konst is a constant in a column's domain: s, or a value just above s when
// not exact (a fraction of the column's unit above it), or below/above every
// value of the domain.
type konst struct {
	s            scalar
	exact        bool
	below, above bool
}

// normalize rewrites the comparison with k into one with an exact constant.
func (bp *boundPred) normalize(k konst) {
	if bp.dom == domFloat && math.IsNaN(k.s.f) {
		bp.never, bp.always = bp.op != Ne, bp.op == Ne
		return
	}
	switch {
	case k.below: // the constant is below every value
		bp.always = bp.op == Ne || bp.op == Gt || bp.op == Ge
		bp.never = !bp.always
		return
	case k.above:
		bp.always = bp.op == Ne || bp.op == Lt || bp.op == Le
		bp.never = !bp.always
		return
	}
	bp.c = k.s
	if k.exact {
		return
	}
	// v compared with s+ε, where s is the largest value of the domain below
	// the constant.
	switch bp.op {
	case Eq:
		bp.never = true
	case Ne:
		bp.always = true
	case Lt:
		bp.op = Le
	case Ge:
		bp.op = Gt
	}
}

// constant converts a filter constant to the domain of a column of type t.
func constant(v any, t arrow.DataType, d domain) (konst, error) {
	bad := func() (konst, error) {
		return konst{}, fmt.Errorf("a %T constant cannot be compared with a %s column", v, t)
	}
	switch d {
	case domInt, domUint:
		var x konst
		switch c := v.(type) {
		case time.Time:
			var ok bool
			x, ok = timeConstant(c, t)
			if !ok {
				return bad()
			}
		case float64:
			x = floatToInt(c)
		case float32:
			x = floatToInt(float64(c))
		case bool:
			return bad()
		default:
			i, u, neg, ok := integer(v)
			if !ok {
				return bad()
			}
			x = konst{exact: true}
			if d == domUint {
				if neg {
					x.below = true
				}
				x.s.u = u
				return x, nil
			}
			if !neg && u > math.MaxInt64 {
				x.above = true
			}
			x.s.i = i
			return x, nil
		}
		if d == domUint && !x.below && !x.above {
			if x.s.i < 0 {
				x = konst{below: true}
			} else {
				x.s.u = uint64(x.s.i)
			}
		}
		return x, nil
	case domFloat:
		switch c := v.(type) {
		case float64:
			return konst{s: scalar{f: c}, exact: true}, nil
		case float32:
			return konst{s: scalar{f: float64(c)}, exact: true}, nil
		case bool, time.Time:
			return bad()
		default:
			i, u, neg, ok := integer(v)
			if !ok {
				return bad()
			}
			if neg {
				return konst{s: scalar{f: float64(i)}, exact: true}, nil
			}
			return konst{s: scalar{f: float64(u)}, exact: true}, nil
		}
	case domBytes:
		switch c := v.(type) {
		case string:
			return konst{s: scalar{b: []byte(c)}, exact: true}, nil
		case []byte:
			return konst{s: scalar{b: slices.Clone(c)}, exact: true}, nil
		}
		return bad()
	case domBool:
		if c, ok := v.(bool); ok {
			k := konst{exact: true}
			if c {
				k.s.i = 1
			}
			return k, nil
		}
		return bad()
	}
	return bad()
}

// integer reads an integer constant: its value as int64 (when it fits), as
// uint64 (when not negative) and its sign.
func integer(v any) (i int64, u uint64, neg, ok bool) {
	switch c := v.(type) {
	case int:
		i = int64(c)
	case int8:
		i = int64(c)
	case int16:
		i = int64(c)
	case int32:
		i = int64(c)
	case int64:
		i = c
	case uint:
		return int64(c), uint64(c), false, true
	case uint8:
		return int64(c), uint64(c), false, true
	case uint16:
		return int64(c), uint64(c), false, true
	case uint32:
		return int64(c), uint64(c), false, true
	case uint64:
		return int64(c), c, false, true
	default:
		return 0, 0, false, false
	}
	return i, uint64(i), i < 0, true
}

func floatToInt(f float64) konst {
	switch {
	case math.IsNaN(f):
		return konst{s: scalar{f: f}}
	case f < -9.223372036854775808e18:
		return konst{below: true}
	case f >= 9.223372036854775808e18:
		return konst{above: true}
	}
	q := math.Floor(f)
	return konst{s: scalar{i: int64(q)}, exact: q == f}
}

// timeConstant converts a time to the unit of a timestamp, date or int64
// (microsecond) column.
func timeConstant(c time.Time, t arrow.DataType) (konst, bool) {
	sec, nsec := c.Unix(), int64(c.Nanosecond())
	var per int64 // units per second
	switch t.ID() {
	case arrow.TIMESTAMP:
		per = [...]int64{arrow.Second: 1, arrow.Millisecond: 1e3, arrow.Microsecond: 1e6, arrow.Nanosecond: 1e9}[t.(*arrow.TimestampType).Unit]
	case arrow.INT64:
		per = 1e6
	case arrow.DATE32:
		days := floorDiv(sec, 86400)
		return konst{s: scalar{i: days}, exact: sec-days*86400 == 0 && nsec == 0}, true
	default:
		return konst{}, false
	}
	if sec > math.MaxInt64/per-1 {
		return konst{above: true}, true
	}
	if sec < math.MinInt64/per+1 {
		return konst{below: true}, true
	}
	sub := 1_000_000_000 / per
	return konst{s: scalar{i: sec*per + nsec/sub}, exact: nsec%sub == 0}, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
