package query

import (
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// JSONValue renders row r of col as a JSON value, as weir's clients see
// results (DESIGN §10): numbers, strings, booleans, null, timestamps as RFC
// 3339 in UTC, dates as YYYY-MM-DD, intervals as Go durations. NaN and the
// infinities, which JSON lacks, become the strings Postgres prints.
func JSONValue(col arrow.Array, r int) any {
	if col.IsNull(r) {
		return nil
	}
	switch a := col.(type) {
	case *array.Int64:
		return a.Value(r)
	case *array.Int32:
		return a.Value(r)
	case *array.Int16:
		return a.Value(r)
	case *array.Int8:
		return a.Value(r)
	case *array.Uint64:
		return a.Value(r)
	case *array.Uint32:
		return a.Value(r)
	case *array.Float64:
		return finite(a.Value(r))
	case *array.Float32:
		return finite(float64(a.Value(r)))
	case *array.Boolean:
		return a.Value(r)
	case *array.String:
		return a.Value(r)
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(r).ToTime(unit).UTC().Format(time.RFC3339Nano)
	case *array.Date32:
		return a.Value(r).ToTime().UTC().Format("2006-01-02")
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		return (time.Duration(a.Value(r)) * unit.Multiplier()).String()
	}
	return col.ValueStr(r)
}

func finite(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}
