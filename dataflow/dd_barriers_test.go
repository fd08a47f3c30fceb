package dataflow_test

// Barrier alignment scripts (testdata/barriers): two controllable sources,
// a and b, feed the two inputs of a recording operator through real
// exchanges; source b passes through a valve (chained to it) that the script
// can close to hold b's batches — and the barrier behind them — back. The
// whole script runs in a testing/synctest bubble, and every command waits
// until the job has nothing left to do, so the order the recorder sees is
// deterministic. Regenerate with `go test ./dataflow -run TestBarrierScripts
// -args -rewrite`.
//
//	job a=1 b=1 [b-parallelism=1]         a and b splits (one source subtask per split,
//	    [delay=0s] [watermarks]           unless b-parallelism says otherwise)
//	emit split=a/0                        release batches (rows as in the window scripts)
//	k=1@1s | k=2@2s
//	valve close / valve open              hold / pass source b's batches
//	checkpoint [count=1]                  trigger Job.Checkpoint in the background
//	                                      (count times, one after the other)
//	end split=b/0                         end a split
//
// Each command prints what the recorder did since the last one: "a: rows"
// or "b: rows" for a batch on input 0 or 1 (rows as k@time), "snapshot n"
// when checkpoint n's barrier was aligned on every input, "watermark t" (with
// the watermarks flag), "finish"; the valve prints what it holds. Then each
// checkpoint that completed, with its split positions (batches read) and
// saved maxima.
//
// Do not release batches to a split of b while the valve holds a batch and
// a checkpoint is pending: the source would then have a barrier and a batch
// ready at once and pick either.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/cockroachdb/datadriven"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/watermark"
)

func TestBarrierScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/barriers", func(t *testing.T, path string) {
		synctest.Test(t, func(t *testing.T) {
			h := &ddBarriers{}
			defer h.stop()
			datadriven.RunTest(t, path, h.cmd)
		})
	})
}

type ddBarriers struct {
	a, b     *ddLiveSource
	run      *ddRunning
	log      *ddLog
	valve    *ddValve
	pending  []*ddPendingCheckpoint
	reported bool
	ctx      context.Context // of pending checkpoints
	cancel   context.CancelFunc
}

func (h *ddBarriers) stop() {
	if h.cancel != nil {
		h.cancel()
	}
	h.run.stop()
}

type ddPendingCheckpoint struct {
	done chan struct{}
	cp   *dataflow.Checkpoint
	err  error
}

// ddLog is the recorder's and the valve's shared log.
type ddLog struct {
	mu    sync.Mutex
	lines []string
	read  int
}

func (l *ddLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *ddLog) next() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines[l.read:]
	l.read = len(l.lines)
	return out
}

