package query

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Time arithmetic and functions, all in UTC:
//
//	timestamp ± interval → timestamp     date ± integer → date
//	timestamp − timestamp → interval     date − date → integer
//	date ± interval → timestamp          interval ± interval → interval
//	interval × number → interval         interval ÷ number → interval
//	−interval, abs(interval)
//
// date_trunc(unit, timestamp|interval), date_part/EXTRACT(field FROM
// timestamp|date|interval), date_bin(stride, ts, origin), to_timestamp(
// seconds), make_interval, make_date, make_timestamp. Units are Postgres'
// words ('microseconds' … 'millennium', 'week', abbreviations, plurals).
// Calendar units (month, year) are fine as units to truncate to or extract,
// but not as interval lengths.

func init() {
	ov := func(params []kind, ret kind, eval kernel) *overload {
		return &overload{params: params, ret: ret, eval: eval, canFail: always}
	}
	register("+",
		ov([]kind{kTimestamp, kInterval}, kTimestamp, addMicros(kTimestamp, 1)),
		ov([]kind{kInterval, kTimestamp}, kTimestamp, addMicros(kTimestamp, 1)),
		ov([]kind{kInterval, kInterval}, kInterval, addMicros(kInterval, 1)),
		ov([]kind{kDate, kInt32}, kDate, addDays(1)),
		ov([]kind{kInt32, kDate}, kDate, addDays(1)),
		ov([]kind{kDate, kInterval}, kTimestamp, dateAndInterval(1)),
		ov([]kind{kInterval, kDate}, kTimestamp, dateAndInterval(1)),
	)
	register("-",
		ov([]kind{kTimestamp, kInterval}, kTimestamp, addMicros(kTimestamp, -1)),
		ov([]kind{kTimestamp, kTimestamp}, kInterval, addMicros(kInterval, -1)),
		ov([]kind{kInterval, kInterval}, kInterval, addMicros(kInterval, -1)),
		ov([]kind{kDate, kInt32}, kDate, addDays(-1)),
		ov([]kind{kDate, kDate}, kInt32, dateDiff),
		ov([]kind{kDate, kInterval}, kTimestamp, dateAndInterval(-1)),
	)
	register("*",
		ov([]kind{kInterval, kFloat64}, kInterval, scaleInterval(false)),
		ov([]kind{kFloat64, kInterval}, kInterval, scaleInterval(false)),
	)
	register("/", ov([]kind{kInterval, kFloat64}, kInterval, scaleInterval(true)))
	register("unary -", ov([]kind{kInterval}, kInterval, negInterval))

	register("date_trunc",
		&overload{params: []kind{kText, kTimestamp}, ret: kTimestamp, canFail: nonConstantUnit, eval: dateTruncKernel(kTimestamp, ""), prep: prepUnit(kTimestamp, false)},
		&overload{params: []kind{kText, kInterval}, ret: kInterval, canFail: nonConstantUnit, eval: dateTruncKernel(kInterval, ""), prep: prepUnit(kInterval, false)},
	)
	register("date_part",
		&overload{params: []kind{kText, kTimestamp}, ret: kFloat64, canFail: nonConstantUnit, eval: extractKernel(kTimestamp, ""), prep: prepUnit(kTimestamp, true)},
		&overload{params: []kind{kText, kDate}, ret: kFloat64, canFail: nonConstantUnit, eval: extractKernel(kDate, ""), prep: prepUnit(kDate, true)},
		&overload{params: []kind{kText, kInterval}, ret: kFloat64, canFail: nonConstantUnit, eval: extractKernel(kInterval, ""), prep: prepUnit(kInterval, true)},
	)
	register("to_timestamp", ov([]kind{kFloat64}, kTimestamp, toTimestamp))
	register("date_bin", ov([]kind{kInterval, kTimestamp, kTimestamp}, kTimestamp, dateBin))
	register("make_date", ov([]kind{kInt32, kInt32, kInt32}, kDate, makeDate))
	register("make_timestamp", ov([]kind{kInt32, kInt32, kInt32, kInt32, kInt32, kFloat64}, kTimestamp, makeTimestamp))
	params := []kind{kInt32, kInt32, kInt32, kInt32, kInt32, kInt32, kFloat64}
	for n := 0; n <= len(params); n++ {
		register("make_interval", ov(params[:n], kInterval, makeInterval))
	}
	zero, _ := NewLiteral(typInt32, 0)
	zeroF, _ := NewLiteral(typFloat64, 0.0)
	paramNames["make_interval"] = []param{
		{"years", zero}, {"months", zero}, {"weeks", zero}, {"days", zero},
		{"hours", zero}, {"mins", zero}, {"secs", zeroF},
	}
}

