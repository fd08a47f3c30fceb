package query

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Text input and output of every SQL type, as Postgres reads and prints
// them with DateStyle = ISO and TimeZone = 'UTC'. CAST(x AS text), CAST(s AS
// t) and typed literals use these; messages quote the bad input the way
// Postgres does (`invalid input syntax for type bigint: "abc"`).

func syntaxError(k kind, s string) error {
	return fmt.Errorf("invalid input syntax for type %s: %q", k, s)
}

func outOfRangeFor(k kind, s string) error {
	return fmt.Errorf("value %q is out of range for type %s", s, k)
}

// parseInt reads an integer of kind k: optional sign, decimal digits (or a
// 0x, 0o, 0b prefix), '_' between digits, surrounding blanks.
func parseInt(s string, k kind) (int64, error) {
	t := strings.TrimSpace(s)
	body := strings.TrimLeft(t, "+-")
	if len(t)-len(body) > 1 || body == "" {
		return 0, syntaxError(k, s)
	}
	base := 10
	if len(body) > 2 && body[0] == '0' {
		switch body[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
	}
	digits := t
	if base != 10 {
		digits = t[:len(t)-len(body)] + body[2:]
	}
	if strings.Contains(digits, "_") {
		if strings.HasPrefix(body, "_") || strings.HasSuffix(digits, "_") || strings.Contains(digits, "__") {
			return 0, syntaxError(k, s)
		}
		digits = strings.ReplaceAll(digits, "_", "")
	}
	v, err := strconv.ParseInt(digits, base, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, outOfRangeFor(k, s)
		}
		return 0, syntaxError(k, s)
	}
	if (k == kInt16 && (v < math.MinInt16 || v > math.MaxInt16)) || (k == kInt32 && (v < math.MinInt32 || v > math.MaxInt32)) {
		return 0, outOfRangeFor(k, s)
	}
	return v, nil
}

// parseFloat reads a double precision value (also NaN, Infinity, -Infinity).
func parseFloat(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsAny(t, "_xXpP") {
		return 0, syntaxError(kFloat64, s)
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is out of range for type double precision", s)
		}
		return 0, syntaxError(kFloat64, s)
	}
	return v, nil
}

// parseBool reads a boolean the way Postgres' boolin does: any unambiguous
// prefix of true, false, yes, no; on, off; 1, 0.
func parseBool(s string) (bool, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch {
	case t == "":
	case t == "1" || t == "on":
		return true, nil
	case t == "0" || t == "off" || t == "of":
		return false, nil
	case strings.HasPrefix("true", t) || strings.HasPrefix("yes", t):
		return true, nil
	case strings.HasPrefix("false", t) || strings.HasPrefix("no", t):
		return false, nil
	}
	return false, syntaxError(kBool, s)
}

