package query

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestDistinctAggregates: count/sum/avg(DISTINCT) in plain GROUP BY, window
// and session aggregates, hand-checked, in backfill and live mode.
func TestDistinctAggregates(t *testing.T) {
	e := newTestEngine(t)
	// events: (k, ts, v, name)
	// (1,1,10,a) (2,3,20,b) (1,4,30,a) (1,12,5,a) (2,2,7,b) (3,11,1,c) (3,25,2,c)
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{"SELECT count(DISTINCT k) AS a, count(DISTINCT name) AS b, count(DISTINCT v % 2) AS c FROM events", []string{"3 | 3 | 2"}},
		{"SELECT name, count(DISTINCT k), sum(DISTINCT k), avg(DISTINCT v) FROM events GROUP BY name",
			[]string{"a | 1 | 1 | 15", "b | 1 | 2 | 13.5", "c | 1 | 3 | 1.5"}},
		{"SELECT count(DISTINCT name), min(DISTINCT v), max(DISTINCT v) FROM events WHERE v > 9", []string{"2 | 10 | 30"}},
		{"SELECT window_start, count(DISTINCT k) AS ks, count(DISTINCT name) AS ns FROM TUMBLE(events, ts, INTERVAL '10' SECOND) GROUP BY window_start, window_end",
			[]string{ts(0) + " | 2 | 2", ts(10) + " | 2 | 2", ts(20) + " | 1 | 1"}},
		{"SELECT window_start, window_end, count(DISTINCT name) FROM SESSION(events, ts, INTERVAL '5' SECOND) GROUP BY window_start, window_end",
			[]string{ts(1) + " | " + ts(9) + " | 2", ts(11) + " | " + ts(17) + " | 2", ts(25) + " | " + ts(30) + " | 1"}},
		{"SELECT k, approx_count_distinct(name) AS n FROM events GROUP BY k", []string{"1 | 1", "2 | 1", "3 | 1"}},
		{"SELECT approx_percentile(v, 0.5) AS p FROM events", []string{"7.0"}},
	} {
		for _, mode := range []Mode{Backfill, Live} {
			t.Run(fmt.Sprintf("%s/%s", mode, tc.sql), func(t *testing.T) {
				s := run(t, e, tc.sql, RunOptions{Mode: mode, Parallelism: 3})
				got := s.rows(t, 0)
				want := append([]string(nil), tc.want...)
				sort.Strings(want)
				if !approxRowsEqual(got, want) {
					t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

// approxRowsEqual compares rows cell by cell; float cells of want ending in
// ".0" match any value within 1% (approx_percentile's bound).
func approxRowsEqual(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := strings.Split(got[i], " | "), strings.Split(want[i], " | ")
		if len(g) != len(w) {
			return false
		}
		for j := range g {
			if g[j] == w[j] {
				continue
			}
			gf, err1 := strconv.ParseFloat(g[j], 64)
			wf, err2 := strconv.ParseFloat(w[j], 64)
			if err1 != nil || err2 != nil || !strings.HasSuffix(w[j], ".0") || math.Abs(gf-wf) > 0.01*math.Abs(wf) {
				return false
			}
		}
	}
	return true
}

// TestApproxPercentileLarge checks the error bound over the Nexmark bids
// table and that backfill and live give the very same sketch answers.
func TestApproxPercentileLarge(t *testing.T) {
	e := NewEngine(NewCatalog())
	run(t, e, `CREATE TABLE bids () WITH (live = 'nexmark://bids?events=20000&partitions=3', event_time = 'date_time')`, RunOptions{})
	q := `SELECT approx_percentile(price, 0.95) AS p95, percentile_approx(price, 0.5) AS p50,
	        approx_count_distinct(bidder) AS bidders, count(DISTINCT bidder) AS exact FROM bids`
	var results []string
	for _, opts := range []RunOptions{{Mode: Backfill, Parallelism: 1}, {Mode: Backfill, Parallelism: 4}, {Mode: Live, Parallelism: 3}} {
		s := run(t, e, q, opts)
		rows := s.rows(t, 0)
		if len(rows) != 1 {
			t.Fatalf("rows %v", rows)
		}
		results = append(results, rows[0])
	}
	for _, r := range results[1:] {
		if r != results[0] {
			t.Errorf("runs disagree: %q vs %q", r, results[0])
		}
	}
	cells := strings.Split(results[0], " | ")
	est, _ := strconv.ParseFloat(cells[2], 64)
	exact, _ := strconv.ParseFloat(cells[3], 64)
	if math.Abs(est-exact) > 0.05*exact {
		t.Errorf("approx_count_distinct %v, exact %v", est, exact)
	}
	// exact percentiles by sorting, through the engine
	s := run(t, e, "SELECT price FROM bids ORDER BY price", RunOptions{})
	prices := s.order[0]
	for i, q := range map[int]float64{0: 0.95, 1: 0.5} {
		want, _ := strconv.ParseFloat(prices[int(math.Floor(q*float64(len(prices)-1)))], 64)
		got, _ := strconv.ParseFloat(cells[i], 64)
		if math.Abs(got-want) > 0.01*want {
			t.Errorf("percentile %v: %v, exact %v", q, got, want)
		}
	}
}