// param is a named parameter with its default, for name => value calls.
type param struct {
	name string
	def  Expr
}

// paramNames are the parameters of functions that take named arguments.
var paramNames = map[string][]param{}

// addMicros adds (sign 1) or subtracts (-1) two int64-microsecond
// arguments, failing on overflow with the result kind's range error.
func addMicros(ret kind, sign int64) kernel {
	return func(k *kctx) (arrow.Array, error) {
		a, b := valuesOf[int64](k.args[0]), valuesOf[int64](k.args[1])
		m0, m1 := k.m(0), k.m(1)
		out := make([]int64, k.n)
		for i := range out {
			x, y := a[i&m0], b[i&m1]
			var r int64
			var bad bool
			if sign > 0 {
				r = x + y
				bad = (r^x)&(r^y) < 0
			} else {
				r = x - y
				bad = (x^y)&(r^x) < 0
			}
			if bad && k.isValid(i) {
				return nil, rangeError(ret)
			}
			out[i] = r
		}
		return fixedOut(ret.typ(), out, k.valid, k.nulls), nil
	}
}

// addDays is date ± integer (either order for +).
func addDays(sign int64) kernel {
	return func(k *kctx) (arrow.Array, error) {
		d, n := 0, 1
		if k.args[0].DataType().ID() != arrow.DATE32 {
			d, n = 1, 0
		}
		days, cnt := valuesOf[int32](k.args[d]), valuesOf[int32](k.args[n])
		md, mn := k.m(d), k.m(n)
		out := make([]int32, k.n)
		for i := range out {
			r := int64(days[i&md]) + sign*int64(cnt[i&mn])
			if (r < math.MinInt32 || r > math.MaxInt32) && k.isValid(i) {
				return nil, errDateOut
			}
			out[i] = int32(r)
		}
		return fixedOut(typDate, out, k.valid, k.nulls), nil
	}
}

func dateDiff(k *kctx) (arrow.Array, error) {
	a, b := valuesOf[int32](k.args[0]), valuesOf[int32](k.args[1])
	m0, m1 := k.m(0), k.m(1)
	out := make([]int32, k.n)
	for i := range out {
		r := int64(a[i&m0]) - int64(b[i&m1])
		if (r < math.MinInt32 || r > math.MaxInt32) && k.isValid(i) {
			return nil, errIntegerRange
		}
		out[i] = int32(r)
	}
	return fixedOut(typInt32, out, k.valid, k.nulls), nil
}

// dateAndInterval is date ± interval (either order for +): a timestamp.
func dateAndInterval(sign int64) kernel {
	return func(k *kctx) (arrow.Array, error) {
		d, v := 0, 1
		if k.args[0].DataType().ID() != arrow.DATE32 {
			d, v = 1, 0
		}
		days, us := valuesOf[int32](k.args[d]), valuesOf[int64](k.args[v])
		md, mv := k.m(d), k.m(v)
		out := make([]int64, k.n)
		for i := range out {
			x, y := int64(days[i&md])*usPerDay, sign*us[i&mv]
			r := x + y
			if (r^x)&(r^y) < 0 && k.isValid(i) {
				return nil, errTimestampOut
			}
			out[i] = r
		}
		return fixedOut(typTimestamp, out, k.valid, k.nulls), nil
	}
}

