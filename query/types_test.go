package query

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/internal/columnar"
)

// typeNameOf parses CAST(NULL AS <sql>) and returns its type name node.
func typeNameOf(t *testing.T, sql string) *pg.TypeName {
	t.Helper()
	stmts, err := Parse("SELECT CAST(NULL AS " + sql + ")")
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return stmts[0].Node.GetSelectStmt().TargetList[0].GetResTarget().Val.GetTypeCast().TypeName
}

func TestParseType(t *testing.T) {
	cases := []struct {
		sql  string
		want arrow.DataType
	}{
		{"boolean", arrow.FixedWidthTypes.Boolean},
		{"bool", arrow.FixedWidthTypes.Boolean},
		{"smallint", arrow.PrimitiveTypes.Int16},
		{"int2", arrow.PrimitiveTypes.Int16},
		{"integer", arrow.PrimitiveTypes.Int32},
		{"int", arrow.PrimitiveTypes.Int32},
		{"int4", arrow.PrimitiveTypes.Int32},
		{"bigint", arrow.PrimitiveTypes.Int64},
		{"int8", arrow.PrimitiveTypes.Int64},
		{"real", arrow.PrimitiveTypes.Float64},
		{"float4", arrow.PrimitiveTypes.Float64},
		{"double precision", arrow.PrimitiveTypes.Float64},
		{"float", arrow.PrimitiveTypes.Float64},
		{"numeric", arrow.PrimitiveTypes.Float64},
		{"numeric(10, 2)", arrow.PrimitiveTypes.Float64},
		{"decimal", arrow.PrimitiveTypes.Float64},
		{"text", arrow.BinaryTypes.String},
		{"varchar", arrow.BinaryTypes.String},
		{"varchar(10)", arrow.BinaryTypes.String},
		{"character varying(3)", arrow.BinaryTypes.String},
		{"char(2)", arrow.BinaryTypes.String},
		{"timestamp", columnar.TimestampType},
		{"timestamp(3)", columnar.TimestampType},
		{"timestamptz", columnar.TimestampType},
		{"timestamp with time zone", columnar.TimestampType},
		{"timestamp without time zone", columnar.TimestampType},
		{"date", arrow.FixedWidthTypes.Date32},
		{"interval", arrow.FixedWidthTypes.Duration_us},
		{"interval second", arrow.FixedWidthTypes.Duration_us},
		{"interval day to second", arrow.FixedWidthTypes.Duration_us},
		{"pg_catalog.int8", arrow.PrimitiveTypes.Int64},
	}
	for _, c := range cases {
		got, err := ParseType(typeNameOf(t, c.sql))
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if !arrow.TypeEqual(got, c.want) {
			t.Errorf("%s: %s, want %s", c.sql, got, c.want)
		}
	}
	errCases := []struct {
		sql, msg    string
		unsupported bool
	}{
		{"json", "type json is not supported", true},
		{"time", "type time is not supported", true},
		{"int[]", "array type int4[] is not supported", true},
		{"interval year", "interval with a YEAR or MONTH field is not supported", true},
		{"interval year to month", "interval with a YEAR or MONTH field is not supported", true},
		{"nosuch", `type "nosuch" does not exist`, false},
	}
	for _, c := range errCases {
		_, err := ParseType(typeNameOf(t, c.sql))
		if err == nil || !strings.HasPrefix(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want %q", c.sql, err, c.msg)
		}
		if errors.Is(err, ErrUnsupported) != c.unsupported {
			t.Errorf("%s: errors.Is(err, ErrUnsupported) = %v", c.sql, !c.unsupported)
		}
	}
}

