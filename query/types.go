package query

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/weirdata/weir/internal/columnar"
)

// SQL types and their Arrow representation. A value of a SQL type is always
// stored as the Arrow type of this table, so that every kernel has one loop
// per SQL type:
//
//	SQL type                           Arrow type           notes
//	BOOLEAN (bool)                     bool
//	SMALLINT (int2)                    int16                arithmetic widens to bigint (Postgres keeps
//	INTEGER (int, int4)                int32                int2/int4 and fails with "integer out of range")
//	BIGINT (int8)                      int64
//	REAL (float4), DOUBLE PRECISION,   float64              REAL is stored as double precision
//	  FLOAT (float8)
//	NUMERIC, DECIMAL [(p, s)]          float64              approximated: binary floating point with about
//	                                                        15 significant digits, not exact decimals;
//	                                                        (p, s) is ignored
//	TEXT, VARCHAR[(n)], CHAR[(n)]      string (utf8)        CAST to VARCHAR(n)/CHAR(n) truncates to n
//	                                                        characters; CHAR is not blank-padded;
//	                                                        comparisons are bytewise (the C collation)
//	TIMESTAMP, TIMESTAMPTZ             timestamp[us, UTC]   one type (columnar.TimestampType): an instant
//	                                                        in microseconds, read and shown in UTC (as
//	                                                        TIMESTAMPTZ with TimeZone = 'UTC')
//	DATE                               date32               days since 1970-01-01
//	INTERVAL                           duration[us]         days and times only, a day being 24 hours;
//	                                                        months and years are refused (ErrUnsupported),
//	                                                        except as unit strings ('month' in date_trunc)
//	NULL (a bare NULL literal)         null                 until coerced to the type its context needs
//
// Why one type per family: weir's event time is only ever timestamp[us, UTC]
// (windows, watermarks and partitions compare int64 microseconds), and a
// single integer width for arithmetic keeps the kernel count small; the
// rejected alternative, Postgres' full type lattice, would multiply kernels
// for no difference a streaming query can observe except overflow bounds.
// Why intervals have no months: a window or a watermark delay must be an
// exact duration, and "a month after" depends on a calendar, not on time.

// The Arrow types of the table above.
var (
	typBool      arrow.DataType = arrow.FixedWidthTypes.Boolean
	typInt16     arrow.DataType = arrow.PrimitiveTypes.Int16
	typInt32     arrow.DataType = arrow.PrimitiveTypes.Int32
	typInt64     arrow.DataType = arrow.PrimitiveTypes.Int64
	typFloat64   arrow.DataType = arrow.PrimitiveTypes.Float64
	typText      arrow.DataType = arrow.BinaryTypes.String
	typTimestamp arrow.DataType = columnar.TimestampType
	typDate      arrow.DataType = arrow.FixedWidthTypes.Date32
	typInterval  arrow.DataType = arrow.FixedWidthTypes.Duration_us
	typNull      arrow.DataType = arrow.Null
)

// kind is the SQL type of a value as the binder and the kernels see it: one
// per row of the table above, plus the pseudo-types of overload resolution.
type kind uint8

const (
	kNull      kind = iota // a bare NULL: coerces to anything
	kUnknown               // an untyped string literal ('2026-01-01'): Postgres' unknown
	kBool                  //
	kInt16                 //
	kInt32                 //
	kInt64                 //
	kFloat64               //
	kText                  //
	kTimestamp             //
	kDate                  //
	kInterval              //
	kAny                   // a parameter that takes any type (concat, ||)
	kOther                 // an Arrow type that is not one of weir's SQL types
)

// kindOf classifies an Arrow type.
func kindOf(dt arrow.DataType) kind {
	switch dt.ID() {
	case arrow.NULL:
		return kNull
	case arrow.BOOL:
		return kBool
	case arrow.INT16:
		return kInt16
	case arrow.INT32:
		return kInt32
	case arrow.INT64:
		return kInt64
	case arrow.FLOAT64:
		return kFloat64
	case arrow.STRING:
		return kText
	case arrow.DATE32:
		return kDate
	case arrow.TIMESTAMP:
		if ts := dt.(*arrow.TimestampType); ts.Unit == arrow.Microsecond && ts.TimeZone == "UTC" {
			return kTimestamp
		}
	case arrow.DURATION:
		if dt.(*arrow.DurationType).Unit == arrow.Microsecond {
			return kInterval
		}
	}
	return kOther
}

