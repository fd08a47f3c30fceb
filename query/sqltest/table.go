package sqltest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/weirdata/weir/internal/columnar"
)

// baseDay is the date of a bare 'HH:MM:SS' timestamp.
var baseDay = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var columnTypes = map[string]arrow.DataType{
	"bigint": arrow.PrimitiveTypes.Int64, "int8": arrow.PrimitiveTypes.Int64, "int": arrow.PrimitiveTypes.Int64, "integer": arrow.PrimitiveTypes.Int64,
	"double": arrow.PrimitiveTypes.Float64, "float8": arrow.PrimitiveTypes.Float64, "double precision": arrow.PrimitiveTypes.Float64,
	"text": arrow.BinaryTypes.String, "varchar": arrow.BinaryTypes.String,
	"boolean": arrow.FixedWidthTypes.Boolean, "bool": arrow.FixedWidthTypes.Boolean,
	"timestamp": columnar.TimestampType,
}

// parseTable reads a load command's input: column definitions, then rows,
// each to its split (round robin, or @N).
func parseTable(input string, splits int) (*table, error) {
	var lines []string
	for _, l := range strings.Split(input, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			lines = append(lines, t)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("no column definitions")
	}
	var fields []arrow.Field
	for _, def := range splitCells(lines[0]) {
		name, typ, ok := strings.Cut(strings.TrimSpace(def), " ")
		dt, known := columnTypes[strings.ToLower(strings.TrimSpace(typ))]
		if !ok || !known {
			return nil, fmt.Errorf("column definition %q: want <name> <type> (bigint, double, text, boolean, timestamp)", def)
		}
		fields = append(fields, arrow.Field{Name: name, Type: dt, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	builders := make([]*array.RecordBuilder, splits)
	for i := range builders {
		builders[i] = array.NewRecordBuilder(memory.DefaultAllocator, schema)
	}
	for n, line := range lines[1:] {
		split := n % splits
		if strings.HasPrefix(line, "@") {
			num, rest, _ := strings.Cut(line[1:], " ")
			s, err := strconv.Atoi(num)
			if err != nil || s < 0 || s >= splits {
				return nil, fmt.Errorf("row %q: @N must name a split in [0, %d)", line, splits)
			}
			split, line = s, rest
		}
		cells := splitCells(line)
		if len(cells) != len(fields) {
			return nil, fmt.Errorf("row %q has %d values for %d columns", line, len(cells), len(fields))
		}
		for c, cell := range cells {
			if err := appendCell(builders[split].Field(c), strings.TrimSpace(cell)); err != nil {
				return nil, fmt.Errorf("row %q, column %s: %w", line, fields[c].Name, err)
			}
		}
	}
	t := &table{schema: schema}
	for _, b := range builders {
		t.splits = append(t.splits, b.NewRecordBatch())
	}
	return t, nil
}

func appendCell(b array.Builder, cell string) error {
	if strings.EqualFold(cell, "NULL") {
		b.AppendNull()
		return nil
	}
	if strings.HasPrefix(cell, "'") && strings.HasSuffix(cell, "'") && len(cell) >= 2 {
		cell = strings.ReplaceAll(cell[1:len(cell)-1], "''", "'")
	}
	switch b := b.(type) {
	case *array.Int64Builder:
		v, err := strconv.ParseInt(cell, 10, 64)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.Float64Builder:
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.StringBuilder:
		b.Append(cell)
	case *array.BooleanBuilder:
		v, err := strconv.ParseBool(cell)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.TimestampBuilder:
		ts, err := parseTime(cell)
		if err != nil {
			return err
		}
		b.Append(arrow.Timestamp(ts.UnixMicro()))
	default:
		return fmt.Errorf("unsupported builder %T", b)
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02T15:04:05.999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	t, err := time.Parse("15:04:05.999999", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: want 'YYYY-MM-DD HH:MM:SS[.f]' or 'HH:MM:SS[.f]'", s)
	}
	return baseDay.Add(t.Sub(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC))), nil
}

// splitCells splits a line at commas outside single quotes.
func splitCells(line string) []string {
	var cells []string
	var cur strings.Builder
	quoted := false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ',' && !quoted:
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(cells, cur.String())
}
