package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/marcboeker/go-duckdb"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
)

// Row is one result row, each cell normalized so that weir's and DuckDB's
// values compare: nil (NULL), int64, float64, bool, or string — timestamps
// as RFC 3339 in UTC, dates as YYYY-MM-DD.
type Row []any

// Result is a query's final rows.
type Result struct {
	Cols []string
	Rows []Row
}

const timeLayout = time.RFC3339Nano

// WeirSink is a query.Sink that folds the changelog of statement Stmt into
// its final rows; rows of other statements are ignored.
type WeirSink struct {
	Stmt int

	mu          sync.Mutex
	cols        []string
	counts      map[string]int
	rows        map[string]Row
	order       []string // first-insert order, for ORDER BY checks
	Retractions int
	Last        query.Progress
}

var _ query.Sink = (*WeirSink)(nil)

func (s *WeirSink) Schema(i int, sc *arrow.Schema) error {
	if i != s.Stmt {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cols = nil
	for _, f := range sc.Fields() {
		s.cols = append(s.cols, f.Name)
	}
	s.counts, s.rows, s.order = map[string]int{}, map[string]Row{}, nil
	return nil
}

func (s *WeirSink) Rows(i int, b dataflow.Batch) error {
	if i != s.Stmt {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := 0; r < b.Len(); r++ {
		row := make(Row, b.Rec.NumCols())
		for c := range row {
			v, err := arrowValue(b.Rec.Column(c), r)
			if err != nil {
				return fmt.Errorf("column %q: %w", s.cols[c], err)
			}
			row[c] = v
		}
		k := exactKey(row)
		if b.Op(r) == dataflow.Retract {
			s.counts[k]--
			s.Retractions++
			continue
		}
		s.counts[k]++
		s.rows[k] = row
		s.order = append(s.order, k)
	}
	return nil
}

func (s *WeirSink) Progress(i int, p query.Progress) error {
	if i == s.Stmt {
		s.mu.Lock()
		s.Last = p
		s.mu.Unlock()
	}
	return nil
}

func (s *WeirSink) Done(int, query.Done) error { return nil }

// Result returns the folded rows: in arrival order when there were no
// retractions (so an ORDER BY can be checked), else in no particular order.
func (s *WeirSink) Result() (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := Result{Cols: s.cols}
	left := map[string]int{}
	for k, n := range s.counts {
		if n < 0 {
			return res, fmt.Errorf("row %v retracted more often than inserted", s.rows[k])
		}
		left[k] = n
	}
	for _, k := range s.order {
		if left[k] > 0 {
			left[k]--
			res.Rows = append(res.Rows, s.rows[k])
		}
	}
	return res, nil
}

// RunWeir runs a script on e and returns the folded result of its last
// statement.
func RunWeir(ctx context.Context, e *query.Engine, script string, opts query.RunOptions) (Result, *WeirSink, error) {
	stmts, err := query.Parse(script)
	if err != nil {
		return Result{}, nil, err
	}
	s := &WeirSink{Stmt: len(stmts) - 1}
	if err := e.Execute(ctx, script, opts, s); err != nil {
		return Result{}, s, err
	}
	res, err := s.Result()
	return res, s, err
}

func arrowValue(a arrow.Array, r int) (any, error) {
	if a.IsNull(r) {
		return nil, nil
	}
	switch a := a.(type) {
	case *array.Int8:
		return int64(a.Value(r)), nil
	case *array.Int16:
		return int64(a.Value(r)), nil
	case *array.Int32:
		return int64(a.Value(r)), nil
	case *array.Int64:
		return a.Value(r), nil
	case *array.Uint8:
		return int64(a.Value(r)), nil
	case *array.Uint16:
		return int64(a.Value(r)), nil
	case *array.Uint32:
		return int64(a.Value(r)), nil
	case *array.Uint64:
		return int64(a.Value(r)), nil
	case *array.Float32:
		return float64(a.Value(r)), nil
	case *array.Float64:
		return a.Value(r), nil
	case *array.Boolean:
		return a.Value(r), nil
	case *array.String:
		return a.Value(r), nil
	case *array.LargeString:
		return a.Value(r), nil
	case *array.StringView:
		return a.Value(r), nil
	case *array.Binary:
		return string(a.Value(r)), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(r).ToTime(unit).UTC().Format(timeLayout), nil
	case *array.Date32:
		return a.Value(r).ToTime().UTC().Format(time.DateOnly), nil
	case *array.Date64:
		return a.Value(r).ToTime().UTC().Format(time.DateOnly), nil
	case *array.Decimal128:
		f, err := strconv.ParseFloat(a.ValueStr(r), 64)
		return f, err
	}
	return a.ValueStr(r), nil
}

// RunDuck runs a query on DuckDB and returns its rows.
func RunDuck(ctx context.Context, db *sql.DB, q string) (Result, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return Result{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return Result{}, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return Result{}, err
	}
	res := Result{Cols: cols}
	for rows.Next() {
		raw := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return res, err
		}
		row := make(Row, len(cols))
		for i, v := range raw {
			if row[i], err = duckValue(v, types[i].DatabaseTypeName()); err != nil {
				return res, fmt.Errorf("column %q: %w", cols[i], err)
			}
		}
		res.Rows = append(res.Rows, row)
	}
	return res, rows.Err()
}

func duckValue(v any, typ string) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case int8:
		return int64(v), nil
	case int16:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int64:
		return v, nil
	case uint8:
		return int64(v), nil
	case uint16:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case uint64:
		return int64(v), nil
	case *big.Int:
		if v.IsInt64() {
			return v.Int64(), nil
		}
		f, _ := new(big.Float).SetInt(v).Float64()
		return f, nil
	case float32:
		return float64(v), nil
	case float64:
		return v, nil
	case bool:
		return v, nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case time.Time:
		if typ == "DATE" {
			return v.UTC().Format(time.DateOnly), nil
		}
		return v.UTC().Format(timeLayout), nil
	case duckdb.Decimal:
		return v.Float64(), nil
	}
	return nil, fmt.Errorf("unexpected DuckDB value %v (%s, %s)", v, reflect.TypeOf(v), typ)
}

