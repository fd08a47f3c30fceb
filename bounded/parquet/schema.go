package parquet

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// physKind is how a column's pages are decoded: the Parquet physical type.
type physKind uint8

const (
	physBool physKind = iota
	physInt32
	physInt64
	physInt96
	physFloat
	physDouble
	physBytes
	physFixed
)

// convKind is how decoded physical values become the column's Arrow array.
// convNone wraps them as they are (same width); the others copy.
type convKind uint8

const (
	convNone     convKind = iota
	convNarrow8           // int32 → int8 / uint8
	convNarrow16          // int32 → int16 / uint16
	convDecimal           // int32, int64, BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY → decimal128
	convFloat16           // FIXED_LEN_BYTE_ARRAY(2) → float32
	convNull              // the NULL logical type → an all-null column
)

// column is one flat (top-level, primitive, not repeated) column of a file.
type column struct {
	name     string
	leaf     int // index of its column chunk within a row group
	elem     *format.SchemaElement
	phys     physKind
	typeLen  int // FIXED_LEN_BYTE_ARRAY width
	optional bool
	typ      arrow.DataType
	conv     convKind
	unsigned bool // integer statistics use unsigned order
}

// describe names the column's Parquet type for messages: "INT64 TIMESTAMP(...)".
func describe(e *format.SchemaElement) string {
	s := "GROUP"
	if e.Type.Valid {
		s = e.Type.V.String()
	}
	if e.LogicalType.Value != nil {
		return s + " " + e.LogicalType.String()
	}
	if e.ConvertedType.Valid {
		return s + " " + convertedName(e.ConvertedType.V)
	}
	return s
}