// scaleInterval is interval × number (either order) or interval ÷ number,
// rounded to the microsecond.
func scaleInterval(divide bool) kernel {
	return func(k *kctx) (arrow.Array, error) {
		v, f := 0, 1
		if k.args[0].DataType().ID() != arrow.DURATION {
			v, f = 1, 0
		}
		us, fs := valuesOf[int64](k.args[v]), valuesOf[float64](k.args[f])
		mv, mf := k.m(v), k.m(f)
		out := make([]int64, k.n)
		for i := range out {
			if !k.isValid(i) {
				continue
			}
			x, y := float64(us[i&mv]), fs[i&mf]
			var r float64
			if divide {
				if y == 0 {
					return nil, errDivByZero
				}
				r = x / y
			} else {
				r = x * y
			}
			r = math.Round(r)
			if !(r >= -9223372036854775808.0 && r < 9223372036854775808.0) {
				return nil, errIntervalOut
			}
			out[i] = int64(r)
		}
		return fixedOut(typInterval, out, k.valid, k.nulls), nil
	}
}

func negInterval(k *kctx) (arrow.Array, error) {
	a := valuesOf[int64](k.args[0])
	out := make([]int64, k.n)
	for i, x := range a[:k.n] {
		if x == math.MinInt64 && k.isValid(i) {
			return nil, errIntervalOut
		}
		out[i] = -x
	}
	return fixedOut(typInterval, out, k.valid, k.nulls), nil
}

// nonConstantUnit: a unit checked at bind time cannot fail at run time.
func nonConstantUnit(args []Expr) bool { return !isLiteral(args[0]) }

// prepUnit validates a constant unit argument at bind time and builds the
// kernel for it; a unit given by a column is parsed row by row.
func prepUnit(src kind, extract bool) func(args []Expr) (kernel, error) {
	build := dateTruncKernel
	if extract {
		build = extractKernel
	}
	return func(args []Expr) (kernel, error) {
		l, ok := args[0].(*Literal)
		if !ok || l.IsNull() {
			return build(src, ""), nil
		}
		unit, err := canonicalUnit(l.Value().(string), src, extract)
		if err != nil {
			return nil, err
		}
		return build(src, unit), nil
	}
}

// extraFields are EXTRACT fields that are not interval units.
var extraFields = map[string]string{
	"epoch": "epoch", "dow": "dow", "isodow": "isodow", "doy": "doy", "isoyear": "isoyear",
	"julian": "julian", "timezone": "timezone", "timezone_hour": "timezone_hour", "timezone_minute": "timezone_minute",
}

// canonicalUnit maps a unit word to its canonical name, or fails with
// Postgres' message for the function (date_trunc or extract) and type.
func canonicalUnit(word string, src kind, isExtract bool) (string, error) {
	w := strings.ToLower(strings.TrimSpace(word))
	unit, ok := intervalUnits[w]
	if !ok && isExtract {
		unit, ok = extraFields[w]
	}
	if !ok {
		return "", fmt.Errorf("unit %q not recognized for type %s", word, src)
	}
	if isExtract {
		if !extractSupported(unit, src) {
			return "", fmt.Errorf("unit %q not supported for type %s", word, src)
		}
	} else if src == kInterval && unit == "week" {
		return "", fmt.Errorf("unit %q not supported for type %s", word, src)
	}
	return unit, nil
}

func extractSupported(unit string, src kind) bool {
	switch src {
	case kDate:
		switch unit {
		case "hour", "minute", "second", "millisecond", "microsecond", "timezone", "timezone_hour", "timezone_minute":
			return false
		}
	case kInterval:
		switch unit {
		case "dow", "isodow", "doy", "isoyear", "julian", "week", "timezone", "timezone_hour", "timezone_minute":
			return false
		}
	}
	return true
}

// unitRows runs a per-row unit function: with a constant unit (fixed),
// else parsing the unit of each row.
func unitRows[T any](k *kctx, src kind, fixed string, extract bool, out []T, f func(unit string, v int64) (T, error)) error {
	vals := int64sOf(k.args[1])
	mv := k.m(1)
	units := stringsOf(k.args[0], k.n)
	unit, last := fixed, ""
	for i := range out {
		if !k.isValid(i) {
			continue
		}
		if fixed == "" {
			if w := units.at(i); w != last || unit == "" {
				var err error
				if unit, err = canonicalUnit(w, src, extract); err != nil {
					return err
				}
				last = strings.Clone(w)
			}
		}
		r, err := f(unit, vals[i&mv])
		if err != nil {
			return err
		}
		out[i] = r
	}
	return nil
}

