package query

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestFormatFloat(t *testing.T) {
	tenth := 0.1 // a variable: constant arithmetic would be exact
	// Postgres 12+ (extra_float_digits = 1): shortest round-trip digits,
	// exponent form below 1e-4 and from 1e15.
	cases := map[float64]string{
		0: "0", math.Copysign(0, -1): "-0", 1: "1", -2.5: "-2.5", 0.1: "0.1", 1.0 / 3: "0.3333333333333333",
		100: "100", 1e6: "1000000", 123456789012345: "123456789012345", 1e15: "1e+15", 1.5e15: "1.5e+15",
		1e-4: "0.0001", 1.5e-5: "1.5e-05", 1e300: "1e+300", 2.5e-300: "2.5e-300", math.NaN(): "NaN",
		math.Inf(1): "Infinity", math.Inf(-1): "-Infinity", tenth + 0.2: "0.30000000000000004",
		math.MaxFloat64: "1.7976931348623157e+308", 5e-324: "5e-324",
	}
	for f, want := range cases {
		if got := formatFloat(f); got != want {
			t.Errorf("formatFloat(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestParseInt(t *testing.T) {
	ok := map[string]int64{
		"0": 0, "42": 42, "-42": -42, "+7": 7, "  12  ": 12, "1_000": 1000, "0x1F": 31, "-0x10": -16,
		"0o17": 15, "0b101": 5, "010": 10, "9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64,
	}
	for s, want := range ok {
		if got, err := parseInt(s, kInt64); err != nil || got != want {
			t.Errorf("parseInt(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	bad := map[string]string{
		"":                     `invalid input syntax for type bigint: ""`,
		"abc":                  `invalid input syntax for type bigint: "abc"`,
		"1.5":                  `invalid input syntax for type bigint: "1.5"`,
		"--1":                  `invalid input syntax for type bigint: "--1"`,
		"1__0":                 `invalid input syntax for type bigint: "1__0"`,
		"_1":                   `invalid input syntax for type bigint: "_1"`,
		"1_":                   `invalid input syntax for type bigint: "1_"`,
		"1 2":                  `invalid input syntax for type bigint: "1 2"`,
		"9223372036854775808":  `value "9223372036854775808" is out of range for type bigint`,
		"-9223372036854775809": `value "-9223372036854775809" is out of range for type bigint`,
	}
	for s, want := range bad {
		if _, err := parseInt(s, kInt64); err == nil || err.Error() != want {
			t.Errorf("parseInt(%q): %v, want %s", s, err, want)
		}
	}
	if _, err := parseInt("32768", kInt16); err == nil || err.Error() != `value "32768" is out of range for type smallint` {
		t.Errorf("smallint range: %v", err)
	}
	if v, err := parseInt("-2147483648", kInt32); err != nil || v != math.MinInt32 {
		t.Errorf("integer minimum: %d, %v", v, err)
	}
}

func TestParseBool(t *testing.T) {
	for s, want := range map[string]bool{"t": true, "TRUE": true, " tr ": true, "y": true, "yes": true, "on": true,
		"1": true, "f": false, "False": false, "n": false, "no": false, "off": false, "of": false, "0": false} {
		if got, err := parseBool(s); err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "o", "maybe", "truex", "2", "yess"} {
		if _, err := parseBool(s); err == nil {
			t.Errorf("parseBool(%q) succeeded", s)
		}
	}
}

func TestCivil(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		days := r.Int64N(2*3_000_000) - 3_000_000 // ±8000 years
		y, m, d := civil(days)
		if back := daysFromCivil(y, m, d); back != days {
			t.Fatalf("civil(%d) = %d-%d-%d, back %d", days, y, m, d, back)
		}
		if y > 0 && y < 10000 {
			want := time.Unix(days*86400, 0).UTC()
			if int(y) != want.Year() || time.Month(m) != want.Month() || d != want.Day() {
				t.Fatalf("civil(%d) = %d-%d-%d, want %s", days, y, m, d, want)
			}
		}
	}
}

// TestTimestampRoundTrip: formatted timestamps parse back to themselves.
func TestTimestampRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	vals := []int64{0, -1, 1, usPerDay - 1, -usPerDay, 1_767_225_600_000_000, -62_135_596_800_000_000}
	for range 5000 {
		vals = append(vals, r.Int64N(500_000_000_000_000_000)-250_000_000_000_000_000)
	}
	for _, us := range vals {
		s := formatTimestamp(us)
		back, err := parseTimestamp(s)
		if err != nil || back != us {
			t.Fatalf("%d formats as %q, which parses as %d, %v", us, s, back, err)
		}
		days := floorDiv(us, usPerDay)
		if days >= math.MinInt32 && days <= math.MaxInt32 {
			ds := formatDate(days)
			if back, err := parseDate(ds); err != nil || int64(back) != days {
				t.Fatalf("date %d formats as %q, which parses as %d, %v", days, ds, back, err)
			}
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	ok := map[string]string{
		"2026-01-01":                   "2026-01-01 00:00:00",
		" 2026-1-2 3:04 ":              "2026-01-02 03:04:00",
		"2026-01-01T12:00:00Z":         "2026-01-01 12:00:00",
		"2026-01-01 12:00:00 UTC":      "2026-01-01 12:00:00",
		"2026-01-01 12:00:00+02":       "2026-01-01 10:00:00",
		"2026-01-01 12:00:00-0130":     "2026-01-01 13:30:00",
		"2026-01-01 00:00:00.1234567":  "2026-01-01 00:00:00.123457",
		"2026-01-01 00:00:00.000001":   "2026-01-01 00:00:00.000001",
		"2026-12-31 24:00:00":          "2027-01-01 00:00:00",
		"epoch":                        "1970-01-01 00:00:00",
		"0001-01-01 00:00:00 BC":       "0001-01-01 00:00:00 BC",
		"2024-02-29 23:59:59.999999":   "2024-02-29 23:59:59.999999",
		"12026-01-01 00:00:00":         "12026-01-01 00:00:00",
		"1969-12-31 23:59:59.5":        "1969-12-31 23:59:59.5",
		"2026-03-15t01:02:03.5+00:00":  "2026-03-15 01:02:03.5",
		"2026-03-15  01:02:03":         "2026-03-15 01:02:03",
		"2026-03-15 01:02:03.5 +05:30": "2026-03-14 19:32:03.5",
	}
	for in, want := range ok {
		us, err := parseTimestamp(in)
		if err != nil || formatTimestamp(us) != want {
			t.Errorf("parseTimestamp(%q) = %s, %v; want %s", in, formatTimestamp(us), err, want)
		}
	}
	for _, in := range []string{"", "2026", "2026-13-01", "2026-02-30", "2026-01-01 25:00", "2026-01-01 12:60",
		"2026-01-01 12:00:00 PST", "2026-01-01x", "infinity", "now", "2026/01/01", "2026-01-01 12", "2026-01-01 12:00:00+16"} {
		if us, err := parseTimestamp(in); err == nil {
			t.Errorf("parseTimestamp(%q) = %s, want an error", in, formatTimestamp(us))
		}
	}
}

func TestIntervalText(t *testing.T) {
	cases := []struct {
		in     string
		fields int
		want   string
	}{
		{"10", intervalFullRange, "00:00:10"},
		{"10", fieldSecond, "00:00:10"},
		{"10", fieldMinute, "00:10:00"},
		{"10", fieldHour, "10:00:00"},
		{"10", fieldDay, "10 days"},
		{"1", fieldDay, "1 day"},
		{"1:30", fieldHour | fieldMinute, "01:30:00"},
		{"1:30", fieldMinute | fieldSecond, "00:01:30"},
		{"1:30:45", fieldHour | fieldMinute, "01:30:00"},
		{"1 day 2 hours", fieldDay, "1 day"},
		{"4 seconds", intervalFullRange, "00:00:04"},
		{"1 sec", intervalFullRange, "00:00:01"},
		{"1.5 hours", intervalFullRange, "01:30:00"},
		{"2 weeks", intervalFullRange, "14 days"},
		{"1 day -1 hour", intervalFullRange, "23:00:00"},
		{"-1 day", intervalFullRange, "-1 days"},
		{"1 day ago", intervalFullRange, "-1 days"},
		{"@ 3 minutes", intervalFullRange, "00:03:00"},
		{"1h 30m 15s", intervalFullRange, "01:30:15"},
		{"250ms", intervalFullRange, "00:00:00.25"},
		{"3 us", intervalFullRange, "00:00:00.000003"},
		{"-00:00:01.5", intervalFullRange, "-00:00:01.5"},
		{"26:00:00", intervalFullRange, "1 day 02:00:00"},
		{"PT1H30M", intervalFullRange, "01:30:00"},
		{"P2W", intervalFullRange, "14 days"},
		{"P0Y0M1DT0.5S", intervalFullRange, "1 day 00:00:00.5"},
		{"0 months 3 days", intervalFullRange, "3 days"},
	}
	for _, c := range cases {
		us, err := parseInterval(c.in, c.fields)
		if err != nil || formatInterval(us) != c.want {
			t.Errorf("parseInterval(%q, %#x) = %s, %v; want %s", c.in, c.fields, formatInterval(us), err, c.want)
		}
	}
	for _, in := range []string{"", "soon", "1 fortnight", "1:2:3:4", "1 day 1 day x", "P1X", "PT", "--1 day", "1.2.3 hours"} {
		if us, err := parseInterval(in, intervalFullRange); err == nil {
			t.Errorf("parseInterval(%q) = %s, want an error", in, formatInterval(us))
		}
	}
	for _, in := range []string{"1 month", "2 years", "P1M", "P1Y", "1 decade"} {
		if _, err := parseInterval(in, intervalFullRange); err == nil || !isUnsupported(err) {
			t.Errorf("parseInterval(%q): %v, want ErrUnsupported", in, err)
		}
	}
	// Every formatted interval parses back.
	r := rand.New(rand.NewPCG(11, 12))
	for range 5000 {
		us := r.Int64N(2_000_000_000_000_000) - 1_000_000_000_000_000
		s := formatInterval(us)
		if back, err := parseInterval(s, intervalFullRange); err != nil || back != us {
			t.Fatalf("%d formats as %q, which parses as %d, %v", us, s, back, err)
		}
	}
}

func TestRoundDecimal(t *testing.T) {
	cases := []struct {
		x     float64
		d     int
		trunc bool
		want  float64
	}{
		{2.675, 2, false, 2.68}, {2.5, 0, false, 3}, {-2.5, 0, false, -3}, {0.5, 0, false, 1},
		{1.005, 2, false, 1.01}, {1234.5678, -2, false, 1200}, {1250, -2, false, 1300}, {5, -1, false, 10},
		{4, -1, false, 0}, {999.9, 0, false, 1000}, {0.0001, 2, false, 0}, {-0.004, 2, false, math.Copysign(0, -1)},
		{1.999, 2, true, 1.99}, {-1.999, 2, true, -1.99}, {123.456, 10, false, 123.456}, {1e300, 2, false, 1e300},
		{9.995, 2, false, 10}, {0.125, 2, false, 0.13}, {1e-320, 400, false, 1e-320},
	}
	for _, c := range cases {
		if got := roundDecimal(c.x, c.d, c.trunc); got != c.want || math.Signbit(got) != math.Signbit(c.want) {
			t.Errorf("roundDecimal(%v, %d, %v) = %v, want %v", c.x, c.d, c.trunc, got, c.want)
		}
	}
	if !math.IsNaN(roundDecimal(math.NaN(), 2, false)) || !math.IsInf(roundDecimal(math.Inf(1), 2, false), 1) {
		t.Error("NaN and infinity round to themselves")
	}
}

func isUnsupported(err error) bool { return errors.Is(err, ErrUnsupported) }
