package watermark_test

// Behaviour scripts for the per-split generator (testdata/split) and the
// min-combining tracker (testdata/tracker). Regenerate the expected output
// with `go test ./watermark -run Script -args -rewrite` and read the diff.
//
// Times in scripts are seconds since the epoch: 10, -3, 7.999999, or any Go
// duration (1m30s); null is a record without an event time; +inf/-inf are the
// ends of time.
//
// testdata/split:
//
//	new delay=4s [skew=1m]      a fresh generator for one split
//	observe                     one batch per input line, event times separated by spaces
//	state                       print (and remember) the generator's saved state
//	restore [max=13]            a new generator resumed from the remembered (or given) state
//
// observe prints one column per record, as in the package documentation:
// its arrival time, the largest on-time event time before it, its verdict and
// the split's watermark after it; "|" separates batches. Each batch is also
// replayed record by record on a shadow generator, and the two must agree:
// batching never changes a verdict.
//
// testdata/tracker:
//
//	new inputs=3                a tracker over inputs A, B, C
//	apply                       one operation per line: "A 6" (update), "A end"
//	                            (the input ended: +inf), "A idle", "A active"
//
// apply prints, per operation, every input's watermark ("(idle)" when left
// out of the minimum), the combined watermark, and whether it advanced or the
// whole combination is idle.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirdata/weir/watermark"
)

func TestSplitScript(t *testing.T) {
	var (
		strategy watermark.Strategy
		gen      *watermark.Split
		shadow   *watermark.Split // the same records, one at a time
		saved    = watermark.MinTime
	)
	datadriven.RunTest(t, "testdata/split", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "new":
			strategy = watermark.Strategy{}
			if d.HasArg("delay") {
				strategy.Delay = durationArg(t, d, "delay")
			}
			if d.HasArg("skew") {
				strategy.MaxSkew = durationArg(t, d, "skew")
			}
			gen, shadow = watermark.NewSplit(strategy), watermark.NewSplit(strategy)
			return splitState(gen)

		case "observe":
			if gen == nil {
				d.Fatalf(t, "observe before new")
			}
			return observe(t, d, gen, shadow)

		case "state":
			saved = gen.State()
			return splitState(gen)

		case "restore":
			if d.HasArg("max") {
				var s string
				d.ScanArgs(t, "max", &s)
				saved = parseTime(t, s)
			}
			gen, shadow = watermark.NewSplit(strategy), watermark.NewSplit(strategy)
			gen.Restore(saved)
			shadow.Restore(saved)
			return splitState(gen)
		}
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	})
}

func splitState(s *watermark.Split) string {
	return fmt.Sprintf("max=%s watermark=%s", secs(s.Max()), secs(s.Watermark()))
}

// observe feeds each input line to gen as one batch and to shadow record by
// record, and draws the timeline.
func observe(t *testing.T, d *datadriven.TestData, gen, shadow *watermark.Split) string {
	rows := [][]string{{"arrival:"}, {"max_before:"}, {"verdict:"}, {"watermark:"}}
	for bi, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		ts := make([]int64, len(fields))
		valid := make([]bool, len(fields))
		for i, f := range fields {
			if f != "null" {
				ts[i], valid[i] = int64(parseTime(t, f)), true
			}
		}
		verdicts := make([]watermark.Verdict, len(ts))
		notOnTime := gen.Observe(ts, func(i int) bool { return valid[i] }, verdicts)

		if bi > 0 {
			for r := range rows {
				rows[r] = append(rows[r], "|")
			}
		}
		count := 0
		one := make([]watermark.Verdict, 1)
		for i := range ts {
			maxBefore := shadow.Max()
			shadow.Observe(ts[i:i+1], func(int) bool { return valid[i] }, one)
			if one[0] != verdicts[i] {
				d.Fatalf(t, "record %d (%s): verdict %s in a batch but %s alone", i, fields[i], verdicts[i], one[0])
			}
			if one[0] != watermark.OnTime {
				count++
			}
			before := "-"
			if maxBefore != watermark.MinTime {
				before = secs(maxBefore)
			}
			rows[0] = append(rows[0], fields[i])
			rows[1] = append(rows[1], before)
			rows[2] = append(rows[2], verdictCell(verdicts[i]))
			rows[3] = append(rows[3], secs(shadow.Watermark()))
		}
		if count != notOnTime {
			d.Fatalf(t, "Observe returned %d records not on time, verdicts say %d", notOnTime, count)
		}
		if gen.Max() != shadow.Max() || gen.Watermark() != shadow.Watermark() {
			d.Fatalf(t, "after a batch: max %s watermark %s, record by record: max %s watermark %s",
				secs(gen.Max()), secs(gen.Watermark()), secs(shadow.Max()), secs(shadow.Watermark()))
		}
	}
	return table(rows)
}

