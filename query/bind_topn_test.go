package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

func TestWindowTopN(t *testing.T) {
	e := newTestEngine(t)
	// events (k, ts, v, name): (1,1,10,a) (2,3,20,b) (1,4,30,a) (1,12,5,a)
	// (2,2,7,b) (3,11,1,c) (3,25,2,c)
	for _, tc := range []struct {
		sql    string
		header string
		want   []string
	}{
		{`SELECT k, v, window_start, rownum FROM (
		    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY v DESC) AS rownum
		    FROM TUMBLE(events, ts, INTERVAL '10' SECOND)) WHERE rownum <= 2`,
			"k | v | window_start | rownum",
			[]string{"1 | 30 | " + ts(0) + " | 1", "2 | 20 | " + ts(0) + " | 2", "1 | 5 | " + ts(10) + " | 1", "3 | 1 | " + ts(10) + " | 2", "3 | 2 | " + ts(20) + " | 1"}},
		{`SELECT * FROM (
		    SELECT k, window_start, window_end, sum(v) AS s,
		           ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY s DESC) AS rn
		    FROM TUMBLE(events, ts, INTERVAL '10' SECOND) GROUP BY k, window_start, window_end) t
		  WHERE rn = 1`,
			"k | window_start | window_end | s | rn",
			[]string{"1 | " + ts(0) + " | " + ts(10) + " | 40 | 1", "1 | " + ts(10) + " | " + ts(20) + " | 5 | 1", "3 | " + ts(20) + " | " + ts(30) + " | 2 | 1"}},
		{`SELECT name, v FROM (
		    SELECT name, v, window_start, window_end, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, name ORDER BY v) AS r
		    FROM TUMBLE(events, ts, INTERVAL '10' SECOND)) x WHERE r < 2 AND v > 1`,
			"name | v",
			[]string{"a | 10", "b | 7", "a | 5", "c | 2"}},
		{`SELECT window_start, count(*) AS n FROM (
		    SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY v DESC) AS rownum
		    FROM TUMBLE(events, ts, INTERVAL '10' SECOND)) WHERE 3 >= rownum GROUP BY window_start, window_end`,
			"window_start | n",
			[]string{ts(0) + " | 3", ts(10) + " | 2", ts(20) + " | 1"}},
	} {
		for _, mode := range []Mode{Backfill, Live} {
			for _, par := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/p%d/%s", mode, par, tc.sql), func(t *testing.T) {
					s := run(t, e, tc.sql, RunOptions{Mode: mode, Parallelism: par})
					if h := s.header(0); h != tc.header {
						t.Errorf("header %q, want %q", h, tc.header)
					}
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

func TestWindowTopNErrors(t *testing.T) {
	e := newTestEngine(t)
	for _, tc := range []struct{ sql, msg string }{
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v) AS rn FROM events) WHERE rn <= 2`, "not windowed"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v) AS rn FROM TUMBLE(events, ts, INTERVAL '10' SECOND)) WHERE rn <= 2`, "not partitioned by window_start and window_end"},
		{`SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY v) AS rn FROM TUMBLE(events, ts, INTERVAL '10' SECOND)) WHERE rn > 2`, "without an upper bound"},
		{`SELECT * FROM (SELECT *, rank() OVER (PARTITION BY window_start, window_end ORDER BY v) AS rn FROM TUMBLE(events, ts, INTERVAL '10' SECOND)) WHERE rn <= 2`, "only ROW_NUMBER()"},
		{`SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY v) AS rn FROM TUMBLE(events, ts, INTERVAL '10' SECOND)`, "window function"},
	} {
		err := e.Execute(context.Background(), tc.sql, RunOptions{}, newCollectSink())
		var qe *Error
		if !errors.As(err, &qe) || !strings.Contains(qe.Msg, tc.msg) {
			t.Errorf("%s:\nerror %v, want %q", tc.sql, err, tc.msg)
		}
	}
}
