package parquet

import (
	"fmt"
	"reflect"

	"github.com/apache/arrow-go/v18/arrow"
	pq "github.com/parquet-go/parquet-go"
)

// Lineage columns: history written by weir keeps, for every record, the
// split it was read from and its position in that split (DESIGN §4), so
// that a backfill can replay exactly the sequences a live run saw.
const (
	// SplitColumn holds the split's ID (dataflow.Split.ID).
	SplitColumn = "_split"
	// PositionColumn holds the record's own position in its split (the
	// position to resume after it is PositionColumn+1 for generators).
	PositionColumn = "_position"
)

// leafNode maps an Arrow type to the Parquet leaf the reader maps back to
// the same Arrow type (see mapColumn), or fails naming the column.
func leafNode(f arrow.Field) (pq.Node, error) {
	var n pq.Node
	switch t := f.Type.(type) {
	case *arrow.BooleanType:
		n = pq.Leaf(pq.BooleanType)
	case *arrow.Int8Type:
		n = pq.Int(8)
	case *arrow.Int16Type:
		n = pq.Int(16)
	case *arrow.Int32Type:
		n = pq.Int(32)
	case *arrow.Int64Type:
		n = pq.Int(64)
	case *arrow.Uint8Type:
		n = pq.Uint(8)
	case *arrow.Uint16Type:
		n = pq.Uint(16)
	case *arrow.Uint32Type:
		n = pq.Uint(32)
	case *arrow.Uint64Type:
		n = pq.Uint(64)
	case *arrow.Float32Type:
		n = pq.Leaf(pq.FloatType)
	case *arrow.Float64Type:
		n = pq.Leaf(pq.DoubleType)
	case *arrow.StringType:
		n = pq.String()
	case *arrow.BinaryType:
		n = pq.Leaf(pq.ByteArrayType)
	case *arrow.Date32Type:
		n = pq.Date()
	case *arrow.TimestampType:
		var unit pq.TimeUnit
		switch t.Unit {
		case arrow.Millisecond:
			unit = pq.Millisecond
		case arrow.Microsecond:
			unit = pq.Microsecond
		case arrow.Nanosecond:
			unit = pq.Nanosecond
		default:
			return nil, fmt.Errorf("column %q: %w: writing %s (timestamps in seconds; cast to ms)", f.Name, ErrUnsupported, t)
		}
		// A time zone means an instant (isAdjustedToUTC); the reader gives
		// it back as UTC, the only zone weir has.
		n = pq.TimestampAdjusted(unit, t.TimeZone != "")
	default:
		return nil, fmt.Errorf("column %q: %w: writing %s", f.Name, ErrUnsupported, f.Type)
	}
	if f.Nullable {
		n = pq.Optional(n)
	}
	return n, nil
}

// orderedGroup is a Parquet group whose fields keep the order they are
// given in. parquet.Group (a map) sorts its fields by name, which would
// reorder the columns of every file; the Arrow schema's order is the one
// users see, so files keep it.
type orderedGroup struct {
	pq.Group // the group-node behaviour; its (empty) map is never used
	fields   []pq.Field
}

func (g *orderedGroup) Fields() []pq.Field { return g.fields }
func (g *orderedGroup) String() string     { return "ordered group" }
func (g *orderedGroup) GoType() reflect.Type {
	fs := make([]reflect.StructField, len(g.fields))
	for i, f := range g.fields {
		fs[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: f.GoType()}
	}
	return reflect.StructOf(fs)
}

// namedField is one field of an orderedGroup.
type namedField struct {
	pq.Node
	name string
}

func (f namedField) Name() string                      { return f.name }
func (f namedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// writerSchema builds the Parquet schema of the files for an Arrow schema.
func writerSchema(s *arrow.Schema) (*pq.Schema, error) {
	g := &orderedGroup{Group: pq.Group{}}
	for _, f := range s.Fields() {
		n, err := leafNode(f)
		if err != nil {
			return nil, err
		}
		g.fields = append(g.fields, namedField{Node: n, name: f.Name})
	}
	return pq.NewSchema("schema", g), nil
}
