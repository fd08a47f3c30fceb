package nexmark

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// rowStrings renders every row of rec as one string, for comparisons.
func rowStrings(t testing.TB, rec arrow.RecordBatch) []string {
	t.Helper()
	out := make([]string, rec.NumRows())
	var sb strings.Builder
	for i := range out {
		sb.Reset()
		for c, col := range rec.Columns() {
			if c > 0 {
				sb.WriteByte('|')
			}
			switch a := col.(type) {
			case *array.Int64:
				sb.WriteString(strconv.FormatInt(a.Value(i), 10))
			case *array.Timestamp:
				sb.WriteString(strconv.FormatInt(int64(a.Value(i)), 10))
			case *array.String:
				sb.WriteString(a.Value(i))
			default:
				t.Fatalf("unexpected column type %T", col)
			}
		}
		out[i] = sb.String()
	}
	return out
}

// drain generates positions [pos, end) of g in chunks of chunk() positions
// and returns the concatenated rows.
func drain(t testing.TB, g *Generator, pos, end int64, chunk func() int) []string {
	t.Helper()
	var out []string
	for pos < end {
		n := int(min(int64(chunk()), end-pos))
		rec, next, _ := g.Next(pos, n)
		if next != pos+int64(n) {
			t.Fatalf("Next(%d, %d) returned next=%d", pos, n, next)
		}
		checkBatch(t, g, rec)
		out = append(out, rowStrings(t, rec)...)
		rec.Release()
		pos = next
	}
	return out
}

// checkBatch validates the structure of a batch of g.
func checkBatch(t testing.TB, g *Generator, rec arrow.RecordBatch) {
	t.Helper()
	if !rec.Schema().Equal(g.Schema()) {
		t.Fatalf("batch schema %v, want %v", rec.Schema(), g.Schema())
	}
	for i, col := range rec.Columns() {
		if col.Len() != int(rec.NumRows()) {
			t.Fatalf("column %d has %d rows, batch %d", i, col.Len(), rec.NumRows())
		}
		if col.NullN() != 0 {
			t.Fatalf("column %d has nulls", i)
		}
		if s, ok := col.(*array.String); ok {
			if err := s.ValidateFull(); err != nil {
				t.Fatalf("column %s: %v", rec.ColumnName(i), err)
			}
		}
	}
}

func fixed(n int) func() int { return func() int { return n } }

func TestSchemas(t *testing.T) {
	want := map[Kind]string{
		Person:  "id:int64 name:utf8 email_address:utf8 credit_card:utf8 city:utf8 state:utf8 date_time:timestamp[us, tz=UTC] extra:utf8",
		Auction: "id:int64 item_name:utf8 description:utf8 initial_bid:int64 reserve:int64 date_time:timestamp[us, tz=UTC] expires:timestamp[us, tz=UTC] seller:int64 category:int64 extra:utf8",
		Bid:     "auction:int64 bidder:int64 price:int64 channel:utf8 url:utf8 date_time:timestamp[us, tz=UTC] extra:utf8",
	}
	getters := map[Kind]func() *arrow.Schema{Person: PersonSchema, Auction: AuctionSchema, Bid: BidSchema}
	for _, k := range Kinds {
		s := Schema(k)
		if s != getters[k]() {
			t.Errorf("Schema(%v) differs from its named getter", k)
		}
		var parts []string
		for _, f := range s.Fields() {
			parts = append(parts, f.Name+":"+f.Type.String())
			if f.Nullable {
				t.Errorf("%v.%s is nullable", k, f.Name)
			}
			if ts, ok := f.Type.(*arrow.TimestampType); ok && (ts.Unit != arrow.Microsecond || ts.TimeZone != "UTC") {
				t.Errorf("%v.%s: %v", k, f.Name, ts)
			}
		}
		if got := strings.Join(parts, " "); got != want[k] {
			t.Errorf("%v schema:\n got %s\nwant %s", k, got, want[k])
		}
		rec, _, _ := NewGenerator(Config{}, k, 0, 1).Next(0, 100)
		if !rec.Schema().Equal(s) {
			t.Errorf("%v batch schema %v", k, rec.Schema())
		}
	}
	if Person.String() != "person" || Auction.String() != "auction" || Bid.String() != "bid" {
		t.Error("Kind.String")
	}
}

