package query

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/weirdata/weir/internal/columnar"
)

// benchBatch is an 8192-row Nexmark-like bid batch: auction, bidder and
// price (bigint), a double, a timestamp and a short text column; nullable
// adds NULLs to price (one row in 16).
func benchBatch(nullable bool) arrow.RecordBatch {
	const n = 8192
	r := rand.New(rand.NewPCG(1, 2))
	auction, bidder, price := make([]int64, n), make([]int64, n), make([]int64, n)
	ratio, ts := make([]float64, n), make([]int64, n)
	words := make([]string, n)
	for i := range n {
		auction[i] = 1000 + r.Int64N(10000)
		bidder[i] = r.Int64N(100000)
		price[i] = r.Int64N(10000)
		ratio[i] = r.Float64() * 100
		ts[i] = 1_767_225_600_000_000 + int64(i)*1000
		words[i] = []string{"apple", "banana", "cherry", "date"}[r.IntN(4)]
	}
	priceCol := arrow.Array(columnar.Int64s(price))
	if nullable {
		valid := make([]byte, n/8)
		for i := range valid {
			valid[i] = 0xFE // row 8k is NULL
		}
		priceCol = columnar.Fixed(typInt64, price, valid, n-bitutil.CountSetBits(valid, 0, n))
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "auction", Type: typInt64}, {Name: "bidder", Type: typInt64},
		{Name: "price", Type: typInt64, Nullable: true}, {Name: "ratio", Type: typFloat64},
		{Name: "date_time", Type: typTimestamp}, {Name: "channel", Type: typText},
	}, nil)
	cols := []arrow.Array{columnar.Int64s(auction), columnar.Int64s(bidder), priceCol,
		columnar.Float64s(ratio), columnar.Timestamps(ts), columnar.StringsOf(words)}
	return array.NewRecordBatch(schema, cols, n)
}

// BenchmarkEval measures whole-batch evaluation; rows/s is the figure to
// read (8192 rows per batch).
func BenchmarkEval(b *testing.B) {
	exprs := []string{
		"price > 100",
		"price > 100 AND auction % 123 = 0",
		"0.908 * price",
		"price + bidder",
		"price * 2 - 1",
		"auction % 123",
		"ratio < 50.5",
		"date_time >= TIMESTAMP '2026-01-01 00:00:04'",
		"date_trunc('second', date_time)",
		"channel = 'apple'",
		"channel LIKE 'b%'",
		"auction IN (1001, 1002, 1003, 5000, 7777)",
		"CASE WHEN price > 5000 THEN 'high' ELSE 'low' END",
		"COALESCE(price, 0)",
	}
	for _, nullable := range []bool{false, true} {
		rec := benchBatch(nullable)
		for _, src := range exprs {
			e, _, err := bindSQL(src, rec.Schema())
			if err != nil {
				b.Fatal(err)
			}
			if e, err = Fold(e); err != nil {
				b.Fatal(err)
			}
			name := "expr=" + strings.ReplaceAll(src, " ", "_")
			if nullable {
				name += "/nulls=yes"
			} else {
				name += "/nulls=no"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Eval(rec); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(rec.NumRows())/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
