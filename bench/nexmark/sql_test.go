package nexmark

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/query"
	gen "github.com/weirdata/weir/unbounded/nexmark"
)

// runSQL runs a query's SQL version over the test events at parallelism p
// and folds its changelog into sorted rows, formatted as runQuery formats
// the Go API's.
func runSQL(t *testing.T, name string, p int) ([]string, error) {
	t.Helper()
	o := Options{Query: name, Events: testEvents, Parallelism: p, Seed: testConfig.Seed}
	e, err := NewSQLEngine(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	sql, err := SQL(name)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	err = e.Execute(context.Background(), sql, query.RunOptions{Mode: query.Backfill, Parallelism: p}, RowFunc(func(b dataflow.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		for r := 0; r < b.Len(); r++ {
			row := rowString(b.Rec, r)
			if b.Op(r) == dataflow.Retract {
				counts[row]--
			} else {
				counts[row]++
			}
		}
		return nil
	}))
	if err != nil {
		return nil, err
	}
	var rows []string
	for row, n := range counts {
		if n < 0 {
			t.Fatalf("%s: row %s retracted more than inserted", name, row)
		}
		for ; n > 0; n-- {
			rows = append(rows, row)
		}
	}
	sort.Strings(rows)
	return rows, nil
}

func sameRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: empty reference", what)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: row %d = %s, want %s", what, i, got[i], want[i])
		}
	}
}

// TestSQLMatchesGoAPI checks that each SQL query gives the Go API
// version's rows, at two parallelisms.
func TestSQLMatchesGoAPI(t *testing.T) {
	for _, name := range SQLNames() {
		if _, err := Lookup(name); err != nil {
			continue // no Go API version: TestSQLJoins
		}
		for _, p := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/p=%d", name, p), func(t *testing.T) {
				got, err := runSQL(t, name, p)
				if err != nil {
					t.Fatal(err)
				}
				sameRows(t, name, got, runQuery(t, name, p, p))
			})
		}
	}
}

// TestSQLJoins checks q3 and q4, which have no Go API version, against
// brute-force references. They need a regular join and an interval join
// (a planner without them skips, saying why).
func TestSQLJoins(t *testing.T) {
	refs := map[string]func(t *testing.T) []string{"q3": q3Reference, "q4": q4Reference}
	for _, name := range []string{"q3", "q4"} {
		for _, p := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/p=%d", name, p), func(t *testing.T) {
				got, err := runSQL(t, name, p)
				if errors.Is(err, query.ErrUnsupported) {
					t.Skipf("not supported yet: %v", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				want := refs[name](t)
				sort.Strings(want)
				sameRows(t, name, got, want)
			})
		}
	}
}

func q3Reference(t *testing.T) []string {
	persons, auctions := events(t, gen.Person), events(t, gen.Auction)
	type person struct{ name, city, state string }
	byID := map[int64]person{}
	for r, id := range columnar.Int64Values(persons.Column(0)) {
		st := persons.Column(5).ValueStr(r)
		if st == "OR" || st == "ID" || st == "CA" {
			byID[id] = person{persons.Column(1).ValueStr(r), persons.Column(4).ValueStr(r), st}
		}
	}
	ids, sellers, cats := columnar.Int64Values(auctions.Column(0)), columnar.Int64Values(auctions.Column(7)), columnar.Int64Values(auctions.Column(8))
	var want []string
	for r, id := range ids {
		if p, ok := byID[sellers[r]]; ok && cats[r] == 10 {
			want = append(want, strings.Join([]string{p.name, p.city, p.state, fmt.Sprint(id)}, "|"))
		}
	}
	return want
}

func q4Reference(t *testing.T) []string {
	auctions, bids := events(t, gen.Auction), events(t, gen.Bid)
	type auction struct{ start, end, category int64 }
	byID := map[int64]auction{}
	aStart, aEnd := columnar.Int64Values(auctions.Column(5)), columnar.Int64Values(auctions.Column(6))
	for r, id := range columnar.Int64Values(auctions.Column(0)) {
		byID[id] = auction{aStart[r], aEnd[r], columnar.Int64Values(auctions.Column(8))[r]}
	}
	final := map[int64]int64{}
	bAuction, bPrice, bTime := columnar.Int64Values(bids.Column(0)), columnar.Int64Values(bids.Column(2)), columnar.Int64Values(bids.Column(5))
	for r, a := range bAuction {
		if au, ok := byID[a]; ok && bTime[r] >= au.start && bTime[r] <= au.end {
			if p, seen := final[a]; !seen || bPrice[r] > p {
				final[a] = bPrice[r]
			}
		}
	}
	sum, n := map[int64]float64{}, map[int64]int64{}
	for a, p := range final {
		c := byID[a].category
		sum[c] += float64(p)
		n[c]++
	}
	var want []string
	for c := range sum {
		want = append(want, fmt.Sprintf("%d|%s", c, columnar.Float64s([]float64{sum[c] / float64(n[c])}).ValueStr(0)))
	}
	return want
}

func TestRunSQLReportsMeasurements(t *testing.T) {
	r, err := RunSQL(context.Background(), Options{Query: "q2", Events: 50_000, Parallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows == 0 || r.Wall <= 0 || r.CPU <= 0 || r.PeakRSS <= 0 || r.Planning <= 0 {
		t.Fatalf("incomplete result %+v", r)
	}
	if _, err := RunSQL(context.Background(), Options{Query: "q99"}); err == nil {
		t.Fatal("unknown query: want an error")
	}
}
