package parquet

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// Partitioning says how object keys carry column values.
type Partitioning struct {
	// Hive turns every directory segment key=value of a file's key into a
	// column named key (Hive-style partitioning: "bids/date=2026-01-01/
	// part-0.parquet"). Values are URL-unescaped; an empty value and
	// __HIVE_DEFAULT_PARTITION__ are NULL; a key missing from some files is
	// NULL there. Partition columns follow the file columns in the schema.
	Hive bool
	// Types fixes a partition column's type (int64, date32 or string).
	// Otherwise it is inferred from all files' values: int64 when every
	// value is a decimal integer, date32 when every value is YYYY-MM-DD,
	// string otherwise.
	Types map[string]arrow.DataType
	// Prefix is the part of the keys that is the table's location, not
	// partitions ("warehouse/db=sales/bids/"): its segments are skipped.
	Prefix string
}

const hiveNull = "__HIVE_DEFAULT_PARTITION__"

// hiveValues returns the key=value directory segments of key, in order.
func hiveValues(key string) (keys, vals []string) {
	segs := strings.Split(key, "/")
	for _, seg := range segs[:len(segs)-1] { // the last segment is the file name
		k, v, ok := strings.Cut(seg, "=")
		if !ok || k == "" {
			continue
		}
		if u, err := url.PathUnescape(k); err == nil {
			k = u
		}
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		keys = append(keys, k)
		vals = append(vals, v)
	}
	return keys, vals
}

// partValue is one file's value of a partition column.
type partValue struct {
	null bool
	raw  string
	s    scalar
}

// partitionColumns infers the partition columns of files: their names in
// order of first appearance, their types, and each file's values.
func partitionColumns(keys []string, opts Partitioning) (names []string, types []arrow.DataType, vals [][]partValue, err error) {
	if !opts.Hive {
		return nil, nil, nil, nil
	}
	index := map[string]int{}
	raw := make([]map[string]string, len(keys))
	for i, key := range keys {
		ks, vs := hiveValues(strings.TrimPrefix(key, opts.Prefix))
		raw[i] = map[string]string{}
		for j, k := range ks {
			if prev, dup := raw[i][k]; dup && prev != vs[j] {
				return nil, nil, nil, fmt.Errorf("%s: partition key %q appears twice with different values", key, k)
			}
			raw[i][k] = vs[j]
			if _, ok := index[k]; !ok {
				index[k] = len(names)
				names = append(names, k)
			}
		}
	}
	types = make([]arrow.DataType, len(names))
	for c, name := range names {
		if t, ok := opts.Types[name]; ok {
			switch t.ID() {
			case arrow.INT64, arrow.DATE32, arrow.STRING:
				types[c] = t
				continue
			}
			return nil, nil, nil, fmt.Errorf("partition column %q: type %s is not one of int64, date32, string", name, t)
		}
		isInt, isDate := true, true
		for i := range keys {
			v, ok := raw[i][name]
			if !ok || v == "" || v == hiveNull {
				continue
			}
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				isInt = false
			}
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				isDate = false
			}
		}
		switch {
		case isInt:
			types[c] = arrow.PrimitiveTypes.Int64
		case isDate:
			types[c] = arrow.FixedWidthTypes.Date32
		default:
			types[c] = arrow.BinaryTypes.String
		}
	}
	vals = make([][]partValue, len(keys))
	for i, key := range keys {
		vals[i] = make([]partValue, len(names))
		for c, name := range names {
			v, ok := raw[i][name]
			if !ok || v == "" || v == hiveNull {
				vals[i][c] = partValue{null: true}
				continue
			}
			pv := partValue{raw: v}
			switch types[c].ID() {
			case arrow.INT64:
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("%s: partition %s=%s is not an int64", key, name, v)
				}
				pv.s.i = n
			case arrow.DATE32:
				d, err := time.Parse(time.DateOnly, v)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("%s: partition %s=%s is not a date", key, name, v)
				}
				pv.s.i = floorDiv(d.Unix(), 86400)
			default:
				pv.s.b = []byte(v)
			}
			vals[i][c] = pv
		}
	}
	return names, types, vals, nil
}

// constArray returns an array of n copies of v, of type t.
func constArray(t arrow.DataType, v partValue, n int) arrow.Array {
	if v.null {
		return array.MakeArrayOfNull(memory.DefaultAllocator, t, n)
	}
	switch t.ID() {
	case arrow.INT64:
		vals := make([]int64, n)
		for i := range vals {
			vals[i] = v.s.i
		}
		return columnar.Fixed(t, vals, nil, 0)
	case arrow.DATE32:
		vals := make([]int32, n)
		for i := range vals {
			vals[i] = int32(v.s.i)
		}
		return columnar.Fixed(t, vals, nil, 0)
	}
	w := len(v.raw)
	data := make([]byte, 0, n*w)
	offs := make([]int32, n+1)
	for i := range n {
		data = append(data, v.raw...)
		offs[i+1] = int32((i + 1) * w)
	}
	return columnar.Strings(data, offs)
}
