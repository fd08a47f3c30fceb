package nexmark

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// Generator generates one kind of event for the event numbers of one
// partition. Partition p of n owns event numbers p, p+n, p+2n, …
// (interleaved, so all partitions' event times advance together); the
// partition's position pos stands for event number p + pos·n, whatever its
// kind.
//
// Every event is a pure function of (Config, event number), so a Generator
// holds no cursor: the caller keeps the position. A Generator is immutable
// and safe for concurrent use.
type Generator struct {
	cfg        Config
	kind       Kind
	partition  int64
	partitions int64
	total      int64 // positions in this partition, -1 if unbounded
	period     int64 // kinds repeat every period positions
	match      []int64
	sm         uint64 // mixed seed
	t          timing
	tab        *tableSet

	hotAuctionRatio, hotSellersRatio, hotBiddersRatio int64
	numActivePeople, numInFlightAuctions              int64
	eventsForAuctions                                 int64 // events until NumInFlightAuctions more auctions exist
}

// NewGenerator returns the generator of kind's events in partition
// partition of partitions (0 ≤ partition < partitions). Defaults are applied
// to cfg.
func NewGenerator(cfg Config, kind Kind, partition, partitions int) *Generator {
	if partitions < 1 || partition < 0 || partition >= partitions {
		panic(fmt.Sprintf("nexmark: partition %d of %d", partition, partitions))
	}
	if kind < Person || kind > Bid {
		panic(fmt.Sprintf("nexmark: invalid kind %d", int(kind)))
	}
	cfg = cfg.WithDefaults()
	g := &Generator{
		cfg:                 cfg,
		kind:                kind,
		partition:           int64(partition),
		partitions:          int64(partitions),
		total:               -1,
		sm:                  mix64(cfg.Seed ^ 0x5ca1ab1e0ddba11),
		t:                   newTiming(cfg),
		tab:                 tables(),
		hotAuctionRatio:     int64(cfg.HotAuctionRatio),
		hotSellersRatio:     int64(cfg.HotSellersRatio),
		hotBiddersRatio:     int64(cfg.HotBiddersRatio),
		numActivePeople:     int64(cfg.NumActivePeople),
		numInFlightAuctions: int64(cfg.NumInFlightAuctions),
		eventsForAuctions:   int64(cfg.NumInFlightAuctions) * ProportionDenominator / AuctionProportion,
	}
	if cfg.Events > 0 {
		g.total = 0
		if cfg.Events > g.partition {
			g.total = (cfg.Events - g.partition + g.partitions - 1) / g.partitions
		}
	}
	g.period = ProportionDenominator / gcd(g.partitions, ProportionDenominator)
	for r := range g.period {
		if KindOf(g.partition+r*g.partitions) == kind {
			g.match = append(g.match, r)
		}
	}
	return g
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Kind returns the kind of events g generates.
func (g *Generator) Kind() Kind { return g.kind }

// Schema returns the schema of g's batches.
func (g *Generator) Schema() *arrow.Schema { return Schema(g.kind) }

// Config returns g's configuration, with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// Positions returns the number of positions (events of all kinds) of g's
// partition, or -1 if Config.Events is 0 (unbounded).
func (g *Generator) Positions() int64 { return g.total }

// EventNumber returns the event number of the partition's position pos.
func (g *Generator) EventNumber(pos int64) int64 { return g.partition + pos*g.partitions }

// EventTime returns the event time (µs since the Unix epoch) of the
// partition's event at position pos. Event times never decrease with pos, so
// EventTime(next) bounds from below every later event of the partition.
func (g *Generator) EventTime(pos int64) int64 { return g.t.at(g.EventNumber(pos)) }

// Next generates the events of g's kind among the partition's positions
// [pos, pos+maxEvents), clipped to the partition's end if Config.Events is
// set and to at most [MaxBatchEvents] positions. It returns them as one
// record batch (possibly with 0 rows) in position order, the next position,
// and whether the partition is exhausted (next is its end). The result
// depends only on the Config, kind, partitioning and the position range, so
// any chunking of a range concatenates to the same rows.
//
// The batch's buffers are Go memory owned by the batch; Release is optional.
func (g *Generator) Next(pos int64, maxEvents int) (rec arrow.RecordBatch, next int64, done bool) {
	if pos < 0 {
		panic(fmt.Sprintf("nexmark: negative position %d", pos))
	}
	end := pos + int64(min(max(maxEvents, 0), MaxBatchEvents))
	if g.total >= 0 && end >= g.total {
		end = max(g.total, pos)
		done = true
	}
	evs := g.events(pos, end)
	switch g.kind {
	case Person:
		rec = g.persons(evs)
	case Auction:
		rec = g.auctions(evs)
	default:
		rec = g.bids(evs)
	}
	return rec, end, done
}

// below returns the number of positions of g's kind in [0, q).
func (g *Generator) below(q int64) int64 {
	c := q / g.period * int64(len(g.match))
	rem := q % g.period
	for _, r := range g.match {
		if r >= rem {
			break
		}
		c++
	}
	return c
}

// events returns a new slice holding the event numbers of g's kind at
// positions [pos, end). The fill functions overwrite it in place with the
// event times, so it becomes the date_time column.
func (g *Generator) events(pos, end int64) []int64 {
	if end <= pos {
		return nil
	}
	evs := make([]int64, g.below(end)-g.below(pos))
	i := 0
	for base := pos - pos%g.period; base < end; base += g.period {
		for _, r := range g.match {
			q := base + r
			if q < pos {
				continue
			}
			if q >= end {
				break
			}
			evs[i] = g.partition + q*g.partitions
			i++
		}
	}
	return evs
}

// extraSize is the size StringsGenerator.nextExtra pads an event of size cur
// to, for a mean total size avg: uniform in [d-δ, d+δ) with d = avg-cur and
// δ = round(d/5).
func extraSize(r *rng, cur, avg int64) int64 {
	if cur > avg {
		return 0
	}
	d := avg - cur
	delta := (2*d + 5) / 10 // Math.round(d * 0.2)
	if delta == 0 {
		return d
	}
	return d - delta + r.intn(2*delta)
}

// maxExtra bounds extraSize for mean avg and current sizes ≥ minCur.
func maxExtra(avg, minCur int) int {
	if minCur > avg {
		return 0
	}
	d := avg - minCur
	delta := (2*d + 5) / 10
	return d + max(delta-1, 0)
}

// addPad appends size random letters to c as one value: a slice of the
// letters table at a random offset.
func (c *strCol) addPad(r *rng, letters []byte, size int64) {
	n := int64(len(letters))
	if size <= n {
		off := r.intn(n - size + 1)
		c.add(letters[off : off+size])
		return
	}
	for size > 0 {
		k := min(size, n)
		c.put(letters[:k])
		size -= k
	}
	c.end()
}

// randText is StringsGenerator.nextString(maxLength): a string of 3 to
// maxLength-1 lowercase letters and spaces (1 in 13), trimmed; here a slice
// of the random text table at a random offset.
func randText(r *rng, text []byte, maxLength int64) []byte {
	l := minStringLength + r.intn(maxLength-minStringLength)
	off := r.intn(int64(len(text)) - l + 1)
	s := text[off : off+l]
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

// Nexmark's size accounting (8 bytes per number and timestamp, string
// lengths); the min sizes use the shortest possible strings.
const (
	minPersonSize  = 8 + 4 + 1 + 5 + (0 + 1 + 0 + 4) + creditCardLen + 4 + 2 // id, name, email, card, city, state
	minAuctionSize = 8 + 5*8                                                 // id, item_name, description, 5 numbers
	bidSize        = 4 * 8
)

var dotCom = []byte(".com")

const (
	creditCardLen = 19            // "dddd dddd dddd dddd"
	maxEmailLen   = 6 + 1 + 4 + 4 // nextString(7) "@" nextString(5) ".com"
)

func (g *Generator) persons(ts []int64) arrow.RecordBatch {
	n := len(ts)
	tab := g.tab
	id := make([]int64, n)
	name := newStrCol(n, tab.names.maxLen)
	email := newStrCol(n, maxEmailLen)
	card := newStrCol(n, creditCardLen)
	city := newStrCol(n, tab.cities.maxLen)
	state := newStrCol(n, tab.states.maxLen)
	extra := newStrCol(n, maxExtra(g.cfg.AvgPersonByteSize, minPersonSize))
	avg := int64(g.cfg.AvgPersonByteSize)
	for i, e := range ts {
		r := eventRNG(g.sm, e)
		id[i] = lastBase0PersonID(e) + FirstPersonID
		ts[i] = g.t.at(e)
		nm := tab.names.get(r.intn(tab.names.len()))
		name.add(nm)
		email.put(randText(&r, tab.text, 7))
		email.putByte('@')
		email.put(randText(&r, tab.text, 5))
		email.put(dotCom)
		el := email.end()
		for k := range 4 {
			if k > 0 {
				card.putByte(' ')
			}
			v := r.intn(10000)
			card.putByte(byte('0' + v/1000))
			card.putByte(byte('0' + v/100%10))
			card.putByte(byte('0' + v/10%10))
			card.putByte(byte('0' + v%10))
		}
		card.end()
		c := tab.cities.get(r.intn(tab.cities.len()))
		city.add(c)
		s := tab.states.get(r.intn(tab.states.len()))
		state.add(s)
		cur := int64(8 + len(nm) + el + creditCardLen + len(c) + len(s))
		extra.addPad(&r, tab.letters, extraSize(&r, cur, avg))
	}
	return record(personSchema, n,
		fixedArray(i64, id), name.array(), email.array(), card.array(),
		city.array(), state.array(), fixedArray(TimestampType, ts), extra.array())
}

func (g *Generator) auctions(ts []int64) arrow.RecordBatch {
	n := len(ts)
	tab := g.tab
	id := make([]int64, n)
	initialBid := make([]int64, n)
	reserve := make([]int64, n)
	expires := make([]int64, n)
	seller := make([]int64, n)
	category := make([]int64, n)
	itemName := newStrCol(n, 20-1)
	desc := newStrCol(n, 100-1)
	extra := newStrCol(n, maxExtra(g.cfg.AvgAuctionByteSize, minAuctionSize))
	avg := int64(g.cfg.AvgAuctionByteSize)
	for i, e := range ts {
		r := eventRNG(g.sm, e)
		t := g.t.at(e)
		ts[i] = t
		id[i] = lastBase0AuctionID(e) + FirstAuctionID
		var s int64
		if r.intn(g.hotSellersRatio) > 0 {
			s = lastBase0PersonID(e) / hotSellerBatch * hotSellerBatch
		} else {
			s = nextBase0PersonID(lastBase0PersonID(e), &r, g.numActivePeople)
		}
		seller[i] = s + FirstPersonID
		category[i] = FirstCategoryID + r.intn(NumCategories)
		ib := nextPrice(&r)
		initialBid[i] = ib
		// AuctionGenerator.nextAuctionLengthMs, in µs: mean length is the
		// time until NumInFlightAuctions more auctions have been created.
		horizon := g.t.at(e+g.eventsForAuctions) - t
		expires[i] = t + 1 + r.intn(max(2*horizon, 1))
		nm := randText(&r, tab.text, 20)
		itemName.add(nm)
		d := randText(&r, tab.text, 100)
		desc.add(d)
		reserve[i] = ib + nextPrice(&r)
		cur := int64(minAuctionSize + len(nm) + len(d))
		extra.addPad(&r, tab.letters, extraSize(&r, cur, avg))
	}
	return record(auctionSchema, n,
		fixedArray(i64, id), itemName.array(), desc.array(),
		fixedArray(i64, initialBid), fixedArray(i64, reserve),
		fixedArray(TimestampType, ts), fixedArray(TimestampType, expires),
		fixedArray(i64, seller), fixedArray(i64, category), extra.array())
}

func (g *Generator) bids(ts []int64) arrow.RecordBatch {
	n := len(ts)
	tab := g.tab
	auction := make([]int64, n)
	bidder := make([]int64, n)
	price := make([]int64, n)
	channel := newStrCol(n, tab.channels.maxLen)
	url := newStrCol(n, tab.urls.maxLen)
	// A bid's own size is fixed, so the extra's size range is exact.
	const cur = bidSize
	extra := newStrCol(n, maxExtra(g.cfg.AvgBidByteSize, cur))
	avg := int64(g.cfg.AvgBidByteSize)
	for i, e := range ts {
		r := eventRNG(g.sm, e)
		ts[i] = g.t.at(e)
		// lastBase0AuctionID and lastBase0PersonID for a bid event.
		epoch := e / ProportionDenominator
		lastA := epoch*AuctionProportion + AuctionProportion - 1
		lastP := epoch*PersonProportion + PersonProportion - 1
		var a int64
		if r.intn(g.hotAuctionRatio) > 0 {
			a = lastA / hotAuctionBatch * hotAuctionBatch
		} else {
			a = nextBase0AuctionID(lastA, &r, g.numInFlightAuctions)
		}
		auction[i] = a + FirstAuctionID
		var b int64
		if r.intn(g.hotBiddersRatio) > 0 {
			// The second person of the batch, so hot bidders and hot
			// sellers differ.
			b = lastP/hotBidderBatch*hotBidderBatch + 1
		} else {
			b = nextBase0PersonID(lastP, &r, g.numActivePeople)
		}
		bidder[i] = b + FirstPersonID
		price[i] = nextPrice(&r)
		var ch int64
		if r.intn(hotChannelsRatio) > 0 {
			ch = r.intn(int64(len(hotChannels)))
		} else {
			ch = int64(len(hotChannels)) + r.intn(numChannels)
		}
		channel.add(tab.channels.get(ch))
		url.add(tab.urls.get(ch))
		extra.addPad(&r, tab.letters, extraSize(&r, cur, avg))
	}
	return record(bidSchema, n,
		fixedArray(i64, auction), fixedArray(i64, bidder), fixedArray(i64, price),
		channel.array(), url.array(), fixedArray(TimestampType, ts), extra.array())
}
