package query

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Casts between weir's SQL types: every pair Postgres allows among them.
//
//	from \ to   bool  int2/4/8  float8  text  timestamp  date  interval
//	bool         =    int4      -       yes   -          -     -
//	int2/4/8    int4  range     yes     yes   -          -     -
//	float8       -    round     =       yes   -          -     -
//	text        parse parse     parse   (n)   parse      parse parse
//	timestamp    -    -         -       yes   =          floor -
//	date         -    -         -       yes   midnight   =     -
//	interval     -    -         -       yes   -          -     =
//
// "range": narrowing checks the range ("smallint out of range"); "round":
// float to integer rounds half away from zero like Postgres' numeric (its
// float8 rounds half to even; weir's NUMERIC is a float8, and 2.5::int = 3
// is what a reader of the SQL expects); "(n)": VARCHAR(n) truncates. A NULL
// casts to anything.

// castable reports whether CAST(from AS to) exists.
func castable(from, to kind) bool {
	if from == to || from == kNull || from == kUnknown || from == kText || to == kText {
		return from != kOther && to != kOther && to != kNull && to != kAny
	}
	switch {
	case from.isNumeric() && to.isNumeric():
		return true
	case from == kBool && to == kInt32, from == kInt32 && to == kBool:
		return true
	case from == kTimestamp && to == kDate, from == kDate && to == kTimestamp:
		return true
	}
	return false
}

// implicitCast reports whether from converts to to without a CAST (and its
// cost in overload resolution; -1: it does not). Postgres' implicit casts
// among weir's types: widening of numbers, date to timestamp, and the
// untyped literals.
func implicitCost(from, to kind) int {
	switch {
	case from == to:
		return 0
	case to == kAny:
		return 3
	case from == kNull:
		return 1
	case from == kUnknown:
		if to == kText {
			return 1
		}
		return 2
	case from.isNumeric() && to.isNumeric() && numRank(to) > numRank(from):
		return numRank(to) - numRank(from)
	case from == kDate && to == kTimestamp:
		return 1
	}
	return -1
}

func numRank(k kind) int {
	switch k {
	case kInt16:
		return 1
	case kInt32:
		return 2
	case kInt64:
		return 3
	case kFloat64:
		return 4
	}
	return 0
}

