package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/parquet-go/parquet-go"

	"github.com/weirdata/weir/dataflow"
)

// testingDir holds the Apache parquet-testing files (see its README).
const testingDir = "../../../shared/parquet-testing"

// readSource reads every split of src in order, with a deadline so that a
// hang fails the test instead of stalling it.
func readSource(t testing.TB, src *Source) ([]arrow.RecordBatch, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	splits, err := src.Splits(ctx)
	if err != nil {
		return nil, err
	}
	var out []arrow.RecordBatch
	for _, sp := range splits {
		recs, err := readSplit(ctx, sp, 0)
		out = append(out, recs...)
		if err != nil {
			return out, err
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("reading timed out: %v", ctx.Err())
	}
	return out, nil
}

func readSplit(ctx context.Context, sp dataflow.Split, pos dataflow.Position) ([]arrow.RecordBatch, error) {
	rd, err := sp.Open(ctx, pos)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rd.Close() }()
	var out []arrow.RecordBatch
	last := pos
	for {
		rec, p, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if p < last {
			return out, fmt.Errorf("position went back from %d to %d", last, p)
		}
		last = p
		out = append(out, rec)
	}
}

func countRows(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	return n
}

// render formats value i of a as text: NULL, numbers, quoted strings,
// timestamps in RFC 3339.
func render(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch v := a.(type) {
	case *array.String:
		return fmt.Sprintf("%q", v.Value(i))
	case *array.Binary:
		return fmt.Sprintf("%q", v.Value(i))
	case *array.Timestamp:
		u := v.DataType().(*arrow.TimestampType).Unit
		return v.Value(i).ToTime(u).UTC().Format(time.RFC3339Nano)
	case *array.Date32:
		return v.Value(i).ToTime().Format(time.DateOnly)
	case *array.Decimal128:
		return v.ValueStr(i)
	}
	return a.ValueStr(i)
}

// columnValues concatenates column name of recs as rendered strings.
func columnValues(t testing.TB, recs []arrow.RecordBatch, name string) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		idx := r.Schema().FieldIndices(name)
		if len(idx) == 0 {
			t.Fatalf("no column %q in %s", name, r.Schema())
		}
		a := r.Column(idx[0])
		for i := 0; i < a.Len(); i++ {
			out = append(out, render(a, i))
		}
	}
	return out
}

func joinN(vals []string, n int) string {
	if len(vals) > n {
		vals = append(vals[:n:n], "…")
	}
	return strings.Join(vals, " ")
}

// writeParquet writes rows with parquet-go's writer (a test fixture: the
// reflection here is the writer's, not the reader's).
func writeParquet[T any](t testing.TB, rows []T, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
