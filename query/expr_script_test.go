package query

// Behaviour scripts for scalar expressions (testdata/expr). Regenerate the
// expected output with `go test ./query -run TestExprScripts -args -rewrite`
// and read the diff.
//
//	table
//	a bigint, s text, ts timestamp      the input table t: column definitions,
//	1, 'x', '2026-01-01 10:00:00'       then one row per line; values are SQL
//	NULL, NULL, NULL                    literals read as the column's type
//	----
//
//	eval
//	a + 1                               each line is bound as the expression of
//	s || '!'                            SELECT <line> FROM t and evaluated on t
//	----
//	a + 1 → bigint: 2, NULL
//	s || '!' → text: 'x!', NULL
//
// Every expression is evaluated four ways that must agree: as bound, after
// Fold, on t sliced at an odd offset (bitmaps that do not start at bit 0),
// and one row at a time. When they disagree, each result is printed, which
// fails the script. Errors print the message, its line and column, and the
// caret excerpt; an error only constant folding raises (1/0 in a CASE arm
// no row takes: Postgres raises it at plan time too) is printed as "fold:".
//
//	explain
//	a + 2 * 3                           prints the bound expression as SQL and,
//	----                                when folding changes it, the folded one
//	a + (2 * 3) ⇒ a + 6

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/cockroachdb/datadriven"
)

func TestExprScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/expr", func(t *testing.T, path string) {
		rec := parseTable(t, "x bigint\n1")
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "table":
				rec = parseTable(t, d.Input)
				return ""
			case "eval":
				var out strings.Builder
				for _, line := range strings.Split(d.Input, "\n") {
					if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
						continue
					}
					out.WriteString(line + " → " + evalScript(t, line, rec) + "\n")
				}
				return out.String()
			case "explain":
				var out strings.Builder
				for _, line := range strings.Split(d.Input, "\n") {
					if strings.TrimSpace(line) == "" {
						continue
					}
					e, _, err := bindSQL(line, rec.Schema())
					if err != nil {
						out.WriteString("error: " + err.Error() + "\n")
						continue
					}
					s := e.String()
					f, err := Fold(e)
					switch {
					case err != nil:
						s += " ⇒ error: " + err.Error()
					case f.String() != s:
						s += " ⇒ " + f.String()
					}
					out.WriteString(s + "\n")
				}
				return out.String()
			}
			d.Fatalf(t, "unknown command %s", d.Cmd)
			return ""
		})
	})
}

// evalScript binds and evaluates one expression four ways (see above).
func evalScript(t *testing.T, expr string, rec arrow.RecordBatch) string {
	e, _, err := bindSQL(expr, rec.Schema())
	if err != nil {
		return "error: " + err.Error()
	}
	typ := TypeName(e.Type())
	run := func(e Expr, rec arrow.RecordBatch) string {
		a, err := e.Eval(rec)
		if err != nil {
			return "error: " + err.Error()
		}
		if a.Len() != int(rec.NumRows()) {
			return fmt.Sprintf("wrong length %d of %d rows", a.Len(), rec.NumRows())
		}
		if !arrow.TypeEqual(a.DataType(), e.Type()) {
			return fmt.Sprintf("wrong type %s, not %s", a.DataType(), e.Type())
		}
		return render(a)
	}
	plain := run(e, rec)
	results := []string{plain}
	names := []string{"bound"}
	prefix := ""
	if f, err := Fold(e); err != nil {
		if strings.HasPrefix(plain, "error: ") {
			results, names = append(results, "error: "+err.Error()), append(names, "folded")
		} else {
			prefix = "fold: " + err.Error() + "\n  "
		}
	} else {
		if !arrow.TypeEqual(f.Type(), e.Type()) {
			t.Errorf("%s: folding changed the type from %s to %s", expr, e.Type(), f.Type())
		}
		results, names = append(results, run(f, rec)), append(names, "folded")
	}
	results, names = append(results, run(e, sliced(rec))), append(names, "sliced")
	var rows []string
	rowErr := ""
	for i := 0; i < int(rec.NumRows()); i++ {
		r := run(e, rec.NewSlice(int64(i), int64(i+1)))
		if strings.HasPrefix(r, "error: ") {
			rowErr = r
			break
		}
		rows = append(rows, r)
	}
	if rowErr != "" {
		results = append(results, rowErr)
	} else {
		results = append(results, strings.Join(rows, ", "))
	}
	names = append(names, "row by row")
	agree := true
	for _, r := range results[1:] {
		// Errors agree when both fail: which row fails first may differ.
		bothErr := strings.HasPrefix(r, "error: ") && strings.HasPrefix(plain, "error: ")
		if r != plain && !bothErr {
			agree = false
		}
	}
	if !agree {
		var b strings.Builder
		b.WriteString("DISAGREE")
		for i, r := range results {
			fmt.Fprintf(&b, "\n  %s: %s", names[i], r)
		}
		t.Errorf("%s: evaluations disagree:%s", expr, b.String()[len("DISAGREE"):])
		return b.String()
	}
	if strings.HasPrefix(plain, "error: ") {
		return prefix + plain
	}
	return prefix + typ + ": " + plain
}