// castKernel returns the kernel of CAST(x AS to) for x of kind from; limit
// is n of VARCHAR(n) (0: none). The kernel's argument has n rows.
func castKernel(from, to kind, limit int) kernel {
	if from == to && (to != kText || limit == 0) {
		return func(k *kctx) (arrow.Array, error) { return k.args[0], nil }
	}
	if from == kNull {
		return func(k *kctx) (arrow.Array, error) { return nullArray(to.typ(), k.n), nil }
	}
	if from == kOther {
		return nil
	}
	if from == kUnknown {
		from = kText
	}
	switch to {
	case kText:
		if from == kText {
			return truncateKernel(limit)
		}
		return toTextKernel(from, limit)
	case kInt16, kInt32, kInt64:
		switch {
		case from.isInteger():
			return intToIntKernel(to)
		case from == kFloat64:
			return floatToIntKernel(to)
		case from == kBool:
			return func(k *kctx) (arrow.Array, error) {
				bits, off := boolsOf(k.args[0])
				out := make([]int32, k.n)
				for i := range out {
					if bitutil.BitIsSet(bits, off+i) {
						out[i] = 1
					}
				}
				return fixedOut(typInt32, out, k.valid, k.nulls), nil
			}
		case from == kText:
			return fromTextKernel(to, func(s string) (int64, error) { return parseInt(s, to) })
		}
	case kFloat64:
		switch {
		case from.isInteger():
			return func(k *kctx) (arrow.Array, error) {
				out := scratchFloat64(k.n)
				switch k.args[0].DataType().ID() {
				case arrow.INT16:
					for i, v := range valuesOf[int16](k.args[0])[:k.n] {
						out[i] = float64(v)
					}
				case arrow.INT32:
					for i, v := range valuesOf[int32](k.args[0])[:k.n] {
						out[i] = float64(v)
					}
				default:
					for i, v := range valuesOf[int64](k.args[0])[:k.n] {
						out[i] = float64(v)
					}
				}
				return fixedOut(typFloat64, out, k.valid, k.nulls), nil
			}
		case from == kText:
			return func(k *kctx) (arrow.Array, error) {
				src := stringsOf(k.args[0], k.n)
				out := make([]float64, k.n)
				for i := range out {
					if !k.isValid(i) {
						continue
					}
					v, err := parseFloat(src.at(i))
					if err != nil {
						return nil, err
					}
					out[i] = v
				}
				return fixedOut(typFloat64, out, k.valid, k.nulls), nil
			}
		}
	case kBool:
		switch from {
		case kInt32:
			return func(k *kctx) (arrow.Array, error) {
				src := valuesOf[int32](k.args[0])
				b := make([]byte, k.n)
				for i, v := range src {
					if v != 0 {
						b[i] = 1
					}
				}
				out := make([]byte, bitutil.BytesForBits(int64(k.n)))
				packBools(b, out)
				return boolOut(out, k.n, k.valid, k.nulls), nil
			}
		case kText:
			return func(k *kctx) (arrow.Array, error) {
				src := stringsOf(k.args[0], k.n)
				out := make([]byte, bitutil.BytesForBits(int64(k.n)))
				for i := 0; i < k.n; i++ {
					if !k.isValid(i) {
						continue
					}
					v, err := parseBool(src.at(i))
					if err != nil {
						return nil, err
					}
					if v {
						bitutil.SetBit(out, i)
					}
				}
				return boolOut(out, k.n, k.valid, k.nulls), nil
			}
		}
	case kTimestamp:
		switch from {
		case kDate:
			return func(k *kctx) (arrow.Array, error) {
				src := valuesOf[int32](k.args[0])
				out := make([]int64, k.n)
				for i, v := range src {
					out[i] = int64(v) * usPerDay
				}
				return fixedOut(typTimestamp, out, k.valid, k.nulls), nil
			}
		case kText:
			return fromTextKernel(kTimestamp, parseTimestamp)
		}
	case kDate:
		switch from {
		case kTimestamp:
			return func(k *kctx) (arrow.Array, error) {
				src := valuesOf[int64](k.args[0])
				out := make([]int32, k.n)
				for i, v := range src {
					out[i] = int32(floorDiv(v, usPerDay))
				}
				return fixedOut(typDate, out, k.valid, k.nulls), nil
			}
		case kText:
			return func(k *kctx) (arrow.Array, error) {
				src := stringsOf(k.args[0], k.n)
				out := make([]int32, k.n)
				for i := range out {
					if !k.isValid(i) {
						continue
					}
					v, err := parseDate(src.at(i))
					if err != nil {
						return nil, err
					}
					out[i] = v
				}
				return fixedOut(typDate, out, k.valid, k.nulls), nil
			}
		}
	case kInterval:
		if from == kText {
			return fromTextKernel(kInterval, func(s string) (int64, error) { return parseInterval(s, intervalFullRange) })
		}
	}
	return nil
}

// intervalCastKernel is CAST(text AS INTERVAL <fields>).
func intervalCastKernel(fields int) kernel {
	return fromTextKernel(kInterval, func(s string) (int64, error) { return parseInterval(s, fields) })
}

