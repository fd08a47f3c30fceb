package parquet

import (
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	pq "github.com/parquet-go/parquet-go"
)

// chunkRows is how many values go to a column writer per call. parquet-go
// cuts a page after a call that fills its page buffer, so this bounds how
// far a page may overshoot PageBytes.
const chunkRows = 1024

// writeChunk writes rows [i, j) of rec (and their lineage) to f, column by
// column.
func (w *Writer) writeChunk(f *openFile, rec arrow.RecordBatch, split string, positions []int64, i, j int) error {
	cws := f.pw.ColumnWriters()
	n := j - i
	for c := range int(rec.NumCols()) {
		field := w.in.Field(c)
		vals, err := w.columnValues(c, rec.Column(c), field.Nullable, i, j)
		if err != nil {
			return fmt.Errorf("column %q: %w", field.Name, err)
		}
		if err := writeValues(cws[c], vals); err != nil {
			return fmt.Errorf("column %q: %w", field.Name, err)
		}
	}
	if w.opts.Lineage {
		c := int(rec.NumCols())
		s := w.scratch(c, n)
		sv := pq.ByteArrayValue([]byte(split)).Level(0, 0, c)
		for k := range s {
			s[k] = sv
		}
		if err := writeValues(cws[c], s); err != nil {
			return fmt.Errorf("column %s: %w", SplitColumn, err)
		}
		p := w.scratch(c+1, n)
		for k, v := range positions[i:j] {
			p[k] = pq.Int64Value(v).Level(0, 0, c+1)
		}
		if err := writeValues(cws[c+1], p); err != nil {
			return fmt.Errorf("column %s: %w", PositionColumn, err)
		}
	}
	return nil
}

func writeValues(cw *pq.ColumnWriter, vals []pq.Value) error {
	for len(vals) > 0 {
		k := min(len(vals), chunkRows)
		if _, err := cw.WriteRowValues(vals[:k]); err != nil {
			return err
		}
		vals = vals[k:]
	}
	return nil
}

func (w *Writer) scratch(c, n int) []pq.Value {
	if cap(w.vals[c]) < n {
		w.vals[c] = make([]pq.Value, n)
	}
	return w.vals[c][:n]
}

// columnValues turns rows [i, j) of arr into Parquet values of leaf column
// c: definition level 1 for a value of an optional column, 0 for a NULL.
func (w *Writer) columnValues(c int, arr arrow.Array, optional bool, i, j int) ([]pq.Value, error) {
	out := w.scratch(c, j-i)
	def := 0
	if optional {
		def = 1
	} else if arr.NullN() > 0 && hasNull(arr, i, j) {
		return nil, fmt.Errorf("NULL in a column declared NOT NULL")
	}
	switch a := arr.(type) {
	case *array.Boolean:
		for k := range out {
			out[k] = pq.BooleanValue(a.Value(i+k)).Level(0, def, c)
		}
	case *array.Int8:
		fill(out, a.Int8Values()[i:j], def, c, func(v int8) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Int16:
		fill(out, a.Int16Values()[i:j], def, c, func(v int16) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Int32:
		fill(out, a.Int32Values()[i:j], def, c, pq.Int32Value)
	case *array.Int64:
		fill(out, a.Int64Values()[i:j], def, c, pq.Int64Value)
	case *array.Uint8:
		fill(out, a.Uint8Values()[i:j], def, c, func(v uint8) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Uint16:
		fill(out, a.Uint16Values()[i:j], def, c, func(v uint16) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Uint32:
		fill(out, a.Uint32Values()[i:j], def, c, func(v uint32) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Uint64:
		fill(out, a.Uint64Values()[i:j], def, c, func(v uint64) pq.Value { return pq.Int64Value(int64(v)) })
	case *array.Float32:
		fill(out, a.Float32Values()[i:j], def, c, pq.FloatValue)
	case *array.Float64:
		fill(out, a.Float64Values()[i:j], def, c, pq.DoubleValue)
	case *array.Date32:
		fill(out, a.Date32Values()[i:j], def, c, func(v arrow.Date32) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Timestamp:
		fill(out, a.TimestampValues()[i:j], def, c, func(v arrow.Timestamp) pq.Value { return pq.Int64Value(int64(v)) })
	case *array.String:
		byteValues(out, a.ValueOffsets(), a.Data().Buffers()[2], i, j, def, c)
	case *array.Binary:
		byteValues(out, a.ValueOffsets(), a.Data().Buffers()[2], i, j, def, c)
	default:
		return nil, fmt.Errorf("%w: writing %s", ErrUnsupported, arr.DataType())
	}
	if optional && arr.NullN() > 0 {
		for k := range out {
			if arr.IsNull(i + k) {
				out[k] = pq.Value{}.Level(0, 0, c)
			}
		}
	}
	return out, nil
}

func fill[T any](out []pq.Value, vs []T, def, c int, mk func(T) pq.Value) {
	for k, v := range vs {
		out[k] = mk(v).Level(0, def, c)
	}
}

// byteValues points each value at its bytes in the Arrow data buffer: the
// column writer copies them into its page, so nothing is copied here.
func byteValues(out []pq.Value, offs []int32, data interface{ Bytes() []byte }, i, j, def, c int) {
	var b []byte
	if data != nil {
		b = data.Bytes()
	}
	for k := range out {
		out[k] = pq.ByteArrayValue(b[offs[i+k]:offs[i+k+1]:offs[i+k+1]]).Level(0, def, c)
	}
}

func hasNull(a arrow.Array, i, j int) bool {
	for k := i; k < j; k++ {
		if a.IsNull(k) {
			return true
		}
	}
	return false
}

// hiveDefault is Hive's directory for a NULL partition value.
const hiveDefault = "__HIVE_DEFAULT_PARTITION__"

// partitionDirs returns, for every row, the Hive directory its time puts
// it in: "date=2026-01-01/" or "date=2026-01-01/hour=07/". The strings of
// equal consecutive rows are shared.
func partitionDirs(col arrow.Array, hourly bool) []string {
	n := col.Len()
	out := make([]string, n)
	unit := int64(24 * 3600 * 1e6)
	if hourly {
		unit = 3600 * 1e6
	}
	lastBucket, last := int64(-1<<63), ""
	for r := range n {
		if col.IsNull(r) {
			out[r] = "date=" + hiveDefault + "/"
			continue
		}
		var us int64
		switch a := col.(type) {
		case *array.Timestamp:
			v := int64(a.Value(r))
			switch a.DataType().(*arrow.TimestampType).Unit {
			case arrow.Second:
				us = v * 1e6
			case arrow.Millisecond:
				us = v * 1e3
			case arrow.Microsecond:
				us = v
			case arrow.Nanosecond:
				us = v / 1e3
			}
		case *array.Date32:
			us = int64(a.Value(r)) * 24 * 3600 * 1e6
		case *array.Int64:
			us = a.Value(r)
		}
		b := us / unit
		if us%unit != 0 && us < 0 {
			b--
		}
		if b != lastBucket {
			t := time.UnixMicro(b * unit).UTC()
			last = "date=" + t.Format("2006-01-02") + "/"
			if hourly {
				last += fmt.Sprintf("hour=%02d/", t.Hour())
			}
			lastBucket = b
		}
		out[r] = last
	}
	return out
}