// mapColumn maps a primitive schema element to its Arrow type and decoding.
//
// The mapping, and why:
//   - BOOLEAN → bool; FLOAT → float32; DOUBLE → float64.
//   - INT32/INT64 → int32/int64; INT(8|16|32|64, signed or not) → the Arrow
//     integer of that width and sign.
//   - DATE → date32; TIME(ms) → time32[ms], TIME(µs|ns) → time64.
//   - TIMESTAMP(unit) → timestamp[unit], with time zone "UTC" when
//     isAdjustedToUTC (an instant) and none otherwise (a wall-clock time).
//     The legacy TIMESTAMP_MILLIS/MICROS converted types are instants.
//   - INT96 (legacy Impala/Spark timestamps) → timestamp[µs] without zone,
//     as DuckDB reads them. timestamp[ns] (Arrow C++'s default) was rejected:
//     it overflows outside 1677–2262, and Spark writes 0001-01-01 and
//     9999-12-31; weir works in microseconds anyway.
//   - DECIMAL(p, s) on any physical type → decimal128(p, s): exact, as DuckDB
//     and Arrow read it. float64 was rejected because sums of money must not
//     round; precision above 38 is refused.
//   - STRING/UTF8, ENUM, JSON → string. BYTE_ARRAY without annotation and
//     BSON → binary (as Arrow C++ and DuckDB read it: the bytes need not be
//     UTF-8). FIXED_LEN_BYTE_ARRAY (UUID, INTERVAL, none) → binary.
//   - FLOAT16 → float32 (weir's operators have no half floats).
//   - GEOMETRY/GEOGRAPHY → binary (their WKB).
//   - the NULL logical type → null.
//   - VARIANT and unknown annotations on BYTE_ARRAY read as their physical type.
func mapColumn(e *format.SchemaElement) (arrow.DataType, physKind, convKind, bool, error) {
	if !e.Type.Valid {
		return nil, 0, 0, false, fmt.Errorf("element has no physical type")
	}
	pt := e.Type.V
	var phys physKind
	switch pt {
	case format.Boolean:
		phys = physBool
	case format.Int32:
		phys = physInt32
	case format.Int64:
		phys = physInt64
	case format.Int96:
		phys = physInt96
	case format.Float:
		phys = physFloat
	case format.Double:
		phys = physDouble
	case format.ByteArray:
		phys = physBytes
	case format.FixedLenByteArray:
		phys = physFixed
		if !e.TypeLength.Valid || e.TypeLength.V <= 0 {
			return nil, 0, 0, false, fmt.Errorf("FIXED_LEN_BYTE_ARRAY without a positive length")
		}
	default:
		return nil, 0, 0, false, fmt.Errorf("unknown physical type %d", pt)
	}
	bad := func(what string) (arrow.DataType, physKind, convKind, bool, error) {
		return nil, 0, 0, false, fmt.Errorf("%s is not valid on physical type %s", what, pt)
	}

	if lt := e.LogicalType.Value; lt != nil {
		switch t := lt.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			if phys != physBytes {
				return bad(lt.String())
			}
			return arrow.BinaryTypes.String, phys, convNone, false, nil
		case *format.BsonType, *format.GeometryType, *format.GeographyType, *format.VariantType:
			if phys != physBytes {
				return bad(lt.String())
			}
			return arrow.BinaryTypes.Binary, phys, convNone, false, nil
		case *format.UUIDType:
			if phys != physFixed || e.TypeLength.V != 16 {
				return bad(lt.String())
			}
			return arrow.BinaryTypes.Binary, phys, convNone, false, nil
		case *format.Float16Type:
			if phys != physFixed || e.TypeLength.V != 2 {
				return bad(lt.String())
			}
			return arrow.PrimitiveTypes.Float32, phys, convFloat16, false, nil
		case *format.DecimalType:
			return decimalType(e, phys, t.Precision, t.Scale)
		case *format.DateType:
			if phys != physInt32 {
				return bad(lt.String())
			}
			return arrow.FixedWidthTypes.Date32, phys, convNone, false, nil
		case *format.TimeType:
			switch t.Unit.Value.(type) {
			case *format.MilliSeconds:
				if phys != physInt32 {
					return bad(lt.String())
				}
				return arrow.FixedWidthTypes.Time32ms, phys, convNone, false, nil
			case *format.MicroSeconds:
				if phys != physInt64 {
					return bad(lt.String())
				}
				return arrow.FixedWidthTypes.Time64us, phys, convNone, false, nil
			case *format.NanoSeconds:
				if phys != physInt64 {
					return bad(lt.String())
				}
				return arrow.FixedWidthTypes.Time64ns, phys, convNone, false, nil
			}
			return bad(lt.String())
		case *format.TimestampType:
			if phys != physInt64 {
				return bad(lt.String())
			}
			tz := ""
			if t.IsAdjustedToUTC {
				tz = "UTC"
			}
			switch t.Unit.Value.(type) {
			case *format.MilliSeconds:
				return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: tz}, phys, convNone, false, nil
			case *format.MicroSeconds:
				return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: tz}, phys, convNone, false, nil
			case *format.NanoSeconds:
				return &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: tz}, phys, convNone, false, nil
			}
			return bad(lt.String())
		case *format.IntType:
			return intType(phys, int(t.BitWidth), t.IsSigned)
		case *format.NullType:
			return arrow.Null, phys, convNull, false, nil
		case *format.MapType, *format.ListType:
			return nil, 0, 0, false, fmt.Errorf("%s on a primitive column", lt)
		}
		// An annotation this reader does not know: fall back to the converted
		// type or the physical type, as the format asks of readers.
	}

	if e.ConvertedType.Valid {
		switch e.ConvertedType.V {
		case deprecated.UTF8, deprecated.Enum, deprecated.Json:
			if phys != physBytes {
				return bad(convertedName(e.ConvertedType.V))
			}
			return arrow.BinaryTypes.String, phys, convNone, false, nil
		case deprecated.Bson:
			if phys != physBytes {
				return bad(convertedName(e.ConvertedType.V))
			}
			return arrow.BinaryTypes.Binary, phys, convNone, false, nil
		case deprecated.Decimal:
			if !e.Precision.Valid {
				return nil, 0, 0, false, fmt.Errorf("DECIMAL without a precision")
			}
			return decimalType(e, phys, e.Precision.V, e.Scale.V)
		case deprecated.Date:
			if phys != physInt32 {
				return bad("DATE")
			}
			return arrow.FixedWidthTypes.Date32, phys, convNone, false, nil
		case deprecated.TimeMillis:
			if phys != physInt32 {
				return bad("TIME_MILLIS")
			}
			return arrow.FixedWidthTypes.Time32ms, phys, convNone, false, nil
		case deprecated.TimeMicros:
			if phys != physInt64 {
				return bad("TIME_MICROS")
			}
			return arrow.FixedWidthTypes.Time64us, phys, convNone, false, nil
		case deprecated.TimestampMillis:
			if phys != physInt64 {
				return bad("TIMESTAMP_MILLIS")
			}
			return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, phys, convNone, false, nil
		case deprecated.TimestampMicros:
			if phys != physInt64 {
				return bad("TIMESTAMP_MICROS")
			}
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, phys, convNone, false, nil
		case deprecated.Int8:
			return intType(phys, 8, true)
		case deprecated.Int16:
			return intType(phys, 16, true)
		case deprecated.Int32:
			return intType(phys, 32, true)
		case deprecated.Int64:
			return intType(phys, 64, true)
		case deprecated.Uint8:
			return intType(phys, 8, false)
		case deprecated.Uint16:
			return intType(phys, 16, false)
		case deprecated.Uint32:
			return intType(phys, 32, false)
		case deprecated.Uint64:
			return intType(phys, 64, false)
		case deprecated.Interval:
			if phys != physFixed || e.TypeLength.V != 12 {
				return bad("INTERVAL")
			}
			return arrow.BinaryTypes.Binary, phys, convNone, false, nil
		case deprecated.Map, deprecated.MapKeyValue, deprecated.List:
			return nil, 0, 0, false, fmt.Errorf("%s on a primitive column", convertedName(e.ConvertedType.V))
		}
	}

	switch phys {
	case physBool:
		return arrow.FixedWidthTypes.Boolean, phys, convNone, false, nil
	case physInt32:
		return arrow.PrimitiveTypes.Int32, phys, convNone, false, nil
	case physInt64:
		return arrow.PrimitiveTypes.Int64, phys, convNone, false, nil
	case physInt96:
		return &arrow.TimestampType{Unit: arrow.Microsecond}, phys, convNone, false, nil
	case physFloat:
		return arrow.PrimitiveTypes.Float32, phys, convNone, false, nil
	case physDouble:
		return arrow.PrimitiveTypes.Float64, phys, convNone, false, nil
	default: // physBytes, physFixed
		return arrow.BinaryTypes.Binary, phys, convNone, false, nil
	}
}

