package nexmark

import (
	"time"

	"github.com/weirdata/weir/dataflow"
)

// q5: hot items. Per HOP(2 s, 10 s) window, the auctions with the most bids
// (ties included):
//
//	counts = SELECT auction, count(*) AS num, window_start, window_end
//	         FROM HOP(bid, date_time, 2s, 10s) GROUP BY auction, window_start, window_end
//	SELECT auction, num FROM counts JOIN (SELECT max(num) AS maxn, window … GROUP BY window …)
//	ON same window AND num >= maxn
//
// The max is computed local/global: each subtask pre-aggregates its counts
// per window before the exchange by window_start.
func q5(s *Streams, p int) (dataflow.Stream, error) {
	counts := s.Bids().KeyBy("auction").WindowAggregate("q5.count", p, dataflow.WindowAggSpec{
		Keys: []string{"auction"}, TimeColumn: "date_time", Window: dataflow.Hop(2*time.Second, 10*time.Second),
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "num"}},
	})
	maxes := counts.
		WindowAggregate("q5.local-max", dataflow.WindowAggSpec{FromColumns: true,
			Aggs: []dataflow.Agg{{Func: dataflow.Max, Column: "num", As: "maxn"}}}).
		KeyBy(dataflow.WindowStartColumn).
		WindowAggregate("q5.max", p, dataflow.WindowAggSpec{FromColumns: true,
			Aggs: []dataflow.Agg{{Func: dataflow.Max, Column: "maxn", As: "maxn"}}})
	joined := s.g.WindowJoin("q5.join", p, counts.KeyBy("num"), maxes.KeyBy("maxn"),
		dataflow.WindowJoinSpec{LeftKeys: []string{"num"}, RightKeys: []string{"maxn"}})
	return joined.Map("q5.project", dataflow.Project("auction", "num", dataflow.WindowStartColumn, dataflow.WindowEndColumn)), nil
}

// q7: highest bid. The bids whose price is the highest of their TUMBLE(10 s)
// window. (nexmark-flink matches bids with date_time in [end − 10 s, end],
// both ends closed; weir joins within the window [start, end), so a bid at
// exactly a window's end belongs to the next window only.)
func q7(s *Streams, p int) (dataflow.Stream, error) {
	bids := s.Bids()
	tumble := dataflow.Tumble(10 * time.Second)
	windowed := bids.AssignWindows("q7.tumble", "date_time", tumble)
	maxes := bids.
		WindowAggregate("q7.local-max", dataflow.WindowAggSpec{TimeColumn: "date_time", Window: tumble,
			Aggs: []dataflow.Agg{{Func: dataflow.Max, Column: "price", As: "maxprice"}}}).
		KeyBy(dataflow.WindowStartColumn).
		WindowAggregate("q7.max", p, dataflow.WindowAggSpec{FromColumns: true,
			Aggs: []dataflow.Agg{{Func: dataflow.Max, Column: "maxprice", As: "maxprice"}}})
	joined := s.g.WindowJoin("q7.join", p, windowed.KeyBy("price"), maxes.KeyBy("maxprice"),
		dataflow.WindowJoinSpec{LeftKeys: []string{"price"}, RightKeys: []string{"maxprice"}})
	return joined.Map("q7.project", dataflow.Project("auction", "price", "bidder", "date_time", "extra")), nil
}

// q8: monitor new users. Persons who opened an auction in the TUMBLE(10 s)
// window in which they registered:
//
//	P = SELECT id, name, window_start … FROM TUMBLE(person …) GROUP BY id, name, window
//	A = SELECT seller, window_start … FROM TUMBLE(auction …) GROUP BY seller, window
//	SELECT P.id, P.name, P.window_start FROM P JOIN A ON P.id = A.seller AND same window
func q8(s *Streams, p int) (dataflow.Stream, error) {
	tumble := dataflow.Tumble(10 * time.Second)
	persons := s.Persons().KeyBy("id").WindowAggregate("q8.persons", p, dataflow.WindowAggSpec{
		Keys: []string{"id", "name"}, TimeColumn: "date_time", Window: tumble,
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}},
	})
	sellers := s.Auctions().KeyBy("seller").WindowAggregate("q8.sellers", p, dataflow.WindowAggSpec{
		Keys: []string{"seller"}, TimeColumn: "date_time", Window: tumble,
		Aggs: []dataflow.Agg{{Func: dataflow.CountAll, As: "n"}},
	})
	joined := s.g.WindowJoin("q8.join", p, persons.KeyBy("id"), sellers.KeyBy("seller"),
		dataflow.WindowJoinSpec{LeftKeys: []string{"id"}, RightKeys: []string{"seller"}})
	return joined.Map("q8.project", dataflow.Project("id", "name", dataflow.WindowStartColumn)), nil
}