func TestTypeName(t *testing.T) {
	cases := []struct {
		dt   arrow.DataType
		want string
	}{
		{arrow.FixedWidthTypes.Boolean, "boolean"},
		{arrow.PrimitiveTypes.Int16, "smallint"},
		{arrow.PrimitiveTypes.Int32, "integer"},
		{arrow.PrimitiveTypes.Int64, "bigint"},
		{arrow.PrimitiveTypes.Float64, "double precision"},
		{arrow.BinaryTypes.String, "text"},
		{columnar.TimestampType, "timestamp"},
		{arrow.FixedWidthTypes.Date32, "date"},
		{arrow.FixedWidthTypes.Duration_us, "interval"},
		{arrow.Null, "unknown"},
		{arrow.PrimitiveTypes.Uint8, "uint8"},
		{&arrow.TimestampType{Unit: arrow.Nanosecond}, "timestamp[ns]"},
	}
	for _, c := range cases {
		if got := TypeName(c.dt); got != c.want {
			t.Errorf("TypeName(%s) = %q, want %q", c.dt, got, c.want)
		}
	}
}

func TestNewLiteral(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		typ   arrow.DataType
		in    any
		value any
		sql   string
	}{
		{typBool, true, true, "true"},
		{typInt16, 7, int16(7), "CAST(7 AS smallint)"},
		{typInt32, int64(-7), int32(-7), "-7"},
		{typInt64, uint32(9), int64(9), "9"},
		{typFloat64, 2.5, 2.5, "2.5"},
		{typFloat64, 3, 3.0, "3.0"},
		{typFloat64, math.Inf(1), math.Inf(1), "CAST('Infinity' AS double precision)"},
		{typText, "it's", "it's", "'it''s'"},
		{typTimestamp, ts, ts, "TIMESTAMP '2026-01-02 03:04:05.000006'"},
		{typDate, day, day, "DATE '2026-01-02'"},
		{typInterval, 90 * time.Second, 90 * time.Second, "INTERVAL '00:01:30'"},
		{typInt64, nil, nil, "CAST(NULL AS bigint)"},
		{typNull, nil, nil, "NULL"},
	}
	for _, c := range cases {
		l, err := NewLiteral(c.typ, c.in)
		if err != nil {
			t.Errorf("NewLiteral(%s, %v): %v", c.typ, c.in, err)
			continue
		}
		if got := l.Value(); got != c.value {
			t.Errorf("NewLiteral(%s, %v).Value() = %#v, want %#v", c.typ, c.in, got, c.value)
		}
		if got := l.String(); got != c.sql {
			t.Errorf("NewLiteral(%s, %v).String() = %s, want %s", c.typ, c.in, got, c.sql)
		}
		if !arrow.TypeEqual(l.Type(), c.typ) {
			t.Errorf("type %s, want %s", l.Type(), c.typ)
		}
		// The SQL reads back as the same constant (a bigint that fits an
		// integer prints plainly: it reads back as an integer, which
		// coerces to the same bigint wherever a bigint is needed).
		back, _, err := bindSQL(c.sql, arrow.NewSchema(nil, nil))
		if err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if lit, ok := back.(*Literal); ok && c.typ == typInt64 && lit.k == kInt32 {
			back, _ = castLiteral(lit, kInt64, 0, intervalFullRange)
		}
		if !Equal(back, l) {
			t.Errorf("%s reads back as %s (%s)", c.sql, back, back.Type())
		}
	}
	for _, bad := range []struct {
		typ arrow.DataType
		in  any
	}{
		{typInt16, 40000}, {typInt32, int64(1) << 40}, {typBool, 1}, {typText, 5},
		{typDate, ts}, {typTimestamp, "2026-01-01"}, {arrow.PrimitiveTypes.Uint8, 1}, {typNull, 1},
	} {
		if _, err := NewLiteral(bad.typ, bad.in); err == nil {
			t.Errorf("NewLiteral(%s, %v) succeeded", bad.typ, bad.in)
		}
	}
}

func TestLiteralEval(t *testing.T) {
	l, _ := NewLiteral(typText, "x")
	rec := parseTable(t, "a bigint\n1\n2\n3")
	a, err := l.Eval(rec)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(a); got != "'x', 'x', 'x'" {
		t.Errorf("broadcast = %s", got)
	}
	n := nullLiteral(typNull)
	a, err = n.Eval(rec)
	if err != nil || a.Len() != 3 || a.NullN() != 3 {
		t.Errorf("NULL broadcast: %v, %v", a, err)
	}
}