func intType(phys physKind, bits int, signed bool) (arrow.DataType, physKind, convKind, bool, error) {
	want := physInt32
	if bits == 64 {
		want = physInt64
	}
	if phys != want {
		return nil, 0, 0, false, fmt.Errorf("INT(%d,%t) is not valid on this physical type", bits, signed)
	}
	switch {
	case bits == 8 && signed:
		return arrow.PrimitiveTypes.Int8, phys, convNarrow8, false, nil
	case bits == 8:
		return arrow.PrimitiveTypes.Uint8, phys, convNarrow8, true, nil
	case bits == 16 && signed:
		return arrow.PrimitiveTypes.Int16, phys, convNarrow16, false, nil
	case bits == 16:
		return arrow.PrimitiveTypes.Uint16, phys, convNarrow16, true, nil
	case bits == 32 && signed:
		return arrow.PrimitiveTypes.Int32, phys, convNone, false, nil
	case bits == 32:
		return arrow.PrimitiveTypes.Uint32, phys, convNone, true, nil
	case bits == 64 && signed:
		return arrow.PrimitiveTypes.Int64, phys, convNone, false, nil
	case bits == 64:
		return arrow.PrimitiveTypes.Uint64, phys, convNone, true, nil
	}
	return nil, 0, 0, false, fmt.Errorf("INT(%d,%t) has an invalid bit width", bits, signed)
}