// formatFloat prints a double the way Postgres does (shortest round-trip
// digits; exponent form below 1e-4 and from 1e15 on).
func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0"
		}
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp < -4 || exp >= 15 {
		return e
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

const (
	usPerSecond = int64(1_000_000)
	usPerMinute = 60 * usPerSecond
	usPerHour   = 60 * usPerMinute
	usPerDay    = 24 * usPerHour
)

// floorDiv is a/b rounded toward negative infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// formatTimestamp prints microseconds since the epoch as
// 2026-01-01 12:00:00[.123456], in UTC.
func formatTimestamp(us int64) string {
	days := floorDiv(us, usPerDay)
	tod := us - days*usPerDay
	var b strings.Builder
	b.WriteString(formatDate(days))
	b.WriteByte(' ')
	writeClock(&b, tod)
	if isBC(days) {
		// formatDate put " BC" after the date; move it to the end.
		s := b.String()
		return strings.Replace(s, " BC ", " ", 1) + " BC"
	}
	return b.String()
}

func isBC(days int64) bool {
	y, _, _ := civil(days)
	return y <= 0
}

// writeClock writes HH:MM:SS[.ffffff] for tod microseconds in [0, 1 day) or
// beyond (hours are not wrapped).
func writeClock(b *strings.Builder, tod int64) {
	h := tod / usPerHour
	m := tod / usPerMinute % 60
	s := tod / usPerSecond % 60
	frac := tod % usPerSecond
	fmt.Fprintf(b, "%02d:%02d:%02d", h, m, s)
	if frac != 0 {
		f := fmt.Sprintf("%06d", frac)
		b.WriteByte('.')
		b.WriteString(strings.TrimRight(f, "0"))
	}
}

// formatDate prints days since the epoch as 2026-01-01 (BC years as
// Postgres: 0044-03-15 BC).
func formatDate(days int64) string {
	y, m, d := civil(days)
	if y <= 0 {
		return fmt.Sprintf("%04d-%02d-%02d BC", 1-y, m, d)
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (year int64, month, day int) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := int(doy - (153*mp+2)/5 + 1)
	m := int(mp + 3)
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysFromCivil converts a proleptic Gregorian date to days since 1970-01-01.
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mm := int64(m)
	if mm > 2 {
		mm -= 3
	} else {
		mm += 9
	}
	doy := (153*mm+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// formatInterval prints microseconds as Postgres prints an interval:
// "00:00:10", "1 day 02:00:00", "-3 days", "-00:00:00.5". weir's intervals
// have no separate day field, so whole days are always split off.
func formatInterval(us int64) string {
	if us == 0 {
		return "00:00:00"
	}
	var b strings.Builder
	days := us / usPerDay
	rem := us % usPerDay
	if days != 0 {
		unit := "days"
		if days == 1 {
			unit = "day"
		}
		fmt.Fprintf(&b, "%d %s", days, unit)
		if rem == 0 {
			return b.String()
		}
		b.WriteByte(' ')
	}
	if rem < 0 {
		b.WriteByte('-')
		rem = -rem
	}
	writeClock(&b, rem)
	return b.String()
}

// parseTimestamp reads 2026-01-01[( |T)12:00[:00[.123456]]][zone] (zone: Z,
// UTC, +02, +02:00, +0200) as microseconds since the epoch in UTC; a zone
// offset is applied (TIMESTAMPTZ semantics), 'epoch' is 1970-01-01.
func parseTimestamp(s string) (int64, error) {
	return parseDateTime(s, kTimestamp)
}

// parseDate reads 2026-01-01 (a time part is accepted and dropped) as days.
func parseDate(s string) (int32, error) {
	us, err := parseDateTime(s, kDate)
	if err != nil {
		return 0, err
	}
	d := floorDiv(us, usPerDay)
	if d < math.MinInt32 || d > math.MaxInt32 {
		return 0, fmt.Errorf("date out of range: %q", s)
	}
	return int32(d), nil
}

func parseDateTime(s string, k kind) (int64, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "epoch":
		return 0, nil
	case "infinity", "-infinity", "+infinity":
		return 0, fmt.Errorf("%s %q is %w: weir has no infinite timestamps", k, s, ErrUnsupported)
	case "now", "today", "tomorrow", "yesterday":
		return 0, fmt.Errorf("%s %q is %w: results must not depend on when a query runs", k, s, ErrUnsupported)
	}
	p := &dtParser{s: t}
	bc := false
	if strings.HasSuffix(strings.ToUpper(t), " BC") {
		bc = true
		p.s = strings.TrimSpace(t[:len(t)-3])
	}
	y, okY := p.number(1, 7)
	okD1 := p.byte('-')
	mo, okM := p.number(1, 2)
	okD2 := p.byte('-')
	d, okD := p.number(1, 2)
	if !okY || !okD1 || !okM || !okD2 || !okD {
		return 0, syntaxError(k, s)
	}
	if bc {
		y = 1 - y
	}
	var hh, mi, ss, frac int64
	if p.byte(' ') || p.byte('T') || p.byte('t') {
		for p.byte(' ') {
		}
		var ok bool
		if hh, ok = p.number(1, 2); !ok || !p.byte(':') {
			return 0, syntaxError(k, s)
		}
		if mi, ok = p.number(2, 2); !ok {
			return 0, syntaxError(k, s)
		}
		if p.byte(':') {
			if ss, ok = p.number(2, 2); !ok {
				return 0, syntaxError(k, s)
			}
			if p.byte('.') {
				start := p.i
				digits, ok := p.number(1, 9)
				if !ok {
					return 0, syntaxError(k, s)
				}
				n := p.i - start
				for ; n < 6; n++ {
					digits *= 10
				}
				for ; n > 7; n-- {
					digits /= 10
				}
				if n == 7 { // round the seventh digit, half up
					digits = (digits + 5) / 10
				}
				frac = digits
			}
		}
	}
	var offset int64
	for p.byte(' ') {
	}
	if p.i < len(p.s) {
		rest := p.s[p.i:]
		switch {
		case rest == "Z" || rest == "z" || strings.EqualFold(rest, "UTC") || strings.EqualFold(rest, "GMT"):
			p.i = len(p.s)
		case rest[0] == '+' || rest[0] == '-':
			sign := int64(1)
			if rest[0] == '-' {
				sign = -1
			}
			p.i++
			oh, ok := p.number(1, 2)
			if !ok {
				return 0, syntaxError(k, s)
			}
			var om int64
			if p.byte(':') {
				if om, ok = p.number(2, 2); !ok {
					return 0, syntaxError(k, s)
				}
			} else if p.i < len(p.s) {
				if om, ok = p.number(2, 2); !ok {
					return 0, syntaxError(k, s)
				}
			}
			if oh > 15 || om > 59 {
				return 0, fmt.Errorf("time zone displacement out of range: %q", s)
			}
			offset = sign * (oh*usPerHour + om*usPerMinute)
		default:
			return 0, syntaxError(k, s)
		}
		if p.i != len(p.s) {
			return 0, syntaxError(k, s)
		}
	}
	if mo < 1 || mo > 12 || d < 1 || int(d) > daysIn(y, int(mo)) || hh > 24 || mi > 59 || ss > 60 ||
		(hh == 24 && (mi != 0 || ss != 0 || frac != 0)) {
		return 0, fmt.Errorf("date/time field value out of range: %q", s)
	}
	days := daysFromCivil(y, int(mo), int(d))
	if days > math.MaxInt64/usPerDay-1 || days < math.MinInt64/usPerDay+1 {
		return 0, fmt.Errorf("%s out of range: %q", k, s)
	}
	return days*usPerDay + hh*usPerHour + mi*usPerMinute + ss*usPerSecond + frac - offset, nil
}

type dtParser struct {
	s string
	i int
}

func (p *dtParser) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// number reads between lo and hi decimal digits.
func (p *dtParser) number(lo, hi int) (int64, bool) {
	start := p.i
	var v int64
	for p.i < len(p.s) && p.i-start < hi && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		v = v*10 + int64(p.s[p.i]-'0')
		p.i++
	}
	return v, p.i-start >= lo
}

// intervalUnits maps Postgres' interval and date_trunc/extract unit words
// (singular, plural, abbreviated) to a canonical name.
var intervalUnits = map[string]string{
	"microsecond": "microsecond", "microseconds": "microsecond", "us": "microsecond", "usec": "microsecond", "usecs": "microsecond", "useconds": "microsecond", "usecond": "microsecond",
	"millisecond": "millisecond", "milliseconds": "millisecond", "ms": "millisecond", "msec": "millisecond", "msecs": "millisecond", "mseconds": "millisecond", "msecond": "millisecond",
	"second": "second", "seconds": "second", "s": "second", "sec": "second", "secs": "second",
	"minute": "minute", "minutes": "minute", "m": "minute", "min": "minute", "mins": "minute",
	"hour": "hour", "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour",
	"day": "day", "days": "day", "d": "day",
	"week": "week", "weeks": "week", "w": "week",
	"month": "month", "months": "month", "mon": "month", "mons": "month",
	"quarter": "quarter", "qtr": "quarter",
	"year": "year", "years": "year", "y": "year", "yr": "year", "yrs": "year",
	"decade": "decade", "decades": "decade", "dec": "decade", "decs": "decade",
	"century": "century", "centuries": "century", "c": "century", "cent": "century",
	"millennium": "millennium", "millennia": "millennium", "mil": "millennium", "mils": "millennium",
}

var unitMicros = map[string]int64{
	"microsecond": 1, "millisecond": 1000, "second": usPerSecond, "minute": usPerMinute,
	"hour": usPerHour, "day": usPerDay, "week": 7 * usPerDay,
}

func errIntervalMonths(s string) error {
	return fmt.Errorf("interval %q has months or years, which are %w: weir's intervals are exact durations (a day is 24 hours); use days, or date_trunc('month', ...) for calendar months", s, ErrUnsupported)
}

// parseInterval reads an interval: "4 seconds", "10 sec", "1.5 hours",
// "1 day 02:00:00", "-00:00:01", "1h30m", "PT10S", "@ 1 minute ago". A bare
// number is in the unit of the lowest field of the type's qualifier
// (INTERVAL '10' SECOND, INTERVAL '1' MINUTE), else seconds. fields is the
// qualifier's mask (intervalFullRange for none): fields below its lowest are
// truncated, as Postgres does.
func parseInterval(s string, fields int) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, syntaxError(kInterval, s)
	}
	var us float64
	var err error
	if t[0] == 'p' {
		us, err = parseISOInterval(t, s)
	} else {
		us, err = parsePGInterval(t, s, fields)
	}
	if err != nil {
		return 0, err
	}
	us = math.Round(us)
	if us >= math.MaxInt64 || us <= math.MinInt64 || math.IsNaN(us) {
		return 0, fmt.Errorf("interval out of range: %q", s)
	}
	v := int64(us)
	if fields != intervalFullRange {
		switch lowestField(fields) {
		case fieldDay:
			v -= v % usPerDay
		case fieldHour:
			v -= v % usPerHour
		case fieldMinute:
			v -= v % usPerMinute
		}
	}
	return v, nil
}

