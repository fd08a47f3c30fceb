package nexmark

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
)

// The Nexmark queries in weir's SQL dialect, adapted from nexmark-flink's
// SQL: TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), …)) becomes
// TUMBLE(bids, date_time, …), camelCase columns are snake_case, and joins of
// windowed results are window joins on window_start and window_end. They run
// over the tables bids, auctions and persons that SQLSetup creates. Each
// gives the same rows as the Go API version of the same name (queries.go,
// joins.go); q3 and q4 have no Go API version.
var sqlQueries = map[string]string{
	// Pass-through.
	"q0": `SELECT auction, bidder, price, date_time, extra FROM bids`,
	// Currency conversion (dollars to euros).
	"q1": `SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bids`,
	// Selection.
	"q2": `SELECT auction, price FROM bids WHERE auction % 123 = 0`,
	// Local item suggestion: a regular (non-windowed) join of auctions and
	// persons.
	"q3": `SELECT p.name, p.city, p.state, a.id
FROM auctions a JOIN persons p ON a.seller = p.id
WHERE a.category = 10 AND (p.state = 'OR' OR p.state = 'ID' OR p.state = 'CA')`,
	// Average price per category: the final (highest) bid of each auction
	// among the bids made while it was open, averaged per category. A join
	// of auctions and bids with a time condition (an interval join) and
	// nested aggregation.
	"q4": `SELECT q.category, avg(q.final) AS avg_final
FROM (
  SELECT max(b.price) AS final, a.category
  FROM auctions a JOIN bids b ON a.id = b.auction AND b.date_time BETWEEN a.date_time AND a.expires
  GROUP BY a.id, a.category
) q
GROUP BY q.category`,
	// Hot items: per HOP(2 s, 10 s) window, the auctions with the most bids.
	// nexmark-flink joins on num >= maxn; num never exceeds its window's
	// maximum, so = is the same and lets the join hash by count.
	"q5": `WITH counts AS (
  SELECT auction, count(*) AS num, window_start, window_end
  FROM HOP(bids, date_time, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
  GROUP BY auction, window_start, window_end
), maxes AS (
  SELECT max(num) AS maxn, window_start, window_end FROM counts GROUP BY window_start, window_end
)
SELECT c.auction, c.num, c.window_start, c.window_end
FROM counts c JOIN maxes m
  ON c.num = m.maxn AND c.window_start = m.window_start AND c.window_end = m.window_end`,
	// Highest bid: the bids whose price is the highest of their TUMBLE(10 s)
	// window (nexmark-flink matches a bid at exactly a window's end to the
	// window before too; a window join puts it in its own window only).
	"q7": `SELECT b.auction, b.price, b.bidder, b.date_time, b.extra
FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) b
JOIN (
  SELECT max(price) AS maxprice, window_start, window_end
  FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)
  GROUP BY window_start, window_end
) m ON b.price = m.maxprice AND b.window_start = m.window_start AND b.window_end = m.window_end`,
	// Monitor new users: persons who opened an auction in the TUMBLE(10 s)
	// window in which they registered.
	"q8": `SELECT p.id, p.name, p.window_start
FROM (
  SELECT id, name, window_start, window_end FROM TUMBLE(persons, date_time, INTERVAL '10' SECOND)
  GROUP BY id, name, window_start, window_end
) p
JOIN (
  SELECT seller, window_start, window_end FROM TUMBLE(auctions, date_time, INTERVAL '10' SECOND)
  GROUP BY seller, window_start, window_end
) a ON p.id = a.seller AND p.window_start = a.window_start AND p.window_end = a.window_end`,
	// User sessions: bids per bidder per SESSION(10 s).
	"q11": `SELECT bidder, window_start, window_end, count(*) AS bid_count
FROM SESSION(bids, date_time, INTERVAL '10' SECOND)
GROUP BY bidder, window_start, window_end`,
}

// SQLNames lists the queries that have a SQL version.
func SQLNames() []string { return queryNames(sqlQueries) }

// SQL returns the SQL text of a query.
func SQL(name string) (string, error) {
	q, ok := sqlQueries[name]
	if !ok {
		return "", fmt.Errorf("no SQL version of Nexmark query %q (known: %v)", name, SQLNames())
	}
	return q, nil
}

// SQLSetup returns the statements that create the tables bids, auctions
// and persons over a bounded run of the Nexmark generator: o.Events events
// of all kinds in o.Parallelism partitions (as the Go API runs use).
func SQLSetup(o Options) string {
	o.defaults()
	var s string
	for _, name := range []string{"bids", "auctions", "persons"} {
		s += fmt.Sprintf("CREATE TABLE %s () WITH (live = 'nexmark://%s?events=%d&partitions=%d&seed=%d&rate=%d', event_time = 'date_time', watermark_delay = '%d milliseconds');\n",
			name, name, o.Events, o.Parallelism, o.Seed, o.Rate, o.Delay.Milliseconds())
	}
	return s
}

// SQLResult is what a SQL run measured: the run (as Result) and the
// planner's overhead.
type SQLResult struct {
	Result
	// Planning is the time to parse, bind, plan and compile the query to a
	// dataflow graph (an EXPLAIN of it), not included in Wall.
	Planning time.Duration
}

// NewSQLEngine returns an engine with the Nexmark tables of o.
func NewSQLEngine(ctx context.Context, o Options) (*query.Engine, error) {
	e := query.NewEngine(query.NewCatalog())
	if err := e.Execute(ctx, SQLSetup(o), query.RunOptions{}, RowFunc(nil)); err != nil {
		return nil, err
	}
	return e, nil
}

// RunSQL runs the SQL version of a query as a backfill to completion and
// measures it as Run measures the Go API version.
func RunSQL(ctx context.Context, o Options) (SQLResult, error) {
	o.defaults()
	sql, err := SQL(o.Query)
	if err != nil {
		return SQLResult{}, err
	}
	e, err := NewSQLEngine(ctx, o)
	if err != nil {
		return SQLResult{}, err
	}
	opts := query.RunOptions{Mode: query.Backfill, Parallelism: o.Parallelism}
	// The planner's overhead: EXPLAIN parses, binds, plans and compiles
	// the query to its graph, and stops there. Take the best of a few.
	var planning time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		if err := e.Execute(ctx, "EXPLAIN "+sql, opts, RowFunc(nil)); err != nil {
			return SQLResult{}, fmt.Errorf("nexmark %s (SQL): %w", o.Query, err)
		}
		if d := time.Since(start); i == 0 || d < planning {
			planning = d
		}
	}
	var rows atomic.Int64
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	if err := e.Execute(ctx, sql, opts, RowFunc(func(b dataflow.Batch) error {
		rows.Add(int64(b.Len()))
		return nil
	})); err != nil {
		return SQLResult{}, fmt.Errorf("nexmark %s (SQL): %w", o.Query, err)
	}
	r := Result{Options: o, Rows: rows.Load(), Wall: time.Since(start), CPU: cpuTime() - cpu0, PeakRSS: peakRSS()}
	return SQLResult{Result: r, Planning: planning}, nil
}

// RowFunc is a query.Sink that hands every result batch to a function (nil:
// drops them).
type RowFunc func(b dataflow.Batch) error

func (f RowFunc) Schema(int, *arrow.Schema) error { return nil }
func (f RowFunc) Rows(_ int, b dataflow.Batch) error {
	if f == nil {
		return nil
	}
	return f(b)
}
func (f RowFunc) Progress(int, query.Progress) error { return nil }
func (f RowFunc) Done(int, query.Done) error         { return nil }
