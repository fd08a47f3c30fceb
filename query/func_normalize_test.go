package query

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// TestNormalize: columns of Arrow types outside weir's SQL types (as
// Parquet files have them) convert to their SQL family in expressions.
func TestNormalize(t *testing.T) {
	mem := memory.DefaultAllocator
	dec := array.NewDecimal128Builder(mem, &arrow.Decimal128Type{Precision: 10, Scale: 2})
	dec.Append(decimal128.FromI64(12345))
	dec.AppendNull()
	ls := array.NewLargeStringBuilder(mem)
	ls.Append("abc")
	ls.Append("xyz")
	nsParis := &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Paris"}
	fields := []arrow.Field{
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8}, {Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16}, {Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64}, {Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
		{Name: "tsns", Type: nsParis}, {Name: "tss", Type: &arrow.TimestampType{Unit: arrow.Second}},
		{Name: "d64", Type: arrow.FixedWidthTypes.Date64}, {Name: "dur", Type: arrow.FixedWidthTypes.Duration_ms},
		{Name: "ls", Type: arrow.BinaryTypes.LargeString},
	}
	cols := []arrow.Array{
		columnar.Fixed(arrow.PrimitiveTypes.Int8, []int8{-5, 100}, nil, 0),
		columnar.Fixed(arrow.PrimitiveTypes.Uint8, []uint8{255, 1}, nil, 0),
		columnar.Fixed(arrow.PrimitiveTypes.Uint16, []uint16{65535, 2}, nil, 0),
		columnar.Fixed(arrow.PrimitiveTypes.Uint32, []uint32{4294967295, 3}, nil, 0),
		columnar.Fixed(arrow.PrimitiveTypes.Uint64, []uint64{1 << 63, 4}, []byte{2}, 1),
		columnar.Fixed(arrow.PrimitiveTypes.Float32, []float32{1.5, -0.25}, nil, 0),
		dec.NewArray(),
		columnar.Fixed(nsParis, []int64{1_767_225_600_123_456_789, -1}, nil, 0),
		columnar.Fixed(&arrow.TimestampType{Unit: arrow.Second}, []int64{1_767_225_600, 0}, nil, 0),
		columnar.Fixed(arrow.FixedWidthTypes.Date64, []int64{1_767_225_600_000, -1}, nil, 0),
		columnar.Fixed(arrow.FixedWidthTypes.Duration_ms, []int64{1500, -1}, nil, 0),
		ls.NewArray(),
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 2)
	cases := map[string]string{
		"i8 + 1":                     "bigint: -4, 101",
		"u8 * 2":                     "bigint: 510, 2",
		"u16 = 65535":                "boolean: true, false",
		"u32 + 0":                    "bigint: 4294967295, 3",
		"u64 + 0":                    "bigint: NULL, 4",
		"f32 * 2":                    "double precision: 3, -0.5",
		"dec + 0.5":                  "double precision: 123.95, NULL",
		"tsns":                       "timestamp[ns, tz=Europe/Paris]",
		"tsns > '2026-01-01'":        "boolean: true, false",
		"date_trunc('second', tsns)": "timestamp: 2026-01-01 00:00:00, 1969-12-31 23:59:59",
		"CAST(tsns AS text)":         "text: '2026-01-01 00:00:00.123456', '1969-12-31 23:59:59.999999'",
		"tss + INTERVAL '1 hour'":    "timestamp: 2026-01-01 01:00:00, 1970-01-01 01:00:00",
		"d64 + 1":                    "date: 2026-01-02, 1970-01-01",
		"dur * 2":                    "interval: 00:00:03, -00:00:00.002",
		"ls || '!'":                  "text: 'abc!', 'xyz!'",
		"ls LIKE 'a%'":               "boolean: true, false",
		"i8 IN (-5, 7)":              "boolean: true, false",
		"COALESCE(u16, 0)":           "integer: 65535, 2",
		"CASE WHEN true THEN u8 END": "smallint: 255, 1",
		"GREATEST(f32, 0)":           "double precision: 1.5, 0",
		"NULLIF(u8, 1)":              "smallint: 255, NULL",
		"-i8":                        "bigint: 5, -100",
		"CAST(u32 AS integer)":       "error",
		"CAST(dec AS text)":          "text: '123.45', NULL",
		"u8":                         "uint8",
	}
	if got := FormatValue(cols[7], 0); got != "2026-01-01 00:00:00.123456" {
		t.Errorf("FormatValue(timestamp[ns]) = %s", got)
	}
	if got := FormatValue(cols[6], 0); got != "123.45" {
		t.Errorf("FormatValue(decimal) = %s", got)
	}
	for expr, want := range cases {
		e, _, err := bindSQL(expr, rec.Schema())
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if kindOf(e.Type()) == kOther {
			if got := e.Type().String(); got != want {
				t.Errorf("%s: type %s, want %s (passed through)", expr, got, want)
			}
			continue
		}
		out, err := e.Eval(rec)
		got := "error"
		if err == nil {
			got = TypeName(out.DataType()) + ": " + render(out)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	// A uint64 beyond bigint fails in a valid row.
	e := mustBind(t, "u64 + 0", rec.Schema())
	rec2 := array.NewRecordBatch(rec.Schema(), append(append([]arrow.Array{}, cols[:4]...),
		append([]arrow.Array{columnar.Fixed(arrow.PrimitiveTypes.Uint64, []uint64{1 << 63, 4}, nil, 0)}, cols[5:]...)...), 2)
	if _, err := e.Eval(rec2); err == nil || err.(*Error).Msg != "bigint out of range" {
		t.Errorf("uint64 overflow: %v", err)
	}
}
