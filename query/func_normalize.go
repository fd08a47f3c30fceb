package query

import (
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Columns of Arrow types outside weir's SQL types (what Parquet files hold:
// int8, unsigned integers, float32, decimal128, timestamps in other units
// or zones, date64, durations, large strings) are converted to the SQL
// type of their family when an operator, function or CAST uses them:
//
//	int8, uint8 → smallint    uint16 → integer    uint32, uint64 → bigint
//	float16, float32, decimal128, decimal256 → double precision
//	timestamp[any unit, any zone] → timestamp (an instant; no zone = UTC)
//	date64 → date    duration[any unit] → interval
//	large_string, string_view → text
//
// A column that is only passed through (SELECT col) keeps its type.

// normalizeKind is the SQL kind an Arrow type converts to (kOther: none).
func normalizeKind(dt arrow.DataType) kind {
	switch dt.ID() {
	case arrow.INT8, arrow.UINT8:
		return kInt16
	case arrow.UINT16:
		return kInt32
	case arrow.UINT32, arrow.UINT64:
		return kInt64
	case arrow.FLOAT16, arrow.FLOAT32, arrow.DECIMAL128, arrow.DECIMAL256:
		return kFloat64
	case arrow.TIMESTAMP:
		return kTimestamp
	case arrow.DATE64:
		return kDate
	case arrow.DURATION:
		return kInterval
	case arrow.LARGE_STRING, arrow.STRING_VIEW:
		return kText
	}
	return kindOf(dt)
}

// normalizeKernel converts an array of type dt to normalizeKind(dt).
func normalizeKernel(dt arrow.DataType) kernel {
	switch dt.ID() {
	case arrow.INT8:
		return widenKernel[int8, int16](typInt16)
	case arrow.UINT8:
		return widenKernel[uint8, int16](typInt16)
	case arrow.UINT16:
		return widenKernel[uint16, int32](typInt32)
	case arrow.UINT32:
		return widenKernel[uint32, int64](typInt64)
	case arrow.UINT64:
		return func(k *kctx) (arrow.Array, error) {
			src := valuesOf[uint64](k.args[0])
			out := make([]int64, k.n)
			for i, v := range src[:k.n] {
				if v > math.MaxInt64 && k.isValid(i) {
					return nil, errBigintRange
				}
				out[i] = int64(v)
			}
			return fixedOut(typInt64, out, k.valid, k.nulls), nil
		}
	case arrow.FLOAT32:
		return widenKernel[float32, float64](typFloat64)
	case arrow.FLOAT16:
		return floatRows(func(a arrow.Array, i int) float64 { return float64(a.(*array.Float16).Value(i).Float32()) })
	case arrow.DECIMAL128:
		scale := dt.(*arrow.Decimal128Type).Scale
		return floatRows(func(a arrow.Array, i int) float64 { return a.(*array.Decimal128).Value(i).ToFloat64(scale) })
	case arrow.DECIMAL256:
		scale := dt.(*arrow.Decimal256Type).Scale
		return floatRows(func(a arrow.Array, i int) float64 { return a.(*array.Decimal256).Value(i).ToFloat64(scale) })
	case arrow.TIMESTAMP:
		return rescaleKernel(dt.(*arrow.TimestampType).Unit, kTimestamp)
	case arrow.DURATION:
		return rescaleKernel(dt.(*arrow.DurationType).Unit, kInterval)
	case arrow.DATE64:
		return func(k *kctx) (arrow.Array, error) {
			src := valuesOf[int64](k.args[0])
			out := make([]int32, k.n)
			for i, ms := range src[:k.n] {
				d := floorDiv(ms, 86_400_000)
				if (d < math.MinInt32 || d > math.MaxInt32) && k.isValid(i) {
					return nil, errDateOut
				}
				out[i] = int32(d)
			}
			return fixedOut(typDate, out, k.valid, k.nulls), nil
		}
	case arrow.LARGE_STRING, arrow.STRING_VIEW:
		return func(k *kctx) (arrow.Array, error) {
			type valuer interface{ Value(int) string }
			src := k.args[0].(valuer)
			b := newStrBuilder(k.n, 16*k.n)
			for i := 0; i < k.n; i++ {
				if k.isValid(i) {
					b.add(src.Value(i))
				} else {
					b.end()
				}
			}
			return b.finish(k.valid, k.nulls)
		}
	}
	return nil
}

func widenKernel[S int8 | uint8 | uint16 | uint32 | float32, D int16 | int32 | int64 | float64](dt arrow.DataType) kernel {
	return func(k *kctx) (arrow.Array, error) {
		src := valuesOf[S](k.args[0])
		out := make([]D, k.n)
		for i, v := range src[:k.n] {
			out[i] = D(v)
		}
		return fixedOut(dt, out, k.valid, k.nulls), nil
	}
}

func floatRows(get func(a arrow.Array, i int) float64) kernel {
	return func(k *kctx) (arrow.Array, error) {
		out := make([]float64, k.n)
		for i := range out {
			if k.isValid(i) {
				out[i] = get(k.args[0], i)
			}
		}
		return fixedOut(typFloat64, out, k.valid, k.nulls), nil
	}
}

// rescaleKernel converts int64 time values of unit to microseconds
// (nanoseconds round toward negative infinity, like a timestamp's floor).
func rescaleKernel(unit arrow.TimeUnit, to kind) kernel {
	return func(k *kctx) (arrow.Array, error) {
		src := valuesOf[int64](k.args[0])
		out := make([]int64, k.n)
		for i, v := range src[:k.n] {
			switch unit {
			case arrow.Second, arrow.Millisecond:
				f := int64(usPerSecond)
				if unit == arrow.Millisecond {
					f = 1000
				}
				if (v > math.MaxInt64/f || v < math.MinInt64/f) && k.isValid(i) {
					return nil, rangeError(to)
				}
				out[i] = v * f
			case arrow.Microsecond:
				out[i] = v
			case arrow.Nanosecond:
				out[i] = floorDiv(v, 1000)
			}
		}
		return fixedOut(to.typ(), out, k.valid, k.nulls), nil
	}
}

// normalize wraps e in a conversion when its type is not one of weir's SQL
// types but converts to one (see above); other expressions are returned
// as they are.
func (b *binder) normalize(e Expr, pos int) Expr {
	dt := e.Type()
	if kindOf(dt) != kOther || normalizeKind(dt) == kOther {
		return e
	}
	return newCast(e, normalizeKind(dt), 0, intervalFullRange, true, "", src{b.text, pos})
}