func lowestField(fields int) int {
	for _, f := range []int{fieldSecond, fieldMinute, fieldHour, fieldDay, fieldMonth, fieldYear} {
		if fields&f != 0 {
			return f
		}
	}
	return fieldSecond
}

func parsePGInterval(t, s string, fields int) (float64, error) {
	t = strings.TrimPrefix(t, "@")
	neg := false
	if strings.HasSuffix(t, " ago") {
		neg = true
		t = strings.TrimSuffix(t, " ago")
	}
	toks := tokenizeInterval(t)
	if len(toks) == 0 {
		return 0, syntaxError(kInterval, s)
	}
	var total float64
	seen := false
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if strings.Contains(tok, ":") {
			v, err := parseClock(tok, fields)
			if err != nil {
				return 0, syntaxError(kInterval, s)
			}
			total += v
			seen = true
			continue
		}
		num, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return 0, syntaxError(kInterval, s)
		}
		unit := ""
		if i+1 < len(toks) && !isNumberToken(toks[i+1]) {
			i++
			canon, ok := intervalUnits[toks[i]]
			if !ok {
				return 0, syntaxError(kInterval, s)
			}
			unit = canon
		} else {
			unit = bareUnit(fields)
		}
		switch unit {
		case "month", "quarter", "year", "decade", "century", "millennium":
			if num != 0 {
				return 0, errIntervalMonths(s)
			}
			continue
		}
		total += num * float64(unitMicros[unit])
		seen = true
	}
	if !seen {
		return 0, syntaxError(kInterval, s)
	}
	if neg {
		total = -total
	}
	return total, nil
}