func TestProportions(t *testing.T) {
	const events = 5000
	var counts [3]int
	for e := range int64(events) {
		counts[KindOf(e)]++
	}
	if counts != [3]int{100, 300, 4600} {
		t.Fatalf("KindOf over %d events: %v, want [100 300 4600]", events, counts)
	}
	for _, parts := range []int{1, 3, 7, 50} {
		var rows [3]int
		for _, k := range Kinds {
			for p := range parts {
				g := NewGenerator(Config{Events: events, Seed: 7}, k, p, parts)
				for pos, done := int64(0), false; !done; {
					var rec arrow.RecordBatch
					rec, pos, done = g.Next(pos, 333)
					rows[k] += int(rec.NumRows())
				}
			}
		}
		if rows != [3]int{100, 300, 4600} {
			t.Errorf("partitions=%d: rows %v, want [100 300 4600]", parts, rows)
		}
	}
	// With a partition count coprime to 50 every partition gets the exact
	// proportions over each 50 positions; otherwise kinds are confined to
	// the partitions whose residues they own (documented).
	for p := range 7 {
		for _, k := range Kinds {
			rec, _, _ := NewGenerator(Config{}, k, p, 7).Next(0, 50*ProportionDenominator)
			if want := int64(50 * []int{PersonProportion, AuctionProportion, BidProportion}[k]); rec.NumRows() != want {
				t.Errorf("partition %d of 7: %d %vs per 2500 positions, want %d", p, rec.NumRows(), k, want)
			}
		}
	}
	if rec, _, _ := NewGenerator(Config{}, Person, 1, 10).Next(0, 10_000); rec.NumRows() != 0 {
		t.Errorf("partition 1 of 10 has persons")
	}
}

func TestDeterminism(t *testing.T) {
	for _, k := range Kinds {
		cfg := Config{Seed: 42, Events: 20_000}
		a := NewGenerator(cfg, k, 1, 3)
		b := NewGenerator(cfg, k, 1, 3)
		for pos, done := int64(0), false; !done; {
			ra, na, da := a.Next(pos, 1000)
			rb, nb, db := b.Next(pos, 1000)
			if na != nb || da != db || !array.RecordEqual(ra, rb) {
				t.Fatalf("%v: generators with equal config differ at pos %d", k, pos)
			}
			pos, done = na, da
		}
		// A different seed gives different content, same structure.
		x := drain(t, NewGenerator(Config{Seed: 1, Events: 2000}, k, 0, 1), 0, 2000, fixed(2000))
		y := drain(t, NewGenerator(Config{Seed: 2, Events: 2000}, k, 0, 1), 0, 2000, fixed(2000))
		if len(x) != len(y) {
			t.Fatalf("%v: row counts depend on the seed: %d vs %d", k, len(x), len(y))
		}
		same := 0
		for i := range x {
			if x[i] == y[i] {
				same++
			}
		}
		if same > 0 {
			t.Errorf("%v: %d of %d rows identical across seeds", k, same, len(x))
		}
	}
}

func TestChunkingIndependence(t *testing.T) {
	const n = 7_919
	rnd := rand.New(rand.NewPCG(1, 2))
	chunkings := map[string]func() int{
		"1":      fixed(1),
		"7":      fixed(7),
		"50":     fixed(50),
		"51":     fixed(51),
		"1000":   fixed(1000),
		"random": func() int { return 1 + rnd.IntN(400) },
	}
	for _, k := range Kinds {
		for _, parts := range []int{1, 3} {
			g := NewGenerator(Config{Seed: 9}, k, parts-1, parts)
			want := drain(t, g, 0, n, fixed(n))
			if len(want) == 0 {
				t.Fatalf("%v: no rows", k)
			}
			for name, c := range chunkings {
				if got := drain(t, g, 0, n, c); !slices.Equal(got, want) {
					t.Errorf("%v partitions=%d chunks=%s: rows differ from one batch", k, parts, name)
				}
			}
			// Resuming mid-range reproduces the tail.
			head := drain(t, g, 0, 3000, fixed(3000))
			tail := drain(t, g, 3000, n, fixed(123))
			if !slices.Equal(append(head, tail...), want) {
				t.Errorf("%v partitions=%d: resumed generation differs", k, parts)
			}
		}
	}
}