// exactKey identifies a row exactly (for folding a changelog).
func exactKey(r Row) string {
	var b strings.Builder
	for _, v := range r {
		fmt.Fprintf(&b, "%T:%v\x00", v, v)
	}
	return b.String()
}

// sortKey orders rows the same way on both sides: numbers by a rounded
// text, so that 3 (int) and 3.0000000001 (float) sort together.
func sortKey(r Row) string {
	var b strings.Builder
	for _, v := range r {
		switch v := v.(type) {
		case nil:
			b.WriteString("\x00null")
		case int64:
			fmt.Fprintf(&b, "n%.6g", float64(v))
		case float64:
			if v == 0 {
				v = 0 // -0
			}
			fmt.Fprintf(&b, "n%.6g", v)
		default:
			fmt.Fprintf(&b, "%v", v)
		}
		b.WriteByte(0)
	}
	return b.String()
}

// Sorted returns the rows in sortKey order.
func (r Result) Sorted() []Row {
	rows := append([]Row(nil), r.Rows...)
	sort.SliceStable(rows, func(i, j int) bool { return sortKey(rows[i]) < sortKey(rows[j]) })
	return rows
}

// Diff compares two results: as multisets, or in order when ordered. It
// returns "" when they agree, else a description of the first differences.
func Diff(got, want Result, ordered bool) string {
	if len(got.Cols) != len(want.Cols) {
		return fmt.Sprintf("columns %v, want %v", got.Cols, want.Cols)
	}
	g, w := got.Rows, want.Rows
	if !ordered {
		g, w = got.Sorted(), want.Sorted()
	}
	var b strings.Builder
	if len(g) != len(w) {
		fmt.Fprintf(&b, "%d rows, want %d\n", len(g), len(w))
	}
	shown := 0
	for i := 0; i < max(len(g), len(w)) && shown < 8; i++ {
		var gr, wr Row
		if i < len(g) {
			gr = g[i]
		}
		if i < len(w) {
			wr = w[i]
		}
		if gr == nil || wr == nil || !rowsEqual(gr, wr) {
			fmt.Fprintf(&b, "row %d: got %s, want %s\n", i, fmtRow(gr), fmtRow(wr))
			shown++
		}
	}
	return b.String()
}

func fmtRow(r Row) string {
	if r == nil {
		return "(none)"
	}
	parts := make([]string, len(r))
	for i, v := range r {
		if v == nil {
			parts[i] = "NULL"
		} else {
			parts[i] = fmt.Sprint(v)
		}
	}
	return "[" + strings.Join(parts, " | ") + "]"
}

func rowsEqual(a, b Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !valuesEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func valuesEqual(a, b any) bool {
	fa, aNum := number(a)
	fb, bNum := number(b)
	if aNum && bNum {
		ia, aInt := a.(int64)
		ib, bInt := b.(int64)
		if aInt && bInt {
			return ia == ib
		}
		if fa == fb {
			return true
		}
		d := math.Abs(fa - fb)
		return d <= 1e-9*math.Max(math.Abs(fa), math.Abs(fb)) || d <= 1e-9
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}
