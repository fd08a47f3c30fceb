package watermark

import (
	"math"
	"time"
)

// Time is an event time or a watermark: microseconds since the Unix epoch, UTC.
// MinTime means "nothing known yet" and MaxTime means "the input has ended".
type Time int64

const (
	MinTime Time = math.MinInt64
	MaxTime Time = math.MaxInt64
)

// FromTime converts a wall-clock time to a Time.
func FromTime(t time.Time) Time { return Time(t.UnixMicro()) }

// Micros converts a duration to microseconds of event time.
func Micros(d time.Duration) int64 { return d.Microseconds() }

// Std returns t as a time.Time in UTC.
func (t Time) Std() time.Time { return time.UnixMicro(int64(t)).UTC() }

// String formats t as RFC 3339 in UTC, or -inf / +inf.
func (t Time) String() string {
	switch t {
	case MinTime:
		return "-inf"
	case MaxTime:
		return "+inf"
	}
	return t.Std().Format(time.RFC3339Nano)
}

// Sub returns t − d, saturating at MinTime, so that MinTime stays MinTime.
func (t Time) Sub(d int64) Time {
	if t == MaxTime {
		return MaxTime
	}
	if int64(t) < int64(MinTime)+d {
		return MinTime
	}
	return t - Time(d)
}