// sliced returns rec as a slice at offset 3 of a longer batch, so that
// values and validity bitmaps do not start at bit 0.
func sliced(rec arrow.RecordBatch) arrow.RecordBatch {
	n := int(rec.NumRows())
	if n == 0 {
		return rec
	}
	cols := make([]arrow.Array, rec.NumCols())
	idx := []int32{0, 0, 0}
	for i := 0; i < n; i++ {
		idx = append(idx, int32(i))
	}
	idx = append(idx, 0)
	for i := range cols {
		which := make([]int16, len(idx))
		at := make([]int32, len(idx))
		copy(at, idx)
		a, err := assemble(rec.Column(i).DataType(), len(idx), []arrow.Array{rec.Column(i)}, which, at)
		if err != nil {
			panic(err)
		}
		cols[i] = array.NewSlice(a, 3, int64(3+n))
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(n))
}

// parseTable reads the table command's input (see the file comment).
func parseTable(t *testing.T, input string) arrow.RecordBatch {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(input), "\n")
	var fields []arrow.Field
	var kinds []kind
	for _, def := range splitCells(lines[0]) {
		name, typ, ok := strings.Cut(strings.TrimSpace(def), " ")
		if !ok {
			t.Fatalf("column definition %q: want <name> <type>", def)
		}
		k, known := sqlTypes[strings.ToLower(strings.TrimSpace(typ))]
		if !known {
			t.Fatalf("column %s: unknown type %q", name, typ)
		}
		fields = append(fields, arrow.Field{Name: name, Type: k.typ(), Nullable: true})
		kinds = append(kinds, k)
	}
	rows := lines[1:]
	cols := make([]arrow.Array, len(fields))
	for c := range fields {
		parts := make([]arrow.Array, len(rows))
		which := make([]int16, len(rows))
		at := make([]int32, len(rows))
		for r, line := range rows {
			cells := splitCells(line)
			if len(cells) != len(fields) {
				t.Fatalf("row %q has %d values for %d columns", line, len(cells), len(fields))
			}
			cell := strings.TrimSpace(cells[c])
			var lit *Literal
			if strings.EqualFold(cell, "NULL") {
				lit = nullLiteral(kinds[c].typ())
			} else {
				if strings.HasPrefix(cell, "'") {
					cell = strings.ReplaceAll(cell[1:len(cell)-1], "''", "'")
				}
				var err error
				if lit, err = castLiteral(untypedLiteral(cell), kinds[c], 0, intervalFullRange); err != nil {
					t.Fatalf("row %q, column %s: %v", line, fields[c].Name, err)
				}
			}
			parts[r], which[r] = lit.arr, int16(r)
		}
		a, err := assemble(fields[c].Type, len(rows), parts, which, at)
		if err != nil {
			t.Fatal(err)
		}
		cols[c] = a
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(rows)))
}

// splitCells splits at commas outside single quotes.
func splitCells(line string) []string {
	var out []string
	quoted := false
	start := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\'':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, line[start:i])
				start = i + 1
			}
		}
	}
	return append(out, line[start:])
}
