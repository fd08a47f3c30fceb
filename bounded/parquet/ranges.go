package parquet

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Range is the span of one column's values in one file, read from the
// row-group statistics in the footer: what a caller can learn about a file
// without reading its pages. A live run that continues a history uses it to
// learn, before reading anything, which lineage split each file holds
// (SplitColumn's min and max are equal) and where each split's history
// ends (PositionColumn's max).
type Range struct {
	// File is the file's split ID (dataflow.Split.ID).
	File string
	// Rows is the number of rows of the row groups the source reads.
	Rows int64
	// Known is false when a row group lacks usable min/max statistics for
	// the column, or the file lacks the column; Min and Max are then nil.
	Known bool
	// Min and Max are the smallest and largest non-NULL values: int64 for
	// integer columns, time.Time (UTC) for timestamps, string for string
	// and binary columns.
	Min, Max any
}

// Ranges returns the range of column's values in each file the source
// reads, in split order, over the row groups it reads (statistics pruned
// the others). Columns of other types than integers, timestamps and
// strings, and partition columns, are refused: nothing needs them yet.
func (s *Source) Ranges(column string) ([]Range, error) {
	is := s.schema.FieldIndices(column)
	if len(is) != 1 || is[0] >= s.fileFields {
		return nil, fmt.Errorf("parquet: ranges of %q: not a column of the files", column)
	}
	field := is[0]
	typ := s.schema.Field(field).Type
	d, err := domainOf(typ)
	if err != nil || (d != domInt && d != domBytes) || typ.ID() == arrow.UINT64 {
		return nil, fmt.Errorf("parquet: ranges of %q: %s columns are not supported", column, typ)
	}
	out := make([]Range, 0, len(s.files))
	for _, f := range s.files {
		r := Range{File: f.name, Known: true}
		var lo, hi scalar
		first := true
		for g := range f.rgs {
			rg := &f.rgs[g]
			if !rg.keep || rg.rows == 0 {
				continue
			}
			r.Rows += rg.rows
			c := f.cols[field]
			if c < 0 {
				r.Known = false
				continue
			}
			col := &f.schema.cols[c]
			st := chunkStats(col, typ, &f.md.RowGroups[g].Columns[col.leaf].MetaData, rg.rows)
			if !st.hasMinMax {
				r.Known = false
				continue
			}
			if first || cmpScalar(d, st.min, lo) < 0 {
				lo = st.min
			}
			if first || cmpScalar(d, st.max, hi) > 0 {
				hi = st.max
			}
			first = false
		}
		if r.Known && !first {
			r.Min, r.Max = rangeValue(typ, lo), rangeValue(typ, hi)
		} else {
			r.Known = false
		}
		out = append(out, r)
	}
	return out, nil
}

// rangeValue converts a statistic of a column of type t (an integer,
// timestamp or string domain) to the value Range reports.
func rangeValue(t arrow.DataType, v scalar) any {
	switch tt := t.(type) {
	case *arrow.TimestampType:
		switch tt.Unit {
		case arrow.Second:
			return time.Unix(v.i, 0).UTC()
		case arrow.Millisecond:
			return time.UnixMilli(v.i).UTC()
		case arrow.Microsecond:
			return time.UnixMicro(v.i).UTC()
		default:
			return time.Unix(0, v.i).UTC()
		}
	case *arrow.StringType, *arrow.BinaryType:
		return string(v.b)
	}
	return v.i
}
