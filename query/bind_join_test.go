package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// newJoinEngine adds to the test engine two live streams (clicks, views;
// views_ttl is views with a state TTL) and a bounded table (users).
func newJoinEngine(t *testing.T) *Engine {
	t.Helper()
	e := newTestEngine(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "ts", Type: columnar.TimestampType},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	batch := func(rows ...[3]int64) arrow.RecordBatch {
		var k, ts, v []int64
		for _, r := range rows {
			k, ts, v = append(k, r[0]), append(ts, r[1]*1_000_000), append(v, r[2])
		}
		return columnar.Record(schema, []arrow.Array{columnar.Int64s(k), columnar.Timestamps(ts), columnar.Int64s(v)}, len(rows))
	}
	e.Providers.Memory().Put("clicks", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{
		{batch([3]int64{1, 2, 100}, [3]int64{2, 9, 200}), batch([3]int64{3, 20, 300})}}})
	e.Providers.Memory().Put("views", &MemoryTable{Schema: schema, Splits: [][]arrow.RecordBatch{
		{batch([3]int64{1, 5, 11}, [3]int64{5, 6, 55})}, {batch([3]int64{3, 30, 33})}}})
	users := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "label", Type: arrow.BinaryTypes.String}}, nil)
	e.Providers.Memory().Put("users", &MemoryTable{Schema: users, Splits: [][]arrow.RecordBatch{
		{columnar.Record(users, []arrow.Array{columnar.Int64s([]int64{1, 2}), columnar.StringsOf([]string{"one", "two"})}, 2)},
		{columnar.Record(users, []arrow.Array{columnar.Int64s([]int64{4}), columnar.StringsOf([]string{"four"})}, 1)},
	}})
	run(t, e, `CREATE TABLE clicks () WITH (live = 'mem://clicks', event_time = 'ts', watermark_delay = '1 second');
		CREATE TABLE views () WITH (live = 'mem://views', event_time = 'ts');
		CREATE TABLE views_ttl () WITH (live = 'mem://views', event_time = 'ts', state_ttl = '5 seconds');
		CREATE TABLE users () WITH (history = 'mem://users')`, RunOptions{})
	return e
}

func TestStreamJoins(t *testing.T) {
	e := newJoinEngine(t)
	// events (k, ts, v, name): (1,1,10,a) (2,3,20,b) (1,4,30,a) (1,12,5,a) (2,2,7,b) (3,11,1,c) (3,25,2,c)
	// clicks (k, ts, v): (1,2,100) (2,9,200) (3,20,300); views: (1,5,11) (5,6,55) (3,30,33)
	interval := []string{"1 | 10 | 100", "1 | 30 | 100", "2 | 20 | 200", "2 | 7 | 200", "3 | 2 | 300"}
	for _, tc := range []struct {
		sql     string
		explain string
		want    []string
	}{
		{`SELECT e.k, e.v, c.v FROM events e JOIN clicks c ON e.k = c.k AND c.ts BETWEEN e.ts - INTERVAL '5' SECOND AND e.ts + INTERVAL '7' SECOND`,
			"Interval join", interval},
		{`SELECT e.k, e.v, c.v FROM events e JOIN clicks c ON c.ts >= e.ts - INTERVAL '5' SECOND AND e.k = c.k AND c.ts <= e.ts + INTERVAL '7' SECOND`,
			"Interval join", interval},
		{`SELECT e.k, e.v, c.v FROM events e JOIN clicks c ON e.k = c.k AND e.ts BETWEEN c.ts - INTERVAL '7' SECOND AND c.ts + INTERVAL '5' SECOND`,
			"Interval join", interval},
		{`SELECT e.k, e.v, u.label FROM events e JOIN users u ON e.k = u.k`, "Lookup join",
			[]string{"1 | 10 | one", "1 | 30 | one", "1 | 5 | one", "2 | 20 | two", "2 | 7 | two"}},
		{`SELECT e.v, u.label FROM events e LEFT JOIN users u ON u.k = e.k WHERE e.k >= 2`, "Lookup join",
			[]string{"20 | two", "7 | two", "1 | (null)", "2 | (null)"}},
		{`SELECT u.label, count(*) AS n FROM users u JOIN events e ON u.k = e.k GROUP BY u.label`, "Lookup join",
			[]string{"one | 3", "two | 2"}},
		{`SELECT c.k, c.v, w.v FROM clicks c LEFT JOIN views w ON c.k = w.k`, "Regular join",
			[]string{"1 | 100 | 11", "2 | 200 | (null)", "3 | 300 | 33"}},
		{`SELECT c.k, c.v, w.v FROM clicks c LEFT JOIN views_ttl w ON c.k = w.k`, "state TTL 5s",
			[]string{"1 | 100 | 11", "2 | 200 | (null)", "3 | 300 | (null)"}},
		{`SELECT c.k, w.v FROM clicks c JOIN views w ON c.k = w.k AND w.v > 20`, "Regular join",
			[]string{"3 | 33"}},
	} {
		s := run(t, e, "EXPLAIN "+tc.sql, RunOptions{})
		if plan := strings.Join(s.order[0], "\n"); !strings.Contains(plan, tc.explain) {
			t.Errorf("%s: EXPLAIN lacks %q:\n%s", tc.sql, tc.explain, plan)
		}
		for _, mode := range []Mode{Backfill, Live} {
			for _, par := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/p%d/%s", mode, par, tc.sql), func(t *testing.T) {
					s := run(t, e, tc.sql, RunOptions{Mode: mode, Parallelism: par})
					got := s.rows(t, 0)
					want := append([]string(nil), tc.want...)
					sort.Strings(want)
					if strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
					}
				})
			}
		}
	}
}

func TestStreamJoinErrors(t *testing.T) {
	e := newJoinEngine(t)
	for _, tc := range []struct{ sql, msg string }{
		{`SELECT * FROM clicks c JOIN views w ON c.v < w.v`, "without a key equality"},
		{`SELECT * FROM clicks c FULL JOIN views w ON c.k = w.k`, "full outer joins"},
		{`SELECT * FROM clicks c LEFT JOIN views w ON c.k = w.k AND w.v > 1`, "LEFT join"},
		{`SELECT * FROM events e JOIN clicks c ON e.k = c.k AND c.ts >= e.ts`, "bounded on one side only"},
		{`SELECT * FROM (SELECT k, count(*) AS n FROM clicks GROUP BY k) a JOIN views w ON a.k = w.k`, "updating input"},
	} {
		err := e.Execute(context.Background(), tc.sql, RunOptions{}, newCollectSink())
		var qe *Error
		if !errors.As(err, &qe) || !strings.Contains(qe.Msg, tc.msg) {
			t.Errorf("%s:\nerror %v, want %q", tc.sql, err, tc.msg)
		}
	}
}
