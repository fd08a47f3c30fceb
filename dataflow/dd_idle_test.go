package dataflow_test

// Idleness scripts (testdata/idle): a live job whose splits deliver what the
// script releases, run in a testing/synctest bubble so that the idle timeout
// counts fake time. Regenerate with `go test ./dataflow -run TestIdleScripts
// -args -rewrite`.
//
//	job splits=2 delay=0s idle-timeout=4s [retention=1m] [source-parallelism=1]
//	    [parallelism=1] [live=false]
//	window tumble 10s            the stages, as in the window scripts
//	aggs count(*) sum(v)
//
//	emit split=1                 release batches to split 1 (rows as in the
//	k=1@3s v=1 | k=1@4s v=2      window scripts; "|" and lines part batches)
//	advance 5s                   let fake time pass
//	end split=0                  end a split
//	counters                     the source's and the aggregates' counters
//
// After each command the job runs until it has nothing left to do, and the
// command prints what reached the sink since the last one, in order: "+"/"-"
// changelog rows and watermarks; then "late" rows of the source's late
// output; then whether the job finished. With parallelism > 1 the order in
// which the aggregate's subtasks reach the sink is not deterministic, so the
// rows of each command are printed sorted instead (a retraction before the
// insertion of the same row), then the last watermark.

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/weirdata/weir/dataflow"
)

func TestIdleScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/idle", func(t *testing.T, path string) {
		synctest.Test(t, func(t *testing.T) {
			h := &ddIdle{}
			defer func() { h.run.stop() }()
			datadriven.RunTest(t, path, h.cmd)
		})
	})
}

type ddIdle struct {
	src       *ddLiveSource
	run       *ddRunning
	out, late *ddSink
	aggs      []string
	reported  bool // the job's end was printed
	sorted    bool // several aggregate subtasks feed the sink
}

func (h *ddIdle) cmd(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd == "job" {
		h.run.stop()
		if err := h.start(t, d); err != nil {
			return "error: " + err.Error() + "\n"
		}
		synctest.Wait()
		return h.report()
	}
	if h.run == nil {
		d.Fatalf(t, "%s before job", d.Cmd)
	}
	switch d.Cmd {
	case "emit":
		var id string
		d.ScanArgs(t, "split", &id)
		sp, err := h.src.split(id)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		var batches [][]ddRow
		for _, line := range strings.Split(d.Input, "\n") {
			bs, err := ddParseBatches(line)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			batches = append(batches, bs...)
		}
		for _, b := range batches {
			if err := sp.release(ddRecord(t, h.src.schema, b)); err != nil {
				d.Fatalf(t, "%v", err)
			}
		}
	case "advance":
		if len(d.CmdArgs) != 1 {
			d.Fatalf(t, "advance <duration>")
		}
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		time.Sleep(dur)
	case "end":
		var id string
		d.ScanArgs(t, "split", &id)
		sp, err := h.src.split(id)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		sp.end()
	case "counters":
		synctest.Wait()
		return ddCountersLine(h.run.job, h.aggs)
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	synctest.Wait()
	return h.report()
}

func (h *ddIdle) start(t *testing.T, d *datadriven.TestData) error {
	splits, srcPar, par := 1, 1, 1
	d.MaybeScanArgs(t, "splits", &splits)
	d.MaybeScanArgs(t, "source-parallelism", &srcPar)
	d.MaybeScanArgs(t, "parallelism", &par)
	live := true
	d.MaybeScanArgs(t, "live", &live)
	spec := dataflow.SourceSpec{EventTime: "ts", Live: live, Parallelism: srcPar}
	if d.HasArg("delay") {
		spec.Watermarks.Delay = ddDurationArg(t, d, "delay")
	}
	if d.HasArg("idle-timeout") {
		spec.Watermarks.IdleTimeout = ddDurationArg(t, d, "idle-timeout")
	}
	var retention time.Duration
	if d.HasArg("retention") {
		retention = ddDurationArg(t, d, "retention")
	}
	stages, err := ddParseStages(d.Input)
	if err != nil {
		return err
	}
	h.src = newDDLiveSource("s", ddSchema(nil), splits)
	spec.Source = h.src
	g := dataflow.NewGraph(par)
	in := g.Source("src", spec)
	s := in
	h.aggs = nil
	for i, st := range stages {
		ws := ddWindowSpec(st)
		ws.Retention = retention
		name := fmt.Sprintf("agg%d", i+1)
		h.aggs = append(h.aggs, name)
		s = s.KeyBy(ddPartitionKeys(st)...).WindowAggregate(name, par, ws)
	}
	h.out = ddCollect(s, "out")
	h.late = ddCollect(in.Late(), "late")
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		return err
	}
	h.run, h.reported, h.sorted = ddStart(job), false, par > 1
	return nil
}

// report prints what reached the sinks since the last report.
func (h *ddIdle) report() string {
	var b strings.Builder
	if h.sorted {
		b.WriteString(h.out.nextSorted())
	} else {
		b.WriteString(h.out.next())
	}
	for _, line := range strings.Split(h.late.nextSorted(), "\n") {
		if strings.HasPrefix(line, "+ ") {
			fmt.Fprintf(&b, "late %s\n", strings.TrimPrefix(line, "+ "))
		}
	}
	if done, err := h.run.finished(); done && !h.reported {
		h.reported = true
		if err != nil {
			fmt.Fprintf(&b, "job failed: %v\n", err)
		} else {
			b.WriteString("job finished\n")
		}
	}
	if b.Len() == 0 {
		return "(nothing)\n"
	}
	return b.String()
}

// ddCountersLine prints the counters of the source "src" and the aggregates.
func ddCountersLine(job *dataflow.Job, aggs []string) string {
	src, agg := ddSum(job, "src"), ddSum(job, aggs...)
	return fmt.Sprintf("source: late=%d future=%d null_time=%d\nwindows: retention=%d updates=%d\n",
		src.late, src.future, src.nullTime, agg.retention, agg.updates)
}

// ddWindowSpec is the aggregate spec of a stage.
func ddWindowSpec(st ddStage) dataflow.WindowAggSpec {
	spec := dataflow.WindowAggSpec{Keys: st.keys, Aggs: st.aggs}
	if st.fromColumns {
		spec.FromColumns = true
	} else {
		spec.TimeColumn, spec.Window = "ts", st.window
	}
	return spec
}

// ddPartitionKeys are the columns a stage's input is hashed by.
func ddPartitionKeys(st ddStage) []string {
	if st.fromColumns {
		return append(append([]string(nil), st.keys...), dataflow.WindowStartColumn, dataflow.WindowEndColumn)
	}
	return st.keys
}