// bareUnit is the unit of a number without one under a field qualifier.
func bareUnit(fields int) string {
	if fields == intervalFullRange {
		return "second"
	}
	switch lowestField(fields) {
	case fieldMinute:
		return "minute"
	case fieldHour:
		return "hour"
	case fieldDay:
		return "day"
	case fieldMonth:
		return "month"
	case fieldYear:
		return "year"
	}
	return "second"
}

func isNumberToken(tok string) bool {
	if tok == "" {
		return false
	}
	c := tok[0]
	return c == '+' || c == '-' || c == '.' || c >= '0' && c <= '9'
}

// tokenizeInterval splits "1 day 2h30m -00:00:01" into numbers, unit words
// and clock tokens.
func tokenizeInterval(t string) []string {
	var toks []string
	i := 0
	for i < len(t) {
		c := t[i]
		switch {
		case c == ' ' || c == ',' || c == '\t':
			i++
		case c == '+' || c == '-' || c == '.' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(t) && (t[j] >= '0' && t[j] <= '9' || t[j] == '.' || t[j] == ':') {
				j++
			}
			toks = append(toks, t[i:j])
			i = j
		case c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(t) && t[j] >= 'a' && t[j] <= 'z' {
				j++
			}
			toks = append(toks, t[i:j])
			i = j
		default:
			return []string{"?"}
		}
	}
	return toks
}

