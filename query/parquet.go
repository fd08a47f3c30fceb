package query

import (
	"context"
	"net/url"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/bounded/parquet"
	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/storage"
)

// parquetProvider serves history as Parquet: file:///dir/, file:///dir/*.parquet,
// s3://bucket/prefix/**/*.parquet. Hive partitions (key=value directories)
// become columns.
//
// What is pushed into the files, and why only that: the projection (only
// the columns used are decoded), the run's event-time range, which defines
// each split's record sequence in every mode, and predicates on partition
// columns, which skip whole files — whole splits, leaving every other
// split's sequence as it was. Other WHERE predicates stay above the source:
// dropping a row inside a file would change the split sequence on which
// lateness is decided (DESIGN §4), and a backfill would no longer equal the
// live run of the same query.
type parquetProvider struct {
	cache *storage.Cache
}

func (pp parquetProvider) options(req *SourceRequest) parquet.Options {
	o := parquet.Options{Partitions: parquet.Partitioning{Hive: true}, Cache: pp.cache}
	if req != nil {
		o.Columns, o.EventTime = req.Columns, req.EventTime
		ops := map[string]parquet.Op{"=": parquet.Eq, "<>": parquet.Ne, "<": parquet.Lt, "<=": parquet.Le, ">": parquet.Gt, ">=": parquet.Ge}
		for _, h := range req.SplitHints {
			if op, ok := ops[h.Op]; ok {
				o.Filter.Partitions = append(o.Filter.Partitions, parquet.Pred{Column: h.Column, Op: op, Value: h.Value})
			}
		}
		o.Filter.From = req.From
		if req.Mode == Backfill {
			o.Filter.To = req.To
		}
	}
	return o
}

func (pp parquetProvider) Schema(ctx context.Context, u *url.URL) (*arrow.Schema, error) {
	src, err := parquet.Open(ctx, u.String(), pp.options(nil))
	if err != nil {
		return nil, err
	}
	return src.Schema(), nil
}

func (pp parquetProvider) Open(ctx context.Context, u *url.URL, req SourceRequest) (dataflow.Source, bool, error) {
	src, err := parquet.Open(ctx, u.String(), pp.options(&req))
	if err != nil {
		return nil, false, err
	}
	return src, true, nil
}