func dateTruncKernel(src kind, unit string) kernel {
	if step, ok := unitMicros[unit]; ok && src == kTimestamp && unit != "week" && step > 1 {
		// A fixed-length unit: floor to a multiple of its length, with a
		// multiply instead of a division per row.
		dv := newDivisor(step)
		return func(k *kctx) (arrow.Array, error) {
			src := valuesOf[int64](k.args[1])
			out := make([]int64, k.n)
			for i, v := range src[:k.n] {
				q := dv.quo(v) * step
				if q > v {
					if q < math.MinInt64+step && k.isValid(i) {
						return nil, errTimestampOut
					}
					q -= step
				}
				out[i] = q
			}
			return fixedOut(typTimestamp, out, k.valid, k.nulls), nil
		}
	}
	return func(k *kctx) (arrow.Array, error) {
		out := make([]int64, k.n)
		err := unitRows(k, src, unit, false, out, func(u string, v int64) (int64, error) {
			if src == kInterval {
				return truncInterval(u, v), nil
			}
			return truncTimestamp(u, v)
		})
		if err != nil {
			return nil, err
		}
		return fixedOut(src.typ(), out, k.valid, k.nulls), nil
	}
}

// truncTimestamp is date_trunc(unit, ts); weeks start on Monday, centuries
// and millennia in years ending in 01 (2001-01-01), as in Postgres.
func truncTimestamp(unit string, us int64) (int64, error) {
	if step, ok := unitMicros[unit]; ok && unit != "week" {
		q := floorDiv(us, step)
		if q < math.MinInt64/step {
			return 0, errTimestampOut
		}
		return q * step, nil
	}
	days := floorDiv(us, usPerDay)
	y, m, _ := civil(days)
	var start int64
	switch unit {
	case "week":
		start = days - mod(days+3, 7) // 1970-01-01 was a Thursday
	case "month":
		start = daysFromCivil(y, m, 1)
	case "quarter":
		start = daysFromCivil(y, (m-1)/3*3+1, 1)
	case "year":
		start = daysFromCivil(y, 1, 1)
	case "decade":
		start = daysFromCivil(y-mod(y, 10), 1, 1)
	case "century":
		if y > 0 {
			start = daysFromCivil((y+99)/100*100-99, 1, 1)
		} else {
			start = daysFromCivil(-((99-(y-1))/100)*100+1, 1, 1)
		}
	case "millennium":
		if y > 0 {
			start = daysFromCivil((y+999)/1000*1000-999, 1, 1)
		} else {
			start = daysFromCivil(-((999-(y-1))/1000)*1000+1, 1, 1)
		}
	default:
		return 0, fmt.Errorf("unit %q not supported for type timestamp", unit)
	}
	if start < math.MinInt64/usPerDay {
		return 0, errTimestampOut
	}
	return start * usPerDay, nil
}

// mod is a modulo b in [0, b) (b > 0).
func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

// truncInterval is date_trunc(unit, interval): the fields below unit are
// dropped (toward zero). weir's intervals have no months, so month and
// longer units give zero.
func truncInterval(unit string, us int64) int64 {
	if step, ok := unitMicros[unit]; ok {
		return us - us%step
	}
	return 0
}

func extractKernel(src kind, unit string) kernel {
	return func(k *kctx) (arrow.Array, error) {
		out := make([]float64, k.n)
		err := unitRows(k, src, unit, true, out, func(u string, v int64) (float64, error) {
			switch src {
			case kDate:
				return extractTimestamp(u, v*usPerDay, true), nil
			case kInterval:
				return extractInterval(u, v), nil
			}
			return extractTimestamp(u, v, false), nil
		})
		if err != nil {
			return nil, err
		}
		return fixedOut(typFloat64, out, k.valid, k.nulls), nil
	}
}

