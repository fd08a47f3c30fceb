package watermark

import "time"

// Strategy is how a source derives watermarks and lateness from its splits.
type Strategy struct {
	// Delay is the bounded out-of-orderness: a record may be up to Delay
	// behind the largest event time seen before it in its split. 0 means the
	// split is expected to be in order (monotonic watermarks).
	Delay time.Duration
	// MaxSkew, when positive, sends a record more than MaxSkew ahead of the
	// largest event time seen before it in its split to the late output, so a
	// single bad timestamp cannot advance the watermark past everything.
	MaxSkew time.Duration
	// IdleTimeout, when positive and in live mode, leaves a split out of the
	// watermark minimum after it delivered nothing for this long (wall clock).
	// Backfills never use it: a bounded split is delivering or finished.
	IdleTimeout time.Duration
}

// Verdict says what a source does with one record.
type Verdict uint8

const (
	OnTime Verdict = iota
	// Late: ts < max_before − delay in its split.
	Late
	// Future: ts > max_before + max skew in its split.
	Future
	// NullTime: the record has no event time.
	NullTime
)

func (v Verdict) String() string {
	switch v {
	case OnTime:
		return "on_time"
	case Late:
		return "late"
	case Future:
		return "future"
	case NullTime:
		return "null_time"
	}
	return "unknown"
}

// Split generates the watermark of one split and decides the lateness of its
// records. Its state is the largest on-time event time seen, so it is a pure
// function of the split's record sequence and can be saved with the split's
// position (State, Restore).
type Split struct {
	delay int64
	skew  int64
	max   Time // largest on-time event time seen; MinTime before the first
}

// NewSplit returns the generator for one split under strategy s.
func NewSplit(s Strategy) *Split {
	return &Split{delay: Micros(s.Delay), skew: Micros(s.MaxSkew), max: MinTime}
}

// Observe classifies the records with event times ts (in arrival order) and
// advances the split's maximum. valid, if not nil, reports for each row
// whether its event time is not null. verdicts, if not nil, must have len(ts)
// and receives each record's verdict. It returns the number of records that
// are not on time. Only on-time records advance the maximum: a late record
// never moves it, and a future record is refused precisely so it cannot.
func (s *Split) Observe(ts []int64, valid func(i int) bool, verdicts []Verdict) (notOnTime int) {
	max := int64(s.max)
	seen := s.max != MinTime
	for i, t := range ts {
		v := OnTime
		switch {
		case valid != nil && !valid(i):
			v = NullTime
		case !seen:
			max, seen = t, true
		case t < max-s.delay:
			v = Late
		case s.skew > 0 && t > max+s.skew:
			v = Future
		case t > max:
			max = t
		}
		if v != OnTime {
			notOnTime++
		}
		if verdicts != nil {
			verdicts[i] = v
		}
	}
	if seen {
		s.max = Time(max)
	}
	return notOnTime
}

// Max returns the largest on-time event time seen, or MinTime.
func (s *Split) Max() Time { return s.max }

// Watermark returns max_seen − delay, or MinTime before the first record.
func (s *Split) Watermark() Time {
	if s.max == MinTime {
		return MinTime
	}
	return s.max.Sub(s.delay)
}

// State returns what must be saved with the split's position to resume it.
func (s *Split) State() Time { return s.max }

// Restore resumes the generator from a saved State.
func (s *Split) Restore(max Time) { s.max = max }
