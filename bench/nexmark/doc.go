// Package nexmark runs the Nexmark benchmark queries on weir's dataflow
// engine, built with the Go API, and measures them the way the Nexmark
// harness does: events generated per second of wall time, and per second of
// process CPU time (generator included).
//
// The queries follow the Flink SQL versions of the nexmark-flink suite:
//
//	q0  pass-through:      SELECT auction, bidder, price, date_time, extra FROM bid
//	q1  currency:          SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid
//	q2  selection:         SELECT auction, price FROM bid WHERE auction % 123 = 0
//	q5  hot items:         auctions with the most bids per HOP(2 s, 10 s) window
//	q7  highest bid:       bids equal to the max price of their TUMBLE(10 s) window
//	q8  new users:         persons who created auctions in the same TUMBLE(10 s) window
//	q11 user sessions:     bids per bidder per SESSION(10 s)
package nexmark