// extractTimestamp is EXTRACT(field FROM ts).
func extractTimestamp(unit string, us int64, isDate bool) float64 {
	days := floorDiv(us, usPerDay)
	tod := us - days*usPerDay
	y, m, d := civil(days)
	year := y
	if year <= 0 {
		year-- // there is no year 0: 1 BC is -1
	}
	switch unit {
	case "epoch":
		return float64(us) / 1e6
	case "year":
		return float64(year)
	case "month":
		return float64(m)
	case "day":
		return float64(d)
	case "hour":
		return float64(tod / usPerHour)
	case "minute":
		return float64(tod / usPerMinute % 60)
	case "second":
		return float64(tod%usPerMinute) / 1e6
	case "millisecond":
		return float64(tod%usPerMinute) / 1e3
	case "microsecond":
		return float64(tod % usPerMinute)
	case "dow":
		return float64(mod(days+4, 7)) // Sunday = 0
	case "isodow":
		return float64(mod(days+3, 7) + 1) // Monday = 1 … Sunday = 7
	case "doy":
		return float64(days - daysFromCivil(y, 1, 1) + 1)
	case "week", "isoyear":
		iy, w := isoWeek(days)
		if unit == "week" {
			return float64(w)
		}
		if iy <= 0 {
			iy--
		}
		return float64(iy)
	case "quarter":
		return float64((m-1)/3 + 1)
	case "decade":
		return float64(floorDiv(y, 10))
	case "century":
		if y > 0 {
			return float64((y + 99) / 100)
		}
		return float64(-((99 - (y - 1)) / 100))
	case "millennium":
		if y > 0 {
			return float64((y + 999) / 1000)
		}
		return float64(-((999 - (y - 1)) / 1000))
	case "julian":
		jd := float64(days + 2440588)
		if !isDate {
			jd += float64(tod) / float64(usPerDay)
		}
		return jd
	}
	return 0 // timezone fields: always UTC
}

// isoWeek is the ISO 8601 year and week of a day.
func isoWeek(days int64) (int64, int64) {
	// The Thursday of the day's week decides its ISO year.
	thursday := days - mod(days+3, 7) + 3
	y, _, _ := civil(thursday)
	return y, (thursday-daysFromCivil(y, 1, 1))/7 + 1
}

// extractInterval is EXTRACT(field FROM interval). Whole days are split off
// first (Postgres keeps "25 hours" as hours; weir's intervals are one
// number of microseconds, so that is 1 day 01:00:00).
func extractInterval(unit string, us int64) float64 {
	days := us / usPerDay
	rem := us % usPerDay
	switch unit {
	case "epoch":
		return float64(us) / 1e6
	case "microsecond":
		return float64(rem % usPerMinute)
	case "millisecond":
		return float64(rem%usPerMinute) / 1e3
	case "second":
		return float64(rem%usPerMinute) / 1e6
	case "minute":
		return float64(rem % usPerHour / usPerMinute)
	case "hour":
		return float64(rem / usPerHour)
	case "day":
		return float64(days)
	}
	return 0 // month, quarter, year, decade, century, millennium
}

var errTimestampNaN = errors.New("timestamp cannot be NaN")

func toTimestamp(k *kctx) (arrow.Array, error) {
	src := valuesOf[float64](k.args[0])
	out := make([]int64, k.n)
	for i, x := range src[:k.n] {
		if !k.isValid(i) {
			continue
		}
		if x != x {
			return nil, errTimestampNaN
		}
		r := math.Round(x * 1e6)
		if !(r >= -9223372036854775808.0 && r < 9223372036854775808.0) {
			return nil, errTimestampOut
		}
		out[i] = int64(r)
	}
	return fixedOut(typTimestamp, out, k.valid, k.nulls), nil
}