func decimalType(e *format.SchemaElement, phys physKind, precision, scale int32) (arrow.DataType, physKind, convKind, bool, error) {
	switch {
	case precision <= 0 || scale < 0 || scale > precision:
		return nil, 0, 0, false, fmt.Errorf("DECIMAL(%d,%d) is invalid", precision, scale)
	case precision > 38:
		return nil, 0, 0, false, fmt.Errorf("DECIMAL(%d,%d): precision above 38 is not supported", precision, scale)
	}
	switch phys {
	case physInt32, physInt64, physBytes:
	case physFixed:
		if e.TypeLength.V > 16 {
			return nil, 0, 0, false, fmt.Errorf("DECIMAL in FIXED_LEN_BYTE_ARRAY(%d): more than 16 bytes is not supported", e.TypeLength.V)
		}
	default:
		return nil, 0, 0, false, fmt.Errorf("DECIMAL is not valid on physical type %s", e.Type.V)
	}
	return &arrow.Decimal128Type{Precision: precision, Scale: scale}, phys, convDecimal, false, nil
}

// fileSchema is the flat view of one file's schema.
type fileSchema struct {
	cols   []column
	byName map[string]int
	// nested holds the columns that are lists, maps or repeated fields,
	// which this reader refuses (name → Parquet description); badType holds
	// primitive columns whose type is not supported (name → reason). Either
	// is an error only when the column is read.
	nested  map[string]string
	badType map[string]error
	order   []string // every column name, in file order
	leaves  int      // number of leaf columns (column chunks per row group)
}

// flatten walks the schema tree (depth first, the order of the column
// chunks) and keeps the primitive columns that are not repeated. Structs
// (groups that are neither lists nor maps, and not repeated) are
// flattened: their fields become columns named "struct.field", NULL where
// the struct is. Arrow struct arrays were rejected because weir's operators
// work on flat columns; SQL reaches the fields as "struct.field".
func flatten(schema []format.SchemaElement) (*fileSchema, error) {
	if len(schema) == 0 {
		return nil, fmt.Errorf("the schema is empty")
	}
	root := &schema[0]
	if !root.NumChildren.Valid || root.NumChildren.V < 0 {
		return nil, fmt.Errorf("the schema root has no children")
	}
	fs := &fileSchema{byName: map[string]int{}, nested: map[string]string{}, badType: map[string]error{}}
	pos := 1
	// skip consumes the subtree at pos and returns how many leaves it has.
	var skip func(depth int) (int, error)
	skip = func(depth int) (int, error) {
		if pos >= len(schema) {
			return 0, fmt.Errorf("the schema tree is truncated")
		}
		if depth > 64 {
			return 0, fmt.Errorf("the schema tree is deeper than 64 levels")
		}
		e := &schema[pos]
		pos++
		if !e.NumChildren.Valid || e.NumChildren.V <= 0 {
			if !e.Type.Valid {
				return 0, fmt.Errorf("column %q has neither children nor a type", e.Name)
			}
			return 1, nil
		}
		n := 0
		for range e.NumChildren.V {
			k, err := skip(depth + 1)
			if err != nil {
				return 0, err
			}
			n += k
		}
		return n, nil
	}
	add := func(name string) error {
		if _, dup := fs.byName[name]; dup || fs.nested[name] != "" || fs.badType[name] != nil {
			return fmt.Errorf("column %q appears twice", name)
		}
		fs.order = append(fs.order, name)
		return nil
	}
	// walk consumes the subtree at pos: prefix names its struct, optional
	// says whether an enclosing struct may be NULL.
	var walk func(prefix string, depth int, optional bool) error
	walk = func(prefix string, depth int, optional bool) error {
		if pos >= len(schema) {
			return fmt.Errorf("the schema tree is truncated")
		}
		if depth > 64 {
			return fmt.Errorf("the schema tree is deeper than 64 levels")
		}
		e := &schema[pos]
		name := prefix + e.Name
		repeated := e.RepetitionType.Valid && e.RepetitionType.V == format.Repeated
		optional = optional || e.RepetitionType.Valid && e.RepetitionType.V == format.Optional
		group := e.NumChildren.Valid && e.NumChildren.V > 0
		if group && !repeated && !listOrMap(e) {
			pos++
			for range e.NumChildren.V {
				if err := walk(name+".", depth+1, optional); err != nil {
					return err
				}
			}
			return nil
		}
		if err := add(name); err != nil {
			return err
		}
		if group || repeated {
			n, err := skip(depth)
			if err != nil {
				return err
			}
			kind := "group "
			if repeated {
				kind = "repeated "
			}
			fs.nested[name] = kind + describe(e)
			fs.leaves += n
			return nil
		}
		pos++
		leaf := fs.leaves
		fs.leaves++
		if !e.Type.Valid {
			return fmt.Errorf("column %q has neither children nor a type", name)
		}
		if e.Type.V < format.Boolean || e.Type.V > format.FixedLenByteArray {
			return fmt.Errorf("column %q has an unknown physical type %d", name, e.Type.V)
		}
		typ, phys, conv, unsigned, err := mapColumn(e)
		if err != nil {
			fs.badType[name] = fmt.Errorf("type %s: %w", describe(e), err)
			return nil
		}
		c := column{
			name:     name,
			leaf:     leaf,
			elem:     e,
			phys:     phys,
			optional: optional,
			typ:      typ,
			conv:     conv,
			unsigned: unsigned,
		}
		if phys == physFixed {
			c.typeLen = int(e.TypeLength.V)
		}
		fs.byName[name] = len(fs.cols)
		fs.cols = append(fs.cols, c)
		return nil
	}
	for range root.NumChildren.V {
		if err := walk("", 1, false); err != nil {
			return nil, err
		}
	}
	if pos != len(schema) {
		return nil, fmt.Errorf("the schema has %d elements that belong to no column", len(schema)-pos)
	}
	return fs, nil
}

