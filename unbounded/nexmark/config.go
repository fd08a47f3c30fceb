package nexmark

import (
	"time"
)

// Nexmark constants, as in GeneratorConfig, PersonGenerator, AuctionGenerator
// and BidGenerator of the Java generators.
const (
	// FirstPersonID is the id of the first person.
	FirstPersonID = 1000
	// FirstAuctionID is the id of the first auction.
	FirstAuctionID = 1000
	// FirstCategoryID is the id of the first of the NumCategories categories.
	FirstCategoryID = 10
	// NumCategories is the number of auction categories.
	NumCategories = 5

	// PersonProportion, AuctionProportion and BidProportion are the shares of
	// each kind in every run of ProportionDenominator consecutive event numbers.
	PersonProportion      = 1
	AuctionProportion     = 3
	BidProportion         = 46
	ProportionDenominator = PersonProportion + AuctionProportion + BidProportion

	// personIDLead and auctionIDLead are the numbers of yet-to-be-created
	// people and auctions a random reference may point to.
	personIDLead  = 10
	auctionIDLead = 10

	// hotAuctionBatch, hotBidderBatch and hotSellerBatch are the Java
	// HOT_AUCTION_RATIO, HOT_BIDDER_RATIO and HOT_SELLER_RATIO: the hot
	// auction / bidder / seller is the first (bidder: second) id of the
	// current batch of this many ids.
	hotAuctionBatch = 100
	hotBidderBatch  = 100
	hotSellerBatch  = 100

	// hotChannelsRatio and numChannels are nexmark-flink's
	// HOT_CHANNELS_RATIO and CHANNELS_NUMBER.
	hotChannelsRatio = 2
	numChannels      = 10_000

	// minStringLength is the shortest random string before trimming.
	minStringLength = 3
)

// Defaults of Config.
const (
	DefaultRate                = 100_000
	DefaultHotAuctionRatio     = 2
	DefaultHotSellersRatio     = 4
	DefaultHotBiddersRatio     = 4
	DefaultNumActivePeople     = 1000
	DefaultNumInFlightAuctions = 100
	DefaultAvgPersonByteSize   = 200
	DefaultAvgAuctionByteSize  = 500
	DefaultAvgBidByteSize      = 100
)

// DefaultBaseTime is the event time of event 0 unless configured.
var DefaultBaseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxBatchEvents caps the maxEvents argument of [Generator.Next], so that the
// string columns of one batch stay well below the 2 GiB limit of int32 offsets.
const MaxBatchEvents = 1 << 20

// Config parameterises the generator. Zero fields take the documented
// defaults (see [Config.WithDefaults]); Seed 0 is a valid seed.
type Config struct {
	// Seed selects the event stream. Same seed, same events.
	Seed uint64
	// Rate is the number of events (of all kinds) per second of event time,
	// at most 10^12. Default 100_000, i.e. one event every 10 µs. Event
	// number e has event time BaseTime + floor(e·10^6/Rate) µs.
	Rate int64
	// BaseTime is the event time of event number 0 (truncated to µs).
	// Default 2026-01-01T00:00:00Z.
	BaseTime time.Time
	// Events is the total number of events over all kinds and partitions;
	// event numbers are 0 … Events-1. 0 means unbounded.
	Events int64

	// HotAuctionRatio: a bid is for the hot auction with probability
	// 1 - 1/HotAuctionRatio. Default 2.
	HotAuctionRatio int
	// HotSellersRatio: an auction is by the hot seller with probability
	// 1 - 1/HotSellersRatio. Default 4.
	HotSellersRatio int
	// HotBiddersRatio: a bid is by the hot bidder with probability
	// 1 - 1/HotBiddersRatio. Default 4.
	HotBiddersRatio int
	// NumActivePeople is how many of the most recent people non-hot sellers
	// and bidders are drawn from. Default 1000.
	NumActivePeople int
	// NumInFlightAuctions is how many of the most recent auctions non-hot
	// bids are drawn from; it also sets the mean auction length. Default 100.
	NumInFlightAuctions int
	// AvgPersonByteSize, AvgAuctionByteSize and AvgBidByteSize are the mean
	// sizes the extra column pads each event to (Nexmark's size accounting:
	// 8 bytes per number plus string lengths). Defaults 200, 500, 100.
	AvgPersonByteSize  int
	AvgAuctionByteSize int
	AvgBidByteSize     int
}

// WithDefaults returns c with every zero (or negative) knob replaced by its
// default. Events < 0 is treated as 0 (unbounded).
func (c Config) WithDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.BaseTime.IsZero() {
		c.BaseTime = DefaultBaseTime
	}
	if c.Events < 0 {
		c.Events = 0
	}
	def(&c.HotAuctionRatio, DefaultHotAuctionRatio)
	def(&c.HotSellersRatio, DefaultHotSellersRatio)
	def(&c.HotBiddersRatio, DefaultHotBiddersRatio)
	def(&c.NumActivePeople, DefaultNumActivePeople)
	def(&c.NumInFlightAuctions, DefaultNumInFlightAuctions)
	def(&c.AvgPersonByteSize, DefaultAvgPersonByteSize)
	def(&c.AvgAuctionByteSize, DefaultAvgAuctionByteSize)
	def(&c.AvgBidByteSize, DefaultAvgBidByteSize)
	return c
}

// timing maps event numbers to event times in µs since the Unix epoch.
type timing struct {
	base  int64 // µs of event 0
	rate  int64 // events per second
	delay int64 // µs between events when 1e6 % rate == 0, else 0
}

func newTiming(c Config) timing {
	t := timing{base: c.BaseTime.UnixMicro(), rate: c.Rate}
	if 1_000_000%c.Rate == 0 {
		t.delay = 1_000_000 / c.Rate
	}
	return t
}

// at returns base + e·1e6/rate (floor), without overflow for any e ≥ 0.
func (t timing) at(e int64) int64 {
	if t.delay > 0 {
		return t.base + e*t.delay
	}
	return t.base + (e/t.rate)*1_000_000 + (e%t.rate)*1_000_000/t.rate
}

// EventTime returns the event time, in µs since the Unix epoch, of event
// number e under c (defaults applied).
func (c Config) EventTime(e int64) int64 {
	return newTiming(c.WithDefaults()).at(e)
}