func (h *ddBarriers) cmd(t *testing.T, d *datadriven.TestData) string {
	if d.Cmd == "job" {
		h.stop()
		return h.start(t, d)
	}
	if h.run == nil {
		d.Fatalf(t, "%s before job", d.Cmd)
	}
	switch d.Cmd {
	case "emit", "end":
		var id string
		d.ScanArgs(t, "split", &id)
		src := h.a
		if strings.HasPrefix(id, "b/") {
			src = h.b
		}
		sp, err := src.split(id)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		if d.Cmd == "end" {
			sp.end()
			break
		}
		for _, line := range strings.Split(d.Input, "\n") {
			batches, err := ddParseBatches(line)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			for _, b := range batches {
				if err := sp.release(ddRecord(t, src.schema, b)); err != nil {
					d.Fatalf(t, "%v", err)
				}
			}
		}
	case "valve":
		if len(d.CmdArgs) != 1 {
			d.Fatalf(t, "valve open|close")
		}
		switch d.CmdArgs[0].Key {
		case "open":
			h.valve.open()
		case "close":
			h.valve.close()
		default:
			d.Fatalf(t, "valve open|close")
		}
	case "checkpoint":
		count := 1
		d.MaybeScanArgs(t, "count", &count)
		for i := 0; i < count; i++ {
			p := &ddPendingCheckpoint{done: make(chan struct{})}
			h.pending = append(h.pending, p)
			go func() {
				p.cp, p.err = h.run.job.Checkpoint(h.ctx, false)
				close(p.done)
			}()
			synctest.Wait()
		}
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	synctest.Wait()
	return h.report()
}

func (h *ddBarriers) start(t *testing.T, d *datadriven.TestData) string {
	na, nb := 1, 1
	d.MaybeScanArgs(t, "a", &na)
	d.MaybeScanArgs(t, "b", &nb)
	pb := nb
	d.MaybeScanArgs(t, "b-parallelism", &pb)
	var strategy watermark.Strategy
	if d.HasArg("delay") {
		strategy.Delay = ddDurationArg(t, d, "delay")
	}
	schema := ddSchema(nil)
	h.a, h.b = newDDLiveSource("a", schema, na), newDDLiveSource("b", schema, nb)
	h.log, h.valve, h.pending, h.reported = &ddLog{}, &ddValve{}, nil, false
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.valve.log = h.log
	g := dataflow.NewGraph(1)
	a := g.Source("a", dataflow.SourceSpec{Source: h.a, EventTime: "ts", Watermarks: strategy, Parallelism: na})
	b := g.Source("b", dataflow.SourceSpec{Source: h.b, EventTime: "ts", Watermarks: strategy, Parallelism: pb}).
		Apply("valve", pb, func() dataflow.Operator { return &ddValveOp{v: h.valve} })
	watermarks := d.HasArg("watermarks")
	g.Connect("recorder", 1, func() dataflow.Operator { return &ddRecorder{log: h.log, watermarks: watermarks} }, a, b)
	job, err := dataflow.NewJob(g, dataflow.JobOptions{})
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	h.run = ddStart(job)
	synctest.Wait()
	return g.String() + h.report()
}

func (h *ddBarriers) report() string {
	var b strings.Builder
	for _, line := range h.log.next() {
		b.WriteString(line + "\n")
	}
	// Consecutive outcomes that print the same are merged into one line.
	var outcomes []string
	var first, last int64
	flush := func() {
		if len(outcomes) == 0 {
			return
		}
		if first == last {
			fmt.Fprintf(&b, "checkpoint %d %s\n", first, outcomes[0])
		} else {
			fmt.Fprintf(&b, "checkpoints %d-%d %s\n", first, last, outcomes[0])
		}
		outcomes = outcomes[:0]
	}
	kept := h.pending[:0]
	for _, p := range h.pending {
		select {
		case <-p.done:
			var s strings.Builder
			id := int64(0)
			if p.err != nil {
				fmt.Fprintf(&s, "failed: %v", p.err)
			} else {
				id = p.cp.ID
				s.WriteString("complete:")
				ids := make([]string, 0, len(p.cp.Splits))
				for id := range p.cp.Splits {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				for _, id := range ids {
					st := p.cp.Splits[id]
					fmt.Fprintf(&s, " %s@%d(max %s", id, st.Position, ddSecs(int64(st.Max)))
					if st.Done {
						s.WriteString(", done")
					}
					s.WriteString(")")
				}
			}
			if len(outcomes) > 0 && (s.String() != outcomes[0] || id == 0 || id != last+1) {
				flush()
			}
			if len(outcomes) == 0 {
				first = id
			}
			last = id
			outcomes = append(outcomes, s.String())
		default:
			kept = append(kept, p)
		}
	}
	flush()
	h.pending = kept
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

// ddRecorder logs what it sees on each input, and its snapshots.
type ddRecorder struct {
	dataflow.BaseOperator
	log        *ddLog
	watermarks bool
}

var _ dataflow.Snapshotter = (*ddRecorder)(nil)

func (o *ddRecorder) ProcessBatch(_ context.Context, input int, b dataflow.Batch) error {
	o.log.add("%c: %s", 'a'+input, ddShortRows(b))
	return nil
}

func (o *ddRecorder) ProcessWatermark(_ context.Context, w watermark.Time) error {
	if o.watermarks {
		o.log.add("watermark %s", ddSecs(int64(w)))
	}
	return nil
}

func (o *ddRecorder) SnapshotState(_ context.Context, b dataflow.Barrier) error {
	o.log.add("snapshot %d", b.ID)
	return nil
}

func (o *ddRecorder) Finish(context.Context) error {
	o.log.add("finish")
	return nil
}

// ddShortRows prints a batch's rows as k@time.
func ddShortRows(b dataflow.Batch) string {
	var parts []string
	for r := 0; r < b.Len(); r++ {
		parts = append(parts, ddValue(b.Rec.Column(0), r)+"@"+ddValue(b.Rec.Column(1), r))
	}
	return strings.Join(parts, " ")
}

// ddValve holds the batches passing it while it is closed.
type ddValve struct {
	mu     sync.Mutex
	closed chan struct{} // nil while open; closed (the channel) to open the valve
	log    *ddLog
}

func (v *ddValve) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed == nil {
		v.closed = make(chan struct{})
	}
}

func (v *ddValve) open() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed != nil {
		close(v.closed)
		v.closed = nil
	}
}

type ddValveOp struct {
	dataflow.BaseOperator
	v *ddValve
}

func (o *ddValveOp) ProcessBatch(ctx context.Context, _ int, b dataflow.Batch) error {
	o.v.mu.Lock()
	wait := o.v.closed
	o.v.mu.Unlock()
	if wait != nil {
		o.v.log.add("valve holds %s", ddShortRows(b))
		select {
		case <-wait:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return o.TC.Out.Emit(ctx, b)
}