// parseClock reads [-]HH:MM[:SS[.frac]] (or MM:SS.frac under MINUTE TO
// SECOND) as microseconds.
func parseClock(tok string, fields int) (float64, error) {
	neg := false
	switch tok[0] {
	case '-':
		neg = true
		tok = tok[1:]
	case '+':
		tok = tok[1:]
	}
	parts := strings.Split(tok, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, errors.New("bad clock")
	}
	vals := make([]float64, len(parts))
	for i, p := range parts {
		if p == "" || (i < len(parts)-1 && strings.Contains(p, ".")) {
			return 0, errors.New("bad clock")
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 {
			return 0, errors.New("bad clock")
		}
		vals[i] = v
	}
	var us float64
	if len(vals) == 2 {
		if fields == fieldMinute|fieldSecond || strings.Contains(parts[1], ".") {
			us = vals[0]*float64(usPerMinute) + vals[1]*float64(usPerSecond)
		} else {
			us = vals[0]*float64(usPerHour) + vals[1]*float64(usPerMinute)
		}
	} else {
		us = vals[0]*float64(usPerHour) + vals[1]*float64(usPerMinute) + vals[2]*float64(usPerSecond)
	}
	if neg {
		us = -us
	}
	return us, nil
}

// parseISOInterval reads P[nW][nD][T[nH][nM][nS]].
func parseISOInterval(t, s string) (float64, error) {
	t = t[1:]
	inTime := false
	var total float64
	seen := false
	for len(t) > 0 {
		if t[0] == 't' {
			inTime = true
			t = t[1:]
			continue
		}
		j := 0
		for j < len(t) && (t[j] >= '0' && t[j] <= '9' || t[j] == '.' || t[j] == '-' || t[j] == '+') {
			j++
		}
		if j == 0 || j == len(t) {
			return 0, syntaxError(kInterval, s)
		}
		v, err := strconv.ParseFloat(t[:j], 64)
		if err != nil {
			return 0, syntaxError(kInterval, s)
		}
		var unit int64
		switch c := t[j]; {
		case c == 'y' && !inTime, c == 'm' && !inTime:
			if v != 0 {
				return 0, errIntervalMonths(s)
			}
		case c == 'w' && !inTime:
			unit = 7 * usPerDay
		case c == 'd' && !inTime:
			unit = usPerDay
		case c == 'h' && inTime:
			unit = usPerHour
		case c == 'm' && inTime:
			unit = usPerMinute
		case c == 's' && inTime:
			unit = usPerSecond
		default:
			return 0, syntaxError(kInterval, s)
		}
		total += v * float64(unit)
		seen = true
		t = t[j+1:]
	}
	if !seen {
		return 0, syntaxError(kInterval, s)
	}
	return total, nil
}

// FormatValue prints row i of an array the way CAST(x AS text) does —
// Postgres' text output with DateStyle ISO and TimeZone UTC: true,
// 2026-01-01 10:00:00.5, 1 day 02:00:00, 0.30000000000000004 — and "NULL"
// for NULL (strings are not quoted). Other Arrow types print as Arrow does.
func FormatValue(a arrow.Array, i int) string { return formatValue(a, i) }

func formatValue(a arrow.Array, i int) string {
	if a.DataType().ID() == arrow.NULL || a.IsNull(i) {
		return "NULL"
	}
	switch kindOf(a.DataType()) {
	case kBool:
		if a.(*array.Boolean).Value(i) {
			return "true"
		}
		return "false"
	case kInt16:
		return strconv.FormatInt(int64(a.(*array.Int16).Value(i)), 10)
	case kInt32:
		return strconv.FormatInt(int64(a.(*array.Int32).Value(i)), 10)
	case kInt64:
		return strconv.FormatInt(a.(*array.Int64).Value(i), 10)
	case kFloat64:
		return formatFloat(a.(*array.Float64).Value(i))
	case kText:
		return a.(*array.String).Value(i)
	case kTimestamp:
		return formatTimestamp(int64(a.(*array.Timestamp).Value(i)))
	case kDate:
		return formatDate(int64(a.(*array.Date32).Value(i)))
	case kInterval:
		return formatInterval(int64(a.(*array.Duration).Value(i)))
	case kOther:
		// An Arrow type of a SQL family (timestamp[ns], uint8): print it as
		// its SQL type.
		if kern := normalizeKernel(a.DataType()); kern != nil {
			if v, err := kern(&kctx{args: []arrow.Array{array.NewSlice(a, int64(i), int64(i+1))}, n: 1}); err == nil {
				return formatValue(v, 0)
			}
		}
	}
	return a.ValueStr(i)
}