func TestPartitionUnion(t *testing.T) {
	const events = 10_007
	for _, k := range Kinds {
		want := drain(t, NewGenerator(Config{Seed: 3, Events: events}, k, 0, 1), 0, events, fixed(4096))
		slices.Sort(want)
		for _, parts := range []int{2, 3, 5, 7, 10, 50, 64} {
			var got []string
			var positions int64
			for p := range parts {
				g := NewGenerator(Config{Seed: 3, Events: events}, k, p, parts)
				positions += g.Positions()
				got = append(got, drain(t, g, 0, g.Positions(), fixed(500))...)
			}
			if positions != events {
				t.Errorf("%v partitions=%d: positions sum to %d", k, parts, positions)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%v partitions=%d: union of partitions (%d rows) != single partition (%d rows)", k, parts, len(got), len(want))
			}
		}
	}
}

func TestEventsLimit(t *testing.T) {
	cfg := Config{Events: 5000}
	for _, k := range Kinds {
		for p := range 3 {
			g := NewGenerator(cfg, k, p, 3)
			wantPos := int64((5000 - p + 2) / 3)
			if g.Positions() != wantPos {
				t.Fatalf("Positions() = %d, want %d", g.Positions(), wantPos)
			}
			pos := int64(0)
			for {
				rec, next, done := g.Next(pos, 777)
				if done != (next == wantPos) || next > wantPos {
					t.Fatalf("Next(%d) = next %d done %v, end %d", pos, next, done, wantPos)
				}
				if rec.NumRows() > 0 && g.EventNumber(next-1) >= 5000 {
					t.Fatal("generated past Events")
				}
				pos = next
				if done {
					break
				}
			}
			rec, next, done := g.Next(pos+10, 100)
			if rec.NumRows() != 0 || !done || next != pos+10 {
				t.Errorf("Next past the end: rows %d next %d done %v", rec.NumRows(), next, done)
			}
			rec, next, done = g.Next(0, 0)
			if rec.NumRows() != 0 || done || next != 0 {
				t.Errorf("Next(0, 0): rows %d next %d done %v", rec.NumRows(), next, done)
			}
		}
	}
	// Unbounded never ends; MaxBatchEvents caps a batch.
	g := NewGenerator(Config{}, Person, 0, 1)
	if g.Positions() != -1 {
		t.Errorf("unbounded Positions() = %d", g.Positions())
	}
	rec, next, done := g.Next(1<<40, MaxBatchEvents+5)
	if done || next != 1<<40+MaxBatchEvents || rec.NumRows() != MaxBatchEvents/ProportionDenominator+1 {
		t.Errorf("big batch: rows %d next %d done %v", rec.NumRows(), next, done)
	}
	// More partitions than events.
	g = NewGenerator(Config{Events: 3}, Bid, 5, 8)
	if rec, next, done := g.Next(0, 10); g.Positions() != 0 || rec.NumRows() != 0 || next != 0 || !done {
		t.Errorf("empty partition: positions %d rows %d next %d done %v", g.Positions(), rec.NumRows(), next, done)
	}
}

