package nexmark

// Kind is the kind of a Nexmark event.
type Kind int

// The three kinds of Nexmark events.
const (
	Person Kind = iota
	Auction
	Bid
)

// Kinds lists every kind.
var Kinds = [...]Kind{Person, Auction, Bid}

func (k Kind) String() string {
	switch k {
	case Person:
		return "person"
	case Auction:
		return "auction"
	case Bid:
		return "bid"
	}
	return "Kind(?)"
}

// KindOf returns the kind of event number e (e ≥ 0): of every 50
// consecutive event numbers, offset 0 is a person, 1–3 are auctions and
// 4–49 are bids.
func KindOf(e int64) Kind {
	switch r := e % ProportionDenominator; {
	case r < PersonProportion:
		return Person
	case r < PersonProportion+AuctionProportion:
		return Auction
	}
	return Bid
}

// lastBase0PersonID is the id (without FirstPersonID) of the last person
// generated at or before event e; the person's own id if e is a person.
func lastBase0PersonID(e int64) int64 {
	epoch := e / ProportionDenominator
	off := e % ProportionDenominator
	if off >= PersonProportion {
		off = PersonProportion - 1
	}
	return epoch*PersonProportion + off
}

// lastBase0AuctionID is the id (without FirstAuctionID) of the last auction
// generated at or before event e; the auction's own id if e is an auction.
// It is -1 for event 0.
func lastBase0AuctionID(e int64) int64 {
	epoch := e / ProportionDenominator
	off := e % ProportionDenominator
	switch {
	case off < PersonProportion:
		epoch--
		off = AuctionProportion - 1
	case off >= PersonProportion+AuctionProportion:
		off = AuctionProportion - 1
	default:
		off -= PersonProportion
	}
	return epoch*AuctionProportion + off
}

// nextBase0PersonID draws one of the numActive most recent people, or one of
// the personIDLead people about to be created, given the last person id
// lastP = lastBase0PersonID(e) of the event.
func nextBase0PersonID(lastP int64, r *rng, numActive int64) int64 {
	numPeople := lastP + 1
	active := min(numPeople, numActive)
	return numPeople - active + r.intn(active+personIDLead)
}

// nextBase0AuctionID draws one of the numInFlight most recent auctions, or
// one of the auctionIDLead auctions about to be created, given the last
// auction id lastA = lastBase0AuctionID(e) of the event.
func nextBase0AuctionID(lastA int64, r *rng, numInFlight int64) int64 {
	minA := max(lastA-numInFlight, 0)
	return minA + r.intn(lastA-minA+1+auctionIDLead)
}