// dateBin is date_bin(stride, source, origin): the start of the stride-long
// bin, aligned to origin, that contains source.
func dateBin(k *kctx) (arrow.Array, error) {
	st, sv, ov := valuesOf[int64](k.args[0]), valuesOf[int64](k.args[1]), valuesOf[int64](k.args[2])
	m0, m1, m2 := k.m(0), k.m(1), k.m(2)
	out := make([]int64, k.n)
	for i := range out {
		if !k.isValid(i) {
			continue
		}
		stride, source, origin := st[i&m0], sv[i&m1], ov[i&m2]
		if stride <= 0 {
			return nil, errors.New("stride must be greater than zero")
		}
		diff := source - origin
		if (source^origin)&(diff^source) < 0 {
			return nil, errTimestampOut
		}
		back := diff % stride // then in [0, stride)
		if back < 0 {
			back += stride
		}
		r := source - back
		if r > source {
			return nil, errTimestampOut
		}
		out[i] = r
	}
	return fixedOut(typTimestamp, out, k.valid, k.nulls), nil
}

func makeDate(k *kctx) (arrow.Array, error) {
	out := make([]int32, k.n)
	for i := range out {
		if !k.isValid(i) {
			continue
		}
		days, err := civilDays(k.int32At(0, i), k.int32At(1, i), k.int32At(2, i))
		if err != nil {
			return nil, err
		}
		if days < math.MinInt32 || days > math.MaxInt32 {
			return nil, errDateOut
		}
		out[i] = int32(days)
	}
	return fixedOut(typDate, out, k.valid, k.nulls), nil
}

// civilDays validates a year (negative: BC), month and day.
func civilDays(y, m, d int32) (int64, error) {
	yy := int64(y)
	if y < 0 {
		yy++ // 1 BC is year 0 of the proleptic calendar
	}
	if y == 0 || m < 1 || m > 12 || d < 1 || int(d) > daysIn(yy, int(m)) {
		return 0, fmt.Errorf("date field value out of range: %d-%02d-%02d", y, m, d)
	}
	return daysFromCivil(yy, int(m), int(d)), nil
}

func makeTimestamp(k *kctx) (arrow.Array, error) {
	secs := valuesOf[float64](k.args[5])
	ms := k.m(5)
	out := make([]int64, k.n)
	for i := range out {
		if !k.isValid(i) {
			continue
		}
		days, err := civilDays(k.int32At(0, i), k.int32At(1, i), k.int32At(2, i))
		if err != nil {
			return nil, err
		}
		if days > math.MaxInt64/usPerDay-1 || days < math.MinInt64/usPerDay+1 {
			return nil, errTimestampOut
		}
		h, mi, s := k.int32At(3, i), k.int32At(4, i), secs[i&ms]
		if h < 0 || h > 24 || mi < 0 || mi > 59 || !(s >= 0 && s <= 60) ||
			h == 24 && (mi != 0 || s != 0) {
			return nil, fmt.Errorf("time field value out of range: %d:%02d:%02v", h, mi, s)
		}
		out[i] = days*usPerDay + int64(h)*usPerHour + int64(mi)*usPerMinute + int64(math.Round(s*1e6))
	}
	return fixedOut(typTimestamp, out, k.valid, k.nulls), nil
}

func makeInterval(k *kctx) (arrow.Array, error) {
	units := []float64{0, 0, 7 * float64(usPerDay), float64(usPerDay), float64(usPerHour), float64(usPerMinute)}
	out := make([]int64, k.n)
	for i := range out {
		if !k.isValid(i) {
			continue
		}
		var total float64
		for j := range k.args {
			var v float64
			if j == 6 {
				v = valuesOf[float64](k.args[j])[i&k.m(j)] * 1e6
			} else {
				v = float64(k.int32At(j, i)) * units[j]
				if j < 2 && k.int32At(j, i) != 0 {
					return nil, fmt.Errorf("make_interval with years or months is %w: weir's intervals are exact durations (a day is 24 hours)", ErrUnsupported)
				}
			}
			total += v
		}
		r := math.Round(total)
		if !(r >= -9223372036854775808.0 && r < 9223372036854775808.0) {
			return nil, errIntervalOut
		}
		out[i] = int64(r)
	}
	return fixedOut(typInterval, out, k.valid, k.nulls), nil
}