func TestTimestamps(t *testing.T) {
	base := DefaultBaseTime.UnixMicro()
	for _, k := range Kinds {
		for _, parts := range []int{1, 6} {
			for p := range parts {
				g := NewGenerator(Config{}, k, p, parts)
				if got, want := g.EventTime(0), base+int64(p)*10; got != want {
					t.Fatalf("EventTime(0) = %d, want %d", got, want)
				}
				rec, next, _ := g.Next(100, 2000)
				ts := rec.Column(rec.Schema().FieldIndices("date_time")[0]).(*array.Timestamp).Values()
				// Recompute the expected times from positions of kind k.
				var want []int64
				for pos := int64(100); pos < next; pos++ {
					if e := g.EventNumber(pos); KindOf(e) == k {
						want = append(want, base+e*10)
						if g.EventTime(pos) != base+e*10 {
							t.Fatalf("EventTime(%d) = %d", pos, g.EventTime(pos))
						}
					}
				}
				got := make([]int64, len(ts))
				for i, v := range ts {
					got[i] = int64(v)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%v p=%d/%d: date_time %v…, want %v…", k, p, parts, got[:3], want[:3])
				}
			}
		}
	}
	// Non-integral inter-event delays: floor(e·1e6/rate), no drift.
	bt := time.Date(2020, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, rate := range []int64{1, 3, 7, 300_000, 3_000_000, 1_000_000_007} {
		cfg := Config{Rate: rate, BaseTime: bt}
		g := NewGenerator(cfg, Bid, 0, 1)
		for _, e := range []int64{0, 1, 2, 999, 123_456_789, 1 << 50} {
			want := bt.UnixMicro() + int64(math.Floor(float64(e%rate)*1e6/float64(rate))) + (e/rate)*1_000_000
			if got := g.EventTime(e); got != want || cfg.EventTime(e) != want {
				t.Errorf("rate %d: EventTime(%d) = %d, want %d", rate, e, got, want)
			}
			if g.EventTime(e+1) < g.EventTime(e) {
				t.Errorf("rate %d: event time decreases at %d", rate, e)
			}
		}
	}
}

// eventOf recovers the event number of a row from its date_time under the
// default rate (10 µs per event).
func eventOf(ts arrow.Timestamp) int64 {
	return (int64(ts) - DefaultBaseTime.UnixMicro()) / 10
}

func TestPersons(t *testing.T) {
	const events = 100_000
	g := NewGenerator(Config{Seed: 5, Events: events}, Person, 0, 1)
	rec, _, _ := g.Next(0, events)
	checkBatch(t, g, rec)
	id := rec.Column(0).(*array.Int64)
	ts := rec.Column(6).(*array.Timestamp)
	distinct := make([]map[string]bool, rec.NumCols())
	for c := range distinct {
		distinct[c] = map[string]bool{}
	}
	size := 0
	for i := range id.Len() {
		e := eventOf(ts.Value(i))
		if KindOf(e) != Person || id.Value(i) != FirstPersonID+int64(i) || id.Value(i) != e/ProportionDenominator+FirstPersonID {
			t.Fatalf("row %d: event %d id %d", i, e, id.Value(i))
		}
		size += 8
		for c := 1; c <= 5; c++ {
			v := rec.Column(c).(*array.String).Value(i)
			distinct[c][v] = true
			size += len(v)
		}
		size += len(rec.Column(7).(*array.String).Value(i))
		email := rec.Column(2).(*array.String).Value(i)
		if at := strings.IndexByte(email, '@'); at < 0 || !strings.HasSuffix(email, ".com") {
			t.Fatalf("email %q", email)
		}
		cc := rec.Column(3).(*array.String).Value(i)
		if len(cc) != 19 || cc[4] != ' ' || cc[9] != ' ' || cc[14] != ' ' {
			t.Fatalf("credit card %q", cc)
		}
	}
	if len(distinct[1]) != len(firstNames)*len(lastNames) || len(distinct[4]) != len(usCities) || len(distinct[5]) != len(usStates) {
		t.Errorf("cardinalities: names %d cities %d states %d", len(distinct[1]), len(distinct[4]), len(distinct[5]))
	}
	if len(distinct[2]) < id.Len()*99/100 || len(distinct[3]) < id.Len()*99/100 {
		t.Errorf("emails %d / cards %d distinct of %d", len(distinct[2]), len(distinct[3]), id.Len())
	}
	checkMean(t, "person byte size", float64(size)/float64(id.Len()), DefaultAvgPersonByteSize, 2)
}

func TestAuctions(t *testing.T) {
	const events = 200_000
	g := NewGenerator(Config{Seed: 5, Events: events}, Auction, 0, 1)
	rec, _, _ := g.Next(0, events)
	checkBatch(t, g, rec)
	col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
	id := col("id").(*array.Int64)
	name := col("item_name").(*array.String)
	desc := col("description").(*array.String)
	initial := col("initial_bid").(*array.Int64)
	reserve := col("reserve").(*array.Int64)
	ts := col("date_time").(*array.Timestamp)
	expires := col("expires").(*array.Timestamp)
	seller := col("seller").(*array.Int64)
	category := col("category").(*array.Int64)
	extra := col("extra").(*array.String)
	horizon := int64(DefaultNumInFlightAuctions*ProportionDenominator/AuctionProportion) * 10
	hot, size, length := 0, 0, 0.0
	for i := range id.Len() {
		e := eventOf(ts.Value(i))
		if KindOf(e) != Auction || id.Value(i) != FirstAuctionID+int64(i) || id.Value(i) != lastBase0AuctionID(e)+FirstAuctionID {
			t.Fatalf("row %d: event %d id %d", i, e, id.Value(i))
		}
		lastP := lastBase0PersonID(e)
		s := seller.Value(i) - FirstPersonID
		if s == lastP/hotSellerBatch*hotSellerBatch {
			hot++
		} else if s < max(lastP+1-DefaultNumActivePeople, 0) || s > lastP+personIDLead {
			t.Fatalf("event %d: seller %d outside active people (last person %d)", e, s, lastP)
		}
		if c := category.Value(i); c < FirstCategoryID || c >= FirstCategoryID+NumCategories {
			t.Fatalf("category %d", c)
		}
		if p := initial.Value(i); p < 100 || p > 100_000_000 || reserve.Value(i) <= p {
			t.Fatalf("initial bid %d reserve %d", p, reserve.Value(i))
		}
		d := int64(expires.Value(i) - ts.Value(i))
		if d < 1 || d > 2*horizon {
			t.Fatalf("auction length %d µs, horizon %d", d, horizon)
		}
		length += float64(d)
		if n := len(name.Value(i)); n > 19 || strings.TrimSpace(name.Value(i)) != name.Value(i) {
			t.Fatalf("item_name %q", name.Value(i))
		}
		if len(desc.Value(i)) > 99 {
			t.Fatalf("description %q", desc.Value(i))
		}
		size += 8 + len(name.Value(i)) + len(desc.Value(i)) + 5*8 + len(extra.Value(i))
	}
	checkMean(t, "hot seller share", float64(hot)/float64(id.Len()), 0.75, 0.01)
	checkMean(t, "auction length / horizon", length/float64(id.Len())/float64(horizon), 1, 0.01)
	checkMean(t, "auction byte size", float64(size)/float64(id.Len()), DefaultAvgAuctionByteSize, 3)
}

func TestBids(t *testing.T) {
	const events = 200_000
	g := NewGenerator(Config{Seed: 5, Events: events}, Bid, 0, 1)
	rec, _, _ := g.Next(0, events)
	checkBatch(t, g, rec)
	auction := rec.Column(0).(*array.Int64)
	bidder := rec.Column(1).(*array.Int64)
	price := rec.Column(2).(*array.Int64)
	channel := rec.Column(3).(*array.String)
	url := rec.Column(4).(*array.String)
	ts := rec.Column(5).(*array.Timestamp)
	extra := rec.Column(6).(*array.String)
	hotA, hotB, future, hotCh := 0, 0, 0, 0
	size, logPrice := 0, 0.0
	urlOf := map[string]string{}
	for i := range auction.Len() {
		e := eventOf(ts.Value(i))
		if KindOf(e) != Bid {
			t.Fatalf("row %d: event %d is not a bid", i, e)
		}
		lastA := lastBase0AuctionID(e)
		a := auction.Value(i) - FirstAuctionID
		if a == lastA/hotAuctionBatch*hotAuctionBatch {
			hotA++
		} else if a < max(lastA-DefaultNumInFlightAuctions, 0) || a > lastA+auctionIDLead {
			t.Fatalf("event %d: auction %d outside in-flight auctions (last %d)", e, a, lastA)
		}
		if a > lastA {
			future++
		}
		lastP := lastBase0PersonID(e)
		b := bidder.Value(i) - FirstPersonID
		if b == lastP/hotBidderBatch*hotBidderBatch+1 {
			hotB++
		} else if b < max(lastP+1-DefaultNumActivePeople, 0) || b > lastP+personIDLead {
			t.Fatalf("event %d: bidder %d outside active people (last %d)", e, b, lastP)
		}
		p := price.Value(i)
		if p < 100 || p > 100_000_000 {
			t.Fatalf("price %d", p)
		}
		logPrice += math.Log10(float64(p) / 100)
		ch, u := channel.Value(i), url.Value(i)
		if slices.Contains(hotChannels[:], ch) {
			hotCh++
		} else if n, err := strconv.Atoi(strings.TrimPrefix(ch, "channel-")); err != nil || n < 0 || n >= numChannels {
			t.Fatalf("channel %q", ch)
		}
		if prev, ok := urlOf[ch]; ok && prev != u {
			t.Fatalf("channel %q has urls %q and %q", ch, prev, u)
		}
		urlOf[ch] = u
		if !strings.HasPrefix(u, "https://www.nexmark.com/") || !strings.Contains(u, "item.htm?query=1") {
			t.Fatalf("url %q", u)
		}
		size += 32 + len(extra.Value(i))
	}
	n := float64(auction.Len())
	// P(hot) = 1 - 1/ratio, plus the uniform draw's small chance of hitting it.
	checkMean(t, "hot auction share", float64(hotA)/n, 0.5, 0.02)
	checkMean(t, "hot bidder share", float64(hotB)/n, 0.75, 0.01)
	checkMean(t, "hot channel share", float64(hotCh)/n, 0.5, 0.01)
	checkMean(t, "mean log10(price/100)", logPrice/n, 3, 0.02)
	checkMean(t, "bid byte size", float64(size)/n, DefaultAvgBidByteSize, 1)
	if future == 0 || float64(future)/n > 0.05 {
		t.Errorf("%d of %v bids reference not-yet-created auctions", future, n)
	}
	if len(urlOf) < 5000 {
		t.Errorf("only %d distinct channels", len(urlOf))
	}
}

func TestHotAuctionSkew(t *testing.T) {
	// The first 1500 events create auctions 0…89, all in the first batch of
	// 100, so the hot auction is 1000 throughout.
	g := NewGenerator(Config{Seed: 11, Events: 1500}, Bid, 0, 1)
	rec, _, _ := g.Next(0, 1500)
	counts := map[int64]int{}
	for _, a := range rec.Column(0).(*array.Int64).Int64Values() {
		counts[a]++
	}
	top, topN := int64(0), 0
	for a, n := range counts {
		if n > topN {
			top, topN = a, n
		}
	}
	share := float64(topN) / float64(rec.NumRows())
	if top != FirstAuctionID || share < 0.45 {
		t.Errorf("top auction %d has %.2f of %d bids; want auction 1000 with ≥ 0.45", top, share, rec.NumRows())
	}
	// The second most bid-on auction gets a small share.
	delete(counts, top)
	second := 0
	for _, n := range counts {
		second = max(second, n)
	}
	if float64(second)/float64(rec.NumRows()) > 0.05 {
		t.Errorf("second auction has %d of %d bids", second, rec.NumRows())
	}
}

func TestConfig(t *testing.T) {
	c := Config{}.WithDefaults()
	want := Config{
		Rate: 100_000, BaseTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		HotAuctionRatio: 2, HotSellersRatio: 4, HotBiddersRatio: 4,
		NumActivePeople: 1000, NumInFlightAuctions: 100,
		AvgPersonByteSize: 200, AvgAuctionByteSize: 500, AvgBidByteSize: 100,
	}
	if c != want {
		t.Errorf("defaults %+v", c)
	}
	// Knobs take effect: ratio 1 disables hot auctions; tiny avg sizes give
	// empty extras.
	g := NewGenerator(Config{HotAuctionRatio: 1, AvgBidByteSize: 10, NumInFlightAuctions: 5}, Bid, 0, 1)
	rec, _, _ := g.Next(50_000, 10_000)
	ts := rec.Column(5).(*array.Timestamp)
	for i, a := range rec.Column(0).(*array.Int64).Int64Values() {
		lastA := lastBase0AuctionID(eventOf(ts.Value(i)))
		if a-FirstAuctionID < lastA-5 || a-FirstAuctionID > lastA+auctionIDLead {
			t.Fatalf("auction %d, last %d", a, lastA)
		}
		if rec.Column(6).(*array.String).Value(i) != "" {
			t.Fatal("extra not empty")
		}
	}
	for _, bad := range [][2]int{{0, 0}, {-1, 2}, {2, 2}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewGenerator partition %d of %d did not panic", bad[0], bad[1])
				}
			}()
			NewGenerator(Config{}, Bid, bad[0], bad[1])
		}()
	}
}