// listOrMap reports whether a group is annotated as a LIST or a MAP.
func listOrMap(e *format.SchemaElement) bool {
	switch e.LogicalType.Value.(type) {
	case *format.ListType, *format.MapType:
		return true
	}
	if e.ConvertedType.Valid {
		switch e.ConvertedType.V {
		case deprecated.List, deprecated.Map, deprecated.MapKeyValue:
			return true
		}
	}
	return false
}

var convertedNames = [...]string{
	deprecated.UTF8: "UTF8", deprecated.Map: "MAP", deprecated.MapKeyValue: "MAP_KEY_VALUE",
	deprecated.List: "LIST", deprecated.Enum: "ENUM", deprecated.Decimal: "DECIMAL",
	deprecated.Date: "DATE", deprecated.TimeMillis: "TIME_MILLIS", deprecated.TimeMicros: "TIME_MICROS",
	deprecated.TimestampMillis: "TIMESTAMP_MILLIS", deprecated.TimestampMicros: "TIMESTAMP_MICROS",
	deprecated.Uint8: "UINT_8", deprecated.Uint16: "UINT_16", deprecated.Uint32: "UINT_32", deprecated.Uint64: "UINT_64",
	deprecated.Int8: "INT_8", deprecated.Int16: "INT_16", deprecated.Int32: "INT_32", deprecated.Int64: "INT_64",
	deprecated.Json: "JSON", deprecated.Bson: "BSON", deprecated.Interval: "INTERVAL",
}

func convertedName(t deprecated.ConvertedType) string {
	if int(t) >= 0 && int(t) < len(convertedNames) && convertedNames[t] != "" {
		return convertedNames[t]
	}
	return fmt.Sprintf("CONVERTED_TYPE(%d)", int(t))
}
