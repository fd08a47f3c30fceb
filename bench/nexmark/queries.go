package nexmark

import (
	"fmt"
	"sort"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	gen "github.com/weirdata/weir/unbounded/nexmark"
	"github.com/weirdata/weir/watermark"
)

// Streams are the Nexmark sources of one job; a query adds only those it reads.
type Streams struct {
	g    *dataflow.Graph
	spec func(kind gen.Kind) dataflow.SourceSpec
	memo map[gen.Kind]dataflow.Stream
}

// NewStreams returns lazily added sources on g; spec makes each kind's source.
func NewStreams(g *dataflow.Graph, spec func(kind gen.Kind) dataflow.SourceSpec) *Streams {
	return &Streams{g: g, spec: spec, memo: map[gen.Kind]dataflow.Stream{}}
}

func (s *Streams) get(k gen.Kind) dataflow.Stream {
	if st, ok := s.memo[k]; ok {
		return st
	}
	st := s.g.Source(k.String(), s.spec(k))
	s.memo[k] = st
	return st
}

// Bids, Auctions and Persons return the three event streams.
func (s *Streams) Bids() dataflow.Stream     { return s.get(gen.Bid) }
func (s *Streams) Auctions() dataflow.Stream { return s.get(gen.Auction) }
func (s *Streams) Persons() dataflow.Stream  { return s.get(gen.Person) }

// Query builds one Nexmark query on the streams and returns its result stream.
type Query func(s *Streams, p int) (dataflow.Stream, error)

var queries = map[string]Query{
	"q0":  q0,
	"q1":  q1,
	"q2":  q2,
	"q5":  q5,
	"q7":  q7,
	"q8":  q8,
	"q11": q11,
}

// Names lists the queries.
func Names() []string { return queryNames(queries) }

// queryNames returns a query table's names in query-number order (q2 before q11).
func queryNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		var a, b int
		_, _ = fmt.Sscanf(names[i], "q%d", &a)
		_, _ = fmt.Sscanf(names[j], "q%d", &b)
		return a < b
	})
	return names
}

// Lookup returns the named query.
func Lookup(name string) (Query, error) {
	q, ok := queries[name]
	if !ok {
		return nil, fmt.Errorf("unknown Nexmark query %q (known: %v)", name, Names())
	}
	return q, nil
}

func q0(s *Streams, _ int) (dataflow.Stream, error) {
	return s.Bids().Map("q0.project", dataflow.Project("auction", "bidder", "price", "date_time", "extra")), nil
}

var q1Schema = arrow.NewSchema([]arrow.Field{
	{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
	{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64},
	{Name: "date_time", Type: columnar.TimestampType},
	{Name: "extra", Type: arrow.BinaryTypes.String},
}, nil)

func q1(s *Streams, _ int) (dataflow.Stream, error) {
	return s.Bids().Map("q1.dollar-to-euro", func(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		idx, err := dataflow.ColumnIndices(rec.Schema(), []string{"auction", "bidder", "price", "date_time", "extra"})
		if err != nil {
			return nil, err
		}
		prices := columnar.Int64Values(rec.Column(idx[2]))
		euro := make([]float64, len(prices))
		for i, p := range prices {
			euro[i] = 0.908 * float64(p)
		}
		cols := []arrow.Array{rec.Column(idx[0]), rec.Column(idx[1]), columnar.Float64s(euro), rec.Column(idx[3]), rec.Column(idx[4])}
		return columnar.Record(q1Schema, cols, len(prices)), nil
	}), nil
}

func q2(s *Streams, _ int) (dataflow.Stream, error) {
	return s.Bids().Filter("q2.auction%123", func(rec arrow.RecordBatch, sel []int32) ([]int32, error) {
		j, err := dataflow.ColumnIndex(rec.Schema(), "auction")
		if err != nil {
			return nil, err
		}
		for i, a := range columnar.Int64Values(rec.Column(j)) {
			if a%123 == 0 {
				sel = append(sel, int32(i))
			}
		}
		return sel, nil
	}).Map("q2.project", dataflow.Project("auction", "price")), nil
}

func q11(s *Streams, p int) (dataflow.Stream, error) {
	return s.Bids().KeyBy("bidder").WindowAggregate("q11.sessions", p, dataflow.WindowAggSpec{
		Keys: []string{"bidder"}, TimeColumn: "date_time", Window: dataflow.Session(10 * time.Second),
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "bid_count"}},
	}), nil
}

// SourceSpec returns the spec of a Nexmark source of kind for a benchmark or
// demo: partitions splits, event time date_time, and the given delay.
func SourceSpec(cfg gen.Config, kind gen.Kind, partitions, parallelism int, paced bool, delay time.Duration) dataflow.SourceSpec {
	return dataflow.SourceSpec{
		Source:      &gen.Source{Config: cfg, Kind: kind, Partitions: partitions, Paced: paced},
		EventTime:   "date_time",
		Watermarks:  watermark.Strategy{Delay: delay},
		Live:        paced,
		Parallelism: parallelism,
	}
}