func checkMean(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %v ± %v", what, got, want, tol)
	}
}

func BenchmarkNext(b *testing.B) {
	// Batches of about 4096 rows of the kind.
	for _, k := range []Kind{Bid, Person, Auction} {
		share := map[Kind]int{Person: PersonProportion, Auction: AuctionProportion, Bid: BidProportion}[k]
		positions := 4096 * ProportionDenominator / share
		b.Run(fmt.Sprintf("kind=%v", k), func(b *testing.B) {
			g := NewGenerator(Config{Seed: 1}, k, 0, 1)
			b.ReportAllocs()
			var pos, rows int64
			for b.Loop() {
				rec, next, _ := g.Next(pos, positions)
				rows += rec.NumRows()
				pos = next
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/event")
		})
	}
}

func TestEventNumbersBruteForce(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		parts := 1 + rnd.IntN(120)
		p := rnd.IntN(parts)
		k := Kinds[rnd.IntN(3)]
		g := NewGenerator(Config{}, k, p, parts)
		pos := rnd.Int64N(10_000)
		end := pos + rnd.Int64N(500)
		var want []int64
		for q := pos; q < end; q++ {
			if e := int64(p) + q*int64(parts); KindOf(e) == k {
				want = append(want, e)
			}
		}
		if got := g.events(pos, end); !slices.Equal(got, want) {
			t.Fatalf("%v partition %d of %d, [%d,%d): %v, want %v", k, p, parts, pos, end, got, want)
		}
	}
}

