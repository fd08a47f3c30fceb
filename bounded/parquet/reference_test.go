package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// TestAgainstRowReader compares every value this reader decodes from the
// readable parquet-testing files with parquet-go's own row reader (a
// separate path: rows of boxed values, reflection-free but row by row).
// Columns are compared in their physical representation; DECIMAL, FLOAT16
// and INT96 columns only by nullness.
func TestAgainstRowReader(t *testing.T) {
	for rel, want := range compat {
		if want.kind != "ok" {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testingDir, rel))
			if err != nil {
				t.Skip(err)
			}
			ref, err := referenceRows(data)
			if err != nil {
				t.Skipf("parquet-go's row reader cannot read it: %v", err)
			}
			st := newMemStore()
			st.put(rel, data)
			for _, batch := range []int{defaultBatchRows, 7} {
				src, err := New(context.Background(), st, st.infos(t, rel), Options{BatchRows: batch})
				if err != nil {
					t.Fatal(err)
				}
				recs, err := readSource(t, src)
				if err != nil {
					t.Fatal(err)
				}
				f := src.files[0]
				for _, c := range f.schema.cols {
					got := physicalValues(recs, &c)
					exp := ref[c.leaf]
					if len(got) != len(exp) {
						t.Fatalf("column %q: %d values, want %d", c.name, len(got), len(exp))
					}
					for i := range got {
						if got[i] != exp[i] && got[i] != "?" {
							t.Fatalf("batch %d: column %q row %d: got %s, want %s", batch, c.name, i, got[i], exp[i])
						}
					}
				}
			}
		})
	}
}

// referenceRows reads a file with parquet-go's row reader: rendered values
// by leaf column.
func referenceRows(data []byte) (cols [][]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	cols = make([][]string, len(f.Schema().Columns()))
	leaves := f.Schema().Columns()
	unsigned := make([]bool, len(leaves))
	for i, path := range leaves {
		leaf, _ := f.Schema().Lookup(path...)
		if lt := leaf.Node.Type().LogicalType(); lt != nil {
			if it, ok := lt.Value.(*format.IntType); ok && !it.IsSigned {
				unsigned[i] = true
			}
		}
	}
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				for _, v := range row {
					c := v.Column()
					cols[c] = append(cols[c], renderValue(v, unsigned[c]))
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = rows.Close()
				return nil, err
			}
		}
		_ = rows.Close()
	}
	return cols, nil
}

func renderValue(v parquet.Value, unsigned bool) string {
	if v.IsNull() {
		return "NULL"
	}
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.FormatBool(v.Boolean())
	case parquet.Int32:
		if unsigned {
			return strconv.FormatUint(uint64(v.Uint32()), 10)
		}
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		if unsigned {
			return strconv.FormatUint(v.Uint64(), 10)
		}
		return strconv.FormatInt(v.Int64(), 10)
	case parquet.Float:
		return strconv.FormatFloat(float64(v.Float()), 'g', -1, 32)
	case parquet.Double:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return strconv.Quote(string(v.ByteArray()))
	}
	return "?"
}

// physicalValues renders a column of recs as renderValue renders the
// physical values ("?" where the Arrow type is not comparable that way).
func physicalValues(recs []arrow.RecordBatch, c *column) []string {
	var out []string
	opaque := c.phys == physInt96 || c.conv == convDecimal || c.conv == convFloat16
	for _, r := range recs {
		idx := r.Schema().FieldIndices(c.name)
		a := r.Column(idx[0])
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				out = append(out, "NULL")
				continue
			}
			if opaque {
				out = append(out, "?")
				continue
			}
			var s string
			switch v := a.(type) {
			case *array.Boolean:
				s = strconv.FormatBool(v.Value(i))
			case *array.Int8:
				s = strconv.FormatInt(int64(v.Value(i)), 10)
			case *array.Int16:
				s = strconv.FormatInt(int64(v.Value(i)), 10)
			case *array.Int32:
				s = strconv.FormatInt(int64(v.Value(i)), 10)
			case *array.Int64:
				s = strconv.FormatInt(v.Value(i), 10)
			case *array.Uint8:
				s = strconv.FormatUint(uint64(v.Value(i)), 10)
			case *array.Uint16:
				s = strconv.FormatUint(uint64(v.Value(i)), 10)
			case *array.Uint32:
				s = strconv.FormatUint(uint64(v.Value(i)), 10)
			case *array.Uint64:
				s = strconv.FormatUint(v.Value(i), 10)
			case *array.Date32:
				s = strconv.FormatInt(int64(v.Value(i)), 10)
			case *array.Time32:
				s = strconv.FormatInt(int64(v.Value(i)), 10)
			case *array.Time64:
				s = strconv.FormatInt(int64(v.Value(i)), 10)
			case *array.Float64:
				s = strconv.FormatFloat(v.Value(i), 'g', -1, 64)
			case *array.String:
				s = strconv.Quote(v.Value(i))
			case *array.Binary:
				s = strconv.Quote(string(v.Value(i)))
			case *array.Float32:
				s = strconv.FormatFloat(float64(v.Value(i)), 'g', -1, 32)
			case *array.Timestamp:
				s = strconv.FormatInt(int64(v.Value(i)), 10)
			default:
				s = "?"
			}
			out = append(out, s)
		}
	}
	return out
}