func verdictCell(v watermark.Verdict) string {
	switch v {
	case watermark.OnTime:
		return "on"
	case watermark.NullTime:
		return "NULL"
	}
	return strings.ToUpper(v.String())
}

func TestTrackerScript(t *testing.T) {
	var tr *watermark.Tracker
	datadriven.RunTest(t, "testdata/tracker", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "new":
			var n int
			d.ScanArgs(t, "inputs", &n)
			tr = watermark.NewTracker(n)
			return trackerState(tr, false)

		case "apply":
			var ops, states []string
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				f := strings.Fields(line)
				if len(f) != 2 || len(f[0]) != 1 || int(f[0][0]-'A') >= tr.Len() {
					d.Fatalf(t, "bad operation %q: want <input letter> <time|end|idle|active>", line)
				}
				i := int(f[0][0] - 'A')
				var adv bool
				switch f[1] {
				case "idle":
					_, adv = tr.SetIdle(i)
				case "active":
					tr.SetActive(i)
				case "end":
					_, adv = tr.Update(i, watermark.MaxTime)
				default:
					before := tr.Current()
					var w watermark.Time
					w, adv = tr.Update(i, parseTime(t, f[1]))
					if w < before {
						d.Fatalf(t, "combined watermark moved back from %s to %s", secs(before), secs(w))
					}
				}
				ops = append(ops, line)
				states = append(states, trackerState(tr, adv))
			}
			width := 0
			for _, op := range ops {
				width = max(width, len(op))
			}
			var b strings.Builder
			for i, op := range ops {
				fmt.Fprintf(&b, "%-*s  ->  %s\n", width, op, states[i])
			}
			return b.String()
		}
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	})
}

func trackerState(tr *watermark.Tracker, advanced bool) string {
	var b strings.Builder
	for i := 0; i < tr.Len(); i++ {
		cell := fmt.Sprintf("%c=%s", 'A'+i, secs(tr.Input(i)))
		if tr.Idle(i) {
			cell += "(idle)"
		}
		fmt.Fprintf(&b, "%-*s", max(14, len(cell)+2), cell)
	}
	fmt.Fprintf(&b, "out=%s", secs(tr.Current()))
	if advanced {
		b.WriteString(" advanced")
	}
	if tr.AllIdle() {
		b.WriteString(" all-idle")
	}
	return b.String()
}

// table aligns the cells of rows in columns.
func table(rows [][]string) string {
	var widths []int
	for _, r := range rows {
		for j, c := range r {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for j, c := range r {
			fmt.Fprintf(&line, "%-*s", widths[j]+2, c)
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
	}
	return b.String()
}

func durationArg(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var s string
	d.ScanArgs(t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

// parseTime reads seconds (10, -3, 7.999999), a Go duration since the epoch
// (1m30s), or ±inf.
func parseTime(t *testing.T, s string) watermark.Time {
	switch s {
	case "+inf", "inf":
		return watermark.MaxTime
	case "-inf":
		return watermark.MinTime
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("bad time %q: %v", s, err)
	}
	return watermark.Time(d.Microseconds())
}

// secs formats a time as seconds since the epoch, exactly.
func secs(w watermark.Time) string {
	switch w {
	case watermark.MinTime:
		return "-inf"
	case watermark.MaxTime:
		return "+inf"
	}
	us := int64(w)
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	s := fmt.Sprintf("%s%d", sign, us/1_000_000)
	if frac := us % 1_000_000; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%06d", frac), "0")
	}
	return s
}