func TestNextPrice(t *testing.T) {
	r := rng{s: 99}
	diffs := 0
	for range 1_000_000 {
		s := r.s
		got := nextPrice(&r)
		r2 := rng{s: s}
		u := float64(r2.next()>>11) * 0x1p-53
		want := int64(math.Round(math.Pow(10, u*6) * 100))
		if d := got - want; d < -1 || d > 1 {
			t.Fatalf("nextPrice(u=%v) = %d, want %d", u, got, want)
		} else if d != 0 {
			diffs++
		}
	}
	if diffs > 100 {
		t.Errorf("%d of 1e6 prices differ from math.Pow rounding", diffs)
	}
}

func TestIntnUniform(t *testing.T) {
	// Chained bounded draws of mixed ranges stay uniform.
	var c7 [7]int
	var c1000 [10]int
	r := rng{s: 1}
	const n = 300_000
	for range n {
		c7[r.intn(7)]++
		c1000[r.intn(1000)/100]++
		if v := r.intn(2); v != 0 && v != 1 {
			t.Fatal(v)
		}
	}
	for i, c := range c7 {
		checkMean(t, fmt.Sprintf("P(intn(7) = %d)", i), float64(c)/n, 1.0/7, 0.005)
	}
	for i, c := range c1000 {
		checkMean(t, fmt.Sprintf("P(intn(1000) in bucket %d)", i), float64(c)/n, 0.1, 0.005)
	}
}