// typ is the Arrow type of a kind (nil for the pseudo-kinds).
func (k kind) typ() arrow.DataType {
	switch k {
	case kNull:
		return typNull
	case kUnknown, kText:
		return typText
	case kBool:
		return typBool
	case kInt16:
		return typInt16
	case kInt32:
		return typInt32
	case kInt64:
		return typInt64
	case kFloat64:
		return typFloat64
	case kTimestamp:
		return typTimestamp
	case kDate:
		return typDate
	case kInterval:
		return typInterval
	}
	return nil
}

// String is the SQL name of a kind, as Postgres prints it in messages.
func (k kind) String() string {
	switch k {
	case kNull, kUnknown:
		return "unknown"
	case kBool:
		return "boolean"
	case kInt16:
		return "smallint"
	case kInt32:
		return "integer"
	case kInt64:
		return "bigint"
	case kFloat64:
		return "double precision"
	case kText:
		return "text"
	case kTimestamp:
		return "timestamp"
	case kDate:
		return "date"
	case kInterval:
		return "interval"
	case kAny:
		return "any"
	}
	return "other"
}

func (k kind) isInteger() bool { return k == kInt16 || k == kInt32 || k == kInt64 }
func (k kind) isNumeric() bool { return k.isInteger() || k == kFloat64 }

// TypeName is the SQL name of an Arrow type, for messages ("bigint",
// "timestamp", "interval"); types outside the table above are named by Arrow.
func TypeName(dt arrow.DataType) string {
	if dt == nil {
		return "unknown"
	}
	if k := kindOf(dt); k != kOther {
		return k.String()
	}
	return dt.String()
}

// sqlTypes maps Postgres type names (as the parser spells them, after
// pg_catalog. is stripped) to kinds.
var sqlTypes = map[string]kind{
	"bool": kBool, "boolean": kBool,
	"int2": kInt16, "smallint": kInt16,
	"int4": kInt32, "int": kInt32, "integer": kInt32,
	"int8": kInt64, "bigint": kInt64,
	"float4": kFloat64, "real": kFloat64, "float8": kFloat64, "float": kFloat64, "double precision": kFloat64,
	"numeric": kFloat64, "decimal": kFloat64,
	"text": kText, "varchar": kText, "bpchar": kText, "char": kText, "character": kText,
	"character varying": kText, "string": kText,
	"timestamp": kTimestamp, "timestamptz": kTimestamp,
	"date":     kDate,
	"interval": kInterval,
}

// knownUnsupported are Postgres types weir does not have; naming them gives
// an ErrUnsupported error rather than "does not exist".
var knownUnsupported = map[string]bool{
	"time": true, "timetz": true, "bytea": true, "json": true, "jsonb": true, "uuid": true,
	"money": true, "bit": true, "varbit": true, "inet": true, "cidr": true, "macaddr": true,
	"xml": true, "point": true, "oid": true, "name": true, "regclass": true, "tsvector": true,
	"int4range": true, "tstzrange": true, "daterange": true, "record": true,
}

// ParseType maps a parsed SQL type name to its Arrow type (see the table
// above). Types that Postgres has and weir does not, arrays, and intervals
// restricted to months or years are errors matching ErrUnsupported; unknown
// names give `type "x" does not exist`. The errors carry no position: the
// caller knows where the type name is (typeName.Location).
func ParseType(typeName *pg.TypeName) (arrow.DataType, error) {
	k, err := parseKind(typeName)
	if err != nil {
		return nil, err
	}
	return k.typ(), nil
}

func parseKind(typeName *pg.TypeName) (kind, error) {
	if typeName == nil {
		return kOther, fmt.Errorf("missing type name")
	}
	name := typeNameString(typeName)
	if len(typeName.ArrayBounds) > 0 {
		return kOther, fmt.Errorf("array type %s[] is %w", name, ErrUnsupported)
	}
	if typeName.Setof || typeName.PctType {
		return kOther, fmt.Errorf("type %s is %w", name, ErrUnsupported)
	}
	k, ok := sqlTypes[name]
	if !ok {
		if knownUnsupported[name] {
			return kOther, fmt.Errorf("type %s is %w", name, ErrUnsupported)
		}
		return kOther, fmt.Errorf("type %q does not exist", name)
	}
	if k == kInterval {
		if f := intervalFields(typeName); f&(fieldYear|fieldMonth) != 0 && f != intervalFullRange {
			return kOther, fmt.Errorf("interval with a YEAR or MONTH field is %w: weir's intervals are exact durations (a day is 24 hours)", ErrUnsupported)
		}
	}
	return k, nil
}