// fromTextKernel parses strings into an int64-wide kind.
func fromTextKernel(to kind, parse func(string) (int64, error)) kernel {
	return func(k *kctx) (arrow.Array, error) {
		src := stringsOf(k.args[0], k.n)
		out := make([]int64, k.n)
		for i := range out {
			if !k.isValid(i) {
				continue
			}
			v, err := parse(src.at(i))
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		if to == kInt16 || to == kInt32 {
			return narrowInts(to, out, k)
		}
		return fixedOut(to.typ(), out, k.valid, k.nulls), nil
	}
}

// int64sOf reads an integer (or date) array as int64 values, copying only
// when it is narrower.
func int64sOf(a arrow.Array) []int64 {
	switch a.DataType().ID() {
	case arrow.INT16:
		src := valuesOf[int16](a)
		out := make([]int64, len(src))
		for i, v := range src {
			out[i] = int64(v)
		}
		return out
	case arrow.INT32, arrow.DATE32:
		src := valuesOf[int32](a)
		out := make([]int64, len(src))
		for i, v := range src {
			out[i] = int64(v)
		}
		return out
	}
	return valuesOf[int64](a)
}

func intToIntKernel(to kind) kernel {
	return func(k *kctx) (arrow.Array, error) {
		if to == kInt64 {
			out := scratchInt64(k.n, false)
			switch k.args[0].DataType().ID() {
			case arrow.INT16:
				for i, v := range valuesOf[int16](k.args[0])[:k.n] {
					out[i] = int64(v)
				}
			case arrow.INT32:
				for i, v := range valuesOf[int32](k.args[0])[:k.n] {
					out[i] = int64(v)
				}
			default:
				copy(out, valuesOf[int64](k.args[0]))
			}
			return fixedOut(typInt64, out, k.valid, k.nulls), nil
		}
		return narrowInts(to, int64sOf(k.args[0]), k)
	}
}

// narrowInts converts int64 values to int16 or int32, checking the range of
// valid rows.
func narrowInts(to kind, vals []int64, k *kctx) (arrow.Array, error) {
	lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
	if to == kInt16 {
		lo, hi = math.MinInt16, math.MaxInt16
	}
	bad := false
	for _, v := range vals {
		bad = bad || v < lo || v > hi
	}
	if bad && k.firstBad(func(i int) bool { return vals[i] < lo || vals[i] > hi }) >= 0 {
		return nil, rangeError(to)
	}
	if to == kInt16 {
		out := make([]int16, len(vals))
		for i, v := range vals {
			out[i] = int16(v)
		}
		return fixedOut(typInt16, out, k.valid, k.nulls), nil
	}
	out := make([]int32, len(vals))
	for i, v := range vals {
		out[i] = int32(v)
	}
	return fixedOut(typInt32, out, k.valid, k.nulls), nil
}

// roundHalfAway rounds to the nearest integer, halves away from zero.
func roundHalfAway(f float64) float64 { return math.Round(f) }

func floatToIntKernel(to kind) kernel {
	return func(k *kctx) (arrow.Array, error) {
		src := valuesOf[float64](k.args[0])
		out := make([]int64, k.n)
		for i, f := range src {
			r := math.RoundToEven(f) // float8 to integer rounds half to even, as Postgres (rint)
			// float64(MaxInt64) rounds up to 2^63, which is out of range.
			if !(r >= -9223372036854775808.0 && r < 9223372036854775808.0) {
				if k.isValid(i) {
					return nil, rangeError(to)
				}
				continue
			}
			out[i] = int64(r)
		}
		if to != kInt64 {
			return narrowInts(to, out, k)
		}
		return fixedOut(typInt64, out, k.valid, k.nulls), nil
	}
}

// toTextKernel formats any kind as text (truncated to limit characters).
func toTextKernel(from kind, limit int) kernel {
	return func(k *kctx) (arrow.Array, error) {
		a := k.args[0]
		b := newStrBuilder(k.n, k.n*8)
		var buf []byte
		for i := 0; i < k.n; i++ {
			if !k.isValid(i) {
				b.end()
				continue
			}
			switch from {
			case kInt16, kInt32, kInt64:
				var v int64
				switch from {
				case kInt16:
					v = int64(a.(*array.Int16).Value(i))
				case kInt32:
					v = int64(a.(*array.Int32).Value(i))
				default:
					v = a.(*array.Int64).Value(i)
				}
				buf = strconv.AppendInt(buf[:0], v, 10)
				b.addBytes(truncateBytes(buf, limit))
			default:
				b.add(truncate(formatValue(a, i), limit))
			}
		}
		return b.finish(k.valid, k.nulls)
	}
}

func truncateKernel(limit int) kernel {
	return func(k *kctx) (arrow.Array, error) {
		src := stringsOf(k.args[0], k.n)
		b := newStrBuilder(k.n, len(src.data))
		for i := 0; i < k.n; i++ {
			b.add(truncate(src.at(i), limit))
		}
		return b.finish(k.valid, k.nulls)
	}
}

// truncate cuts s to limit characters (0: no limit).
func truncate(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit {
			return s[:i]
		}
		n++
	}
	return s
}

func truncateBytes(s []byte, limit int) []byte {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	n := 0
	for i := 0; i < len(s); {
		if n == limit {
			return s[:i]
		}
		_, w := utf8.DecodeRune(s[i:])
		i += w
		n++
	}
	return s
}

// castLiteral converts a constant now (binding and folding use it), with
// the error Postgres gives for a bad value.
func castLiteral(l *Literal, to kind, limit, fields int) (*Literal, error) {
	from := l.k
	if l.untyped {
		from = kUnknown
	}
	if from == to && limit == 0 && !l.untyped {
		return l, nil
	}
	if !castable(from, to) {
		return nil, fmt.Errorf("cannot cast type %s to %s", from, to)
	}
	if l.IsNull() {
		return &Literal{typ: to.typ(), k: to, arr: nullArray(to.typ(), 1)}, nil
	}
	kern := castKernel(from, to, limit)
	if to == kInterval && fields != intervalFullRange && (from == kText || from == kUnknown) {
		kern = intervalCastKernel(fields)
	}
	out, err := kern(&kctx{args: []arrow.Array{l.arr}, n: 1})
	if err != nil {
		return nil, err
	}
	return literalOf(out), nil
}