func TestLastIDs(t *testing.T) {
	persons, auctions := int64(0), int64(0)
	for e := range int64(5000) {
		switch KindOf(e) {
		case Person:
			persons++
		case Auction:
			auctions++
		case Bid:
			// The shortcut the bid generator takes.
			epoch := e / ProportionDenominator
			if lastBase0AuctionID(e) != epoch*AuctionProportion+AuctionProportion-1 || lastBase0PersonID(e) != epoch {
				t.Fatalf("bid %d: shortcut ids differ", e)
			}
		}
		if lastBase0PersonID(e) != persons-1 || lastBase0AuctionID(e) != auctions-1 {
			t.Fatalf("event %d: last ids %d %d, want %d %d", e, lastBase0PersonID(e), lastBase0AuctionID(e), persons-1, auctions-1)
		}
	}
}

func TestExtraSizes(t *testing.T) {
	// Large paddings (beyond the letter table), tiny ones, and the default.
	for _, avg := range [][3]int{{10_000, 100_000, 33}, {49, 49, 40}, {0, 0, 0}} {
		cfg := Config{AvgPersonByteSize: avg[0], AvgAuctionByteSize: avg[1], AvgBidByteSize: avg[2]}
		c := cfg.WithDefaults()
		for _, k := range Kinds {
			g := NewGenerator(cfg, k, 0, 1)
			rec, _, _ := g.Next(0, 20_000)
			checkBatch(t, g, rec)
			extra := rec.Column(int(rec.NumCols()) - 1).(*array.String)
			total := 0
			for i := range extra.Len() {
				v := extra.Value(i)
				total += len(v)
				if strings.Trim(v, "abcdefghijklmnopqrstuvwxyz") != "" {
					t.Fatalf("extra %q", v)
				}
				// Nexmark's accounting for this row.
				size := len(v)
				for c := range rec.NumCols() - 1 {
					switch col := rec.Column(int(c)).(type) {
					case *array.String:
						if n := rec.ColumnName(int(c)); n != "channel" && n != "url" {
							size += len(col.Value(i))
						}
					default:
						size += 8
					}
				}
				want := []int{c.AvgPersonByteSize, c.AvgAuctionByteSize, c.AvgBidByteSize}[k]
				if len(v) > 0 && (size < want*8/10-1 || size > want*12/10+1) {
					t.Fatalf("%v avg %d: row size %d", k, want, size)
				}
			}
			if extra.Len() == 0 {
				t.Fatalf("%v: no rows", k)
			}
		}
	}
}
