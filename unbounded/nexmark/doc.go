// Package nexmark generates the Nexmark benchmark's event streams (people,
// auctions and bids) as Arrow record batches, deterministically from a seed.
//
// It follows the generator of Apache Beam's Nexmark suite
// (org.apache.beam.sdk.nexmark.sources.generator: GeneratorConfig,
// PersonGenerator, AuctionGenerator, BidGenerator, PriceGenerator,
// StringsGenerator) and nexmark-flink's NexmarkGenerator, which adds the
// bid's channel and url. Batches are built column by column: typed Go slices
// and one value buffer plus int32 offsets per string column, wrapped as Arrow
// arrays without a copy. A bid costs about 60 ns on one core.
//
// # Schemas
//
// All timestamps are timestamp[us, UTC]; no column has nulls.
//
//	person:  id int64, name string, email_address string, credit_card string,
//	         city string, state string, date_time timestamp, extra string
//	auction: id int64, item_name string, description string, initial_bid int64,
//	         reserve int64, date_time timestamp, expires timestamp, seller int64,
//	         category int64, extra string
//	bid:     auction int64, bidder int64, price int64, channel string,
//	         url string, date_time timestamp, extra string
//
// # Event numbers, kinds and times
//
// The stream is a sequence of event numbers 0, 1, 2, … (up to Config.Events,
// or unbounded). Event number e is a person if e mod 50 = 0, an auction if
// e mod 50 ∈ {1, 2, 3} and a bid otherwise ([KindOf]): proportions 1:3:46.
// Its event time is BaseTime + e·1s/Rate, computed exactly as
// floor(e·10⁶/Rate) µs so that there is no drift; with the default Rate of
// 100 000 events/s consecutive events are 10 µs apart.
//
// Person ids are FirstPersonID (1000) + the number of persons before; auction
// ids likewise from FirstAuctionID (1000). References follow Nexmark:
//
//   - a bid is for the hot auction (the first of the current batch of 100
//     auctions) with probability 1 - 1/HotAuctionRatio, otherwise for one of
//     the NumInFlightAuctions most recent auctions or the 10 about to be
//     created;
//   - a bid's bidder is the hot bidder (the second of the current batch of
//     100 people) with probability 1 - 1/HotBiddersRatio, otherwise one of
//     the NumActivePeople most recent people or the 10 about to be created;
//   - an auction's seller is the hot seller (the first of the current batch of
//     100 people) with probability 1 - 1/HotSellersRatio, otherwise drawn like
//     a non-hot bidder;
//   - categories are 10 … 14; prices are round(100·10^(6u)) for uniform u
//     (log-uniform in [100, 10⁸]); reserve = initial_bid + another price;
//   - expires = date_time + 1 µs + uniform [0, 2h), where h is the event-time
//     span of the NumInFlightAuctions·50/3 events it takes to create
//     NumInFlightAuctions more auctions;
//   - a bid's channel is one of 4 hot channels (Google, Facebook, Baidu,
//     Apple) with probability 1/2, otherwise one of "channel-0" …
//     "channel-9999"; its url is fixed per channel, as in nexmark-flink;
//   - extra pads each event to its configured mean size (Nexmark's
//     accounting: 8 bytes per number or timestamp plus string lengths),
//     uniform within ±20 % of the padding.
//
// # Partitions and positions
//
// A [Generator] produces one kind for one partition. Partition p of n owns
// event numbers p, p+n, p+2n, …: its position pos stands for event number
// p + pos·n, whatever that event's kind, so the positions of a person, an
// auction and a bid generator of the same partition advance in step, and all
// partitions' event times advance together. [Generator.EventTime] gives the
// event time of a position; event times never decrease along positions.
//
// Every event is a pure function of (Config, event number): each event seeds
// its own random generator from (Seed, event number). Hence a Generator keeps
// no cursor ([Generator.Next] takes the position and returns the next one),
// any chunking of a position range yields the same rows in the same order,
// a position is a complete resume point, and the union of all partitions'
// rows of a kind equals the rows of a single partition.
//
// Kinds are assigned by e mod 50, so when n shares a factor g with 50,
// partition p only sees residues ≡ p (mod g): with n = 10, all persons are in
// partition 0 and auctions in partitions 1–3. Bids are spread over all
// partitions for any n. Choose n coprime to 50 (e.g. 3, 7, 9, 11, 13, …) to
// give every partition exactly the 1:3:46 mix.
//
// # Differences from the Java generators
//
// The distributions follow the Java code, but the values are not bit-identical
// to it: the random generator differs (SplitMix64 per event, instead of one
// java.util.Random per generator, with bounded draws split out of 64-bit
// words), and
//
//   - random strings (item_name, description, email parts) are slices of a
//     random-text table (lowercase letters, 1 in 13 a space) at random
//     offsets, trimmed, instead of one draw per character; lengths follow
//     StringsGenerator.nextString (3 to max-1 characters before trimming);
//   - extra is a slice of a random-letter table instead of fresh letters;
//   - channel urls and the text tables are built once per process from a
//     fixed internal seed, so they are identical for every Config.Seed;
//   - event ids are the event numbers: there is no firstEventId offset, no
//     out-of-order event groups (outOfOrderGroupSize 1), and the rate is
//     constant (no sine or square rate shapes);
//   - times are µs, not ms, so an auction's length is 1 µs + uniform
//     [0, 2h) µs rather than 1 ms + uniform [0, 2h) ms;
//   - splitting interleaves event numbers over partitions on one timeline,
//     where Beam splits into contiguous id ranges on parallel timelines;
//   - some versions of nexmark-flink's BidGenerator add FIRST_PERSON_ID to
//     the bidder twice; here it is added once.
package nexmark