// typeNameString is the type's name without a pg_catalog qualifier.
func typeNameString(typeName *pg.TypeName) string {
	var parts []string
	for _, n := range typeName.Names {
		if s := n.GetString_(); s != nil {
			parts = append(parts, s.Sval)
		}
	}
	if len(parts) == 2 && parts[0] == "pg_catalog" {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

// Interval field masks of the typmod the parser attaches to INTERVAL '1'
// SECOND or INTERVAL '1:30' HOUR TO MINUTE (Postgres' INTERVAL_MASK bits).
const (
	fieldMonth        = 1 << 1
	fieldYear         = 1 << 2
	fieldDay          = 1 << 3
	fieldHour         = 1 << 10
	fieldMinute       = 1 << 11
	fieldSecond       = 1 << 12
	intervalFullRange = 0x7FFF
)

// intervalFields returns the field mask of an interval type name
// (intervalFullRange when it has none).
func intervalFields(typeName *pg.TypeName) int {
	if len(typeName.Typmods) == 0 {
		return intervalFullRange
	}
	if c := typeName.Typmods[0].GetAConst(); c != nil {
		if i := c.GetIval(); i != nil {
			return int(i.Ival)
		}
	}
	return intervalFullRange
}

// stringLimit is n of VARCHAR(n) and CHAR(n) (0: no limit). Postgres' bare
// CHAR means CHAR(1).
func stringLimit(typeName *pg.TypeName) int {
	name := typeNameString(typeName)
	if name != "varchar" && name != "bpchar" && name != "char" && name != "character" && name != "character varying" {
		return 0
	}
	if len(typeName.Typmods) == 0 {
		if name == "bpchar" || name == "char" || name == "character" {
			return 1
		}
		return 0
	}
	if c := typeName.Typmods[0].GetAConst(); c != nil {
		if i := c.GetIval(); i != nil && i.Ival > 0 {
			return int(i.Ival)
		}
	}
	return 0
}

// Literal is a typed constant. A bare NULL has type arrow.Null until an
// operator, function or CAST coerces it; a quoted string without a type
// ('2026-01-01') is text but still takes the type its context needs, like
// Postgres' unknown literals.
type Literal struct {
	typ arrow.DataType
	k   kind
	// arr holds the value as a one-row array: kernels broadcast it.
	arr arrow.Array
	// untyped marks a quoted string whose type is still open.
	untyped bool
}

// NewLiteral makes a constant of type typ (one of the SQL types of the table
// above, or arrow.Null). value is nil for NULL, or: bool; any Go integer for
// smallint, integer and bigint (range-checked); a float or integer for double
// precision; string for text; time.Time for timestamp and date (a date must
// be midnight UTC); time.Duration for interval.
func NewLiteral(typ arrow.DataType, value any) (*Literal, error) {
	k := kindOf(typ)
	if k == kOther {
		return nil, fmt.Errorf("literal of type %s: %w", typ, ErrUnsupported)
	}
	if value == nil || k == kNull {
		if value != nil {
			return nil, fmt.Errorf("a literal of type null must have a nil value, not %T", value)
		}
		return &Literal{typ: typ, k: k, arr: array.MakeArrayOfNull(memory.DefaultAllocator, typ, 1)}, nil
	}
	bad := func() (*Literal, error) {
		return nil, fmt.Errorf("a %s literal cannot hold %T", k, value)
	}
	var arr arrow.Array
	switch k {
	case kBool:
		b, ok := value.(bool)
		if !ok {
			return bad()
		}
		arr = columnar.Bools([]bool{b})
	case kInt16, kInt32, kInt64:
		i, ok := toInt64(value)
		if !ok {
			return bad()
		}
		switch {
		case k == kInt16 && (i < math.MinInt16 || i > math.MaxInt16):
			return nil, fmt.Errorf("smallint out of range")
		case k == kInt32 && (i < math.MinInt32 || i > math.MaxInt32):
			return nil, fmt.Errorf("integer out of range")
		}
		arr = intArray(k, []int64{i})
	case kFloat64:
		f, ok := value.(float64)
		if !ok {
			if f32, ok32 := value.(float32); ok32 {
				f, ok = float64(f32), true
			} else if i, oki := toInt64(value); oki {
				f, ok = float64(i), true
			}
		}
		if !ok {
			return bad()
		}
		arr = columnar.Float64s([]float64{f})
	case kText:
		s, ok := value.(string)
		if !ok {
			return bad()
		}
		arr = columnar.StringsOf([]string{s})
	case kTimestamp:
		t, ok := value.(time.Time)
		if !ok {
			return bad()
		}
		arr = columnar.Timestamps([]int64{t.UnixMicro()})
	case kDate:
		t, ok := value.(time.Time)
		if !ok {
			return bad()
		}
		t = t.UTC()
		if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
			return nil, fmt.Errorf("a date literal must be midnight UTC, not %s", t)
		}
		days := t.Unix() / 86400
		if days < math.MinInt32 || days > math.MaxInt32 {
			return nil, fmt.Errorf("date out of range")
		}
		arr = columnar.Fixed(typDate, []int32{int32(days)}, nil, 0)
	case kInterval:
		d, ok := value.(time.Duration)
		if !ok {
			return bad()
		}
		arr = columnar.Fixed(typInterval, []int64{d.Microseconds()}, nil, 0)
	default:
		return bad()
	}
	return &Literal{typ: k.typ(), k: k, arr: arr}, nil
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

// intArray makes an array of an integer kind from int64 values that fit.
func intArray(k kind, vals []int64) arrow.Array {
	switch k {
	case kInt16:
		out := make([]int16, len(vals))
		for i, v := range vals {
			out[i] = int16(v)
		}
		return columnar.Fixed(typInt16, out, nil, 0)
	case kInt32:
		out := make([]int32, len(vals))
		for i, v := range vals {
			out[i] = int32(v)
		}
		return columnar.Fixed(typInt32, out, nil, 0)
	}
	return columnar.Int64s(vals)
}

// literalOf wraps a one-row array as a literal.
func literalOf(arr arrow.Array) *Literal {
	return &Literal{typ: arr.DataType(), k: kindOf(arr.DataType()), arr: arr}
}

// untypedLiteral is a quoted string constant whose type is still open.
func untypedLiteral(s string) *Literal {
	l := literalOf(columnar.StringsOf([]string{s}))
	l.untyped = true
	return l
}

func (l *Literal) Type() arrow.DataType              { return l.typ }
func (l *Literal) Children() []Expr                  { return nil }
func (l *Literal) WithChildren([]Expr) (Expr, error) { return l, nil }

// IsNull reports whether the literal is NULL.
func (l *Literal) IsNull() bool { return l.k == kNull || l.arr.IsNull(0) }

// Value returns the constant as a Go value: nil for NULL, else bool, int16,
// int32, int64, float64, string, time.Time (timestamp and date, in UTC) or
// time.Duration (interval; saturated beyond ±292 years).
func (l *Literal) Value() any {
	if l.IsNull() {
		return nil
	}
	return goValue(l.arr, 0)
}

// goValue is row i of a weir-typed array as a Go value (see Literal.Value).
func goValue(a arrow.Array, i int) any {
	if a.DataType().ID() == arrow.NULL || a.IsNull(i) {
		return nil
	}
	switch kindOf(a.DataType()) {
	case kBool:
		return a.(*array.Boolean).Value(i)
	case kInt16:
		return a.(*array.Int16).Value(i)
	case kInt32:
		return a.(*array.Int32).Value(i)
	case kInt64:
		return a.(*array.Int64).Value(i)
	case kFloat64:
		return a.(*array.Float64).Value(i)
	case kText:
		return a.(*array.String).Value(i)
	case kTimestamp:
		return time.UnixMicro(int64(a.(*array.Timestamp).Value(i))).UTC()
	case kDate:
		return time.Unix(int64(a.(*array.Date32).Value(i))*86400, 0).UTC()
	case kInterval:
		us := int64(a.(*array.Duration).Value(i))
		switch {
		case us > math.MaxInt64/1000:
			return time.Duration(math.MaxInt64)
		case us < math.MinInt64/1000:
			return time.Duration(math.MinInt64)
		}
		return time.Duration(us) * time.Microsecond
	}
	return nil
}

// Eval broadcasts the constant to every row of rec.
func (l *Literal) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	return broadcast(l.arr, int(rec.NumRows()))
}

// String renders the constant as SQL that reads back as the same value and
// type: 42, 1.5, 'text', TIMESTAMP '2026-01-01 00:00:00', INTERVAL '00:00:10'.
func (l *Literal) String() string {
	if l.IsNull() {
		if l.k == kNull {
			return "NULL"
		}
		return "CAST(NULL AS " + l.k.String() + ")"
	}
	s := formatValue(l.arr, 0)
	switch l.k {
	case kBool, kInt32, kInt64:
		return s
	case kInt16:
		return "CAST(" + s + " AS smallint)"
	case kFloat64:
		if strings.ContainsAny(s, "NI") { // NaN, Infinity
			return "CAST('" + s + "' AS double precision)"
		}
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case kText:
		return quoteString(s)
	case kTimestamp:
		return "TIMESTAMP " + quoteString(s)
	case kDate:
		return "DATE " + quoteString(s)
	case kInterval:
		return "INTERVAL " + quoteString(s)
	}
	return s
}

// quoteString renders s as a SQL string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
