package dataflow

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// sourceRunner is the head of a source task: it reads the subtask's splits
// (one goroutine per open split), decides lateness and watermarks per split,
// and pushes batches, watermarks, idle markers and barriers into its chain.
type sourceRunner struct {
	spec     *SourceSpec
	node     *Node
	subtask  int
	splits   []Split
	states   []SplitState
	gens     []*watermark.Split
	tracker  *watermark.Tracker
	barriers chan Barrier
	metrics  *OperatorMetrics
	job      *Job
	finished atomic.Bool // it takes no more barriers (see Job.Checkpoint)

	convIn, convOut *arrow.Schema // event-time unit conversion, see withMicros

	verdicts []watermark.Verdict
	onTime   []int32
	late     []int32
}

type splitItem struct {
	split int
	rec   arrow.RecordBatch
	pos   Position
	bound watermark.Time // TimeBounded's bound after rec, or MinTime
	err   error
}

func (r *sourceRunner) run(ctx context.Context, t *task) error {
	n := len(r.splits)
	r.tracker = watermark.NewTracker(n)
	r.metrics.SplitsTotal.Store(int64(n))
	if n == 0 {
		// Splits are enumerated once, when the job starts, so a subtask
		// without any has nothing to wait for: it ends, and its +inf holds
		// no window back. (Sources that discover splits later, such as
		// Kafka partitions, will keep such subtasks alive instead.)
		r.finished.Store(true)
		return t.end(ctx)
	}
	maxOpen := r.spec.MaxOpenSplits
	if maxOpen <= 0 {
		maxOpen = 4
		if r.spec.Live {
			maxOpen = n
		}
	}

	feed := make(chan splitItem, 2*min(maxOpen, n)+1)
	readCtx, stopReaders := context.WithCancel(ctx)
	defer stopReaders()
	started, open := 0, 0
	startNext := func() {
		for open < maxOpen && started < n {
			i := started
			started++
			if r.states[i].Done {
				r.finishSplit(i)
				continue
			}
			open++
			go r.read(readCtx, i, feed)
		}
	}
	startNext()

	var idleTick <-chan time.Time
	lastActive := make([]time.Time, n)
	idleTimeout := r.spec.Watermarks.IdleTimeout
	if r.spec.Live && idleTimeout > 0 {
		tick := max(idleTimeout/4, time.Millisecond)
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		idleTick = ticker.C
		now := time.Now()
		for i := range lastActive {
			lastActive[i] = now
		}
	}
	idleSent := false

	for done := r.finishedCount(); done < n; done = r.finishedCount() {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case b := <-r.barriers:
			if err := r.barrier(ctx, t, b); err != nil {
				return err
			}
		case now := <-idleTick:
			advanced := false
			for i := range lastActive {
				if !r.states[i].Done && !r.tracker.Idle(i) && now.Sub(lastActive[i]) >= idleTimeout {
					_, adv := r.tracker.SetIdle(i)
					advanced = advanced || adv
				}
			}
			if advanced {
				if err := t.watermark(ctx, r.tracker.Current()); err != nil {
					return err
				}
			}
			if !idleSent && r.tracker.AllIdle() {
				idleSent = true
				if err := t.idle(); err != nil {
					return err
				}
			}
		case it := <-feed:
			if it.err != nil {
				if !isEOF(it.err) {
					return fmt.Errorf("source %q: split %s: %w", r.node.Name, r.splits[it.split].ID(), it.err)
				}
				open--
				r.finishSplit(it.split)
				startNext()
				// finishSplit moved the tracker (the ended split holds +inf
				// now); forward what it advanced to. t.watermark ignores a
				// watermark it has sent already.
				if w := r.tracker.Current(); w != watermark.MaxTime {
					if err := t.watermark(ctx, w); err != nil {
						return err
					}
				}
				continue
			}
			r.states[it.split].Position = it.pos
			if it.rec.NumRows() > 0 {
				if idleTick != nil {
					lastActive[it.split] = time.Now()
				}
				idleSent = false
				if err := r.deliver(ctx, t, it.split, it.rec); err != nil {
					return err
				}
			}
			if w, adv := r.tracker.Update(it.split, max(r.gens[it.split].Watermark(), it.bound)); adv {
				if err := t.watermark(ctx, w); err != nil {
					return err
				}
			} else if r.tracker.Idle(it.split) {
				r.tracker.SetActive(it.split)
			}
		}
	}
	r.finished.Store(true)
	r.job.coord.sourceFinished(r.splitStates())
	return t.end(ctx)
}

func (r *sourceRunner) finishedCount() int {
	n := 0
	for _, s := range r.states {
		if s.Done {
			n++
		}
	}
	return n
}

func (r *sourceRunner) finishSplit(i int) {
	r.states[i].Done = true
	r.tracker.Update(i, watermark.MaxTime)
	r.metrics.SplitsDone.Add(1)
}

// read runs in its own goroutine: it reads split i into feed until the end,
// an error, or cancellation.
func (r *sourceRunner) read(ctx context.Context, i int, feed chan<- splitItem) {
	send := func(it splitItem) bool {
		select {
		case feed <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	rd, err := r.splits[i].Open(ctx, r.states[i].Position)
	if err != nil {
		send(splitItem{split: i, err: err})
		return
	}
	defer func() { _ = rd.Close() }() // a read-only reader has nothing to flush
	bounded, _ := rd.(TimeBounded)
	for {
		rec, pos, err := rd.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			send(splitItem{split: i, err: err})
			return
		}
		it := splitItem{split: i, rec: rec, pos: pos, bound: watermark.MinTime}
		if bounded != nil {
			it.bound = bounded.NextTimeBound()
		}
		if !send(it) {
			return
		}
	}
}

// deliver decides lateness for a batch of split i and pushes its on-time
// rows to the main output and the rest to the late side output.
func (r *sourceRunner) deliver(ctx context.Context, t *task, i int, rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	r.metrics.RowsIn.Add(int64(n))
	if r.spec.EventTime == "" {
		return t.emit(ctx, 0, "", Inserts(rec))
	}
	col, err := ColumnIndex(rec.Schema(), r.spec.EventTime)
	if err != nil {
		return fmt.Errorf("source %q: event time: %w", r.node.Name, err)
	}
	ts, err := eventTimes(rec.Column(col))
	if err != nil {
		return fmt.Errorf("source %q: event time column %q: %w", r.node.Name, r.spec.EventTime, err)
	}
	if r.spec.hasRange() {
		if rec, ts, err = r.clip(rec, col, ts); err != nil || rec == nil {
			return err
		}
		n = int(rec.NumRows())
	}
	if cap(r.verdicts) < n {
		r.verdicts = make([]watermark.Verdict, n)
	}
	v := r.verdicts[:n]
	var valid func(int) bool
	if rec.Column(col).NullN() > 0 {
		valid = rec.Column(col).IsValid
	}
	if r.gens[i].Observe(ts, valid, v) == 0 {
		if !isMicros(rec.Column(col)) {
			rec = r.withMicros(rec, col, ts)
		}
		return t.emit(ctx, 0, "", Inserts(rec))
	}
	r.onTime, r.late = r.onTime[:0], r.late[:0]
	for j, vj := range v {
		switch vj {
		case watermark.OnTime:
			r.onTime = append(r.onTime, int32(j))
			continue
		case watermark.Late:
			r.metrics.LateRows.Add(1)
		case watermark.Future:
			r.metrics.FutureRows.Add(1)
		case watermark.NullTime:
			r.metrics.NullTimeRows.Add(1)
		}
		r.late = append(r.late, int32(j))
	}
	if !isMicros(rec.Column(col)) {
		rec = r.withMicros(rec, col, ts)
	}
	if len(r.onTime) > 0 {
		on, err := columnar.TakeRecord(rec, r.onTime)
		if err != nil {
			return err
		}
		if err := t.emit(ctx, 0, "", Inserts(on)); err != nil {
			return err
		}
	}
	late, err := columnar.TakeRecord(rec, r.late)
	if err != nil {
		return err
	}
	return t.emit(ctx, 0, LatePort, Inserts(late))
}

// clip keeps the rows of rec whose event time is in [From, To) (nil when
// none is). Rows with a NULL event time stay, to be counted as such.
func (r *sourceRunner) clip(rec arrow.RecordBatch, col int, ts []int64) (arrow.RecordBatch, []int64, error) {
	from, to := int64(r.spec.From), int64(r.spec.To)
	if from == 0 {
		from = int64(watermark.MinTime)
	}
	if to == 0 {
		to = int64(watermark.MaxTime)
	}
	tcol := rec.Column(col)
	keep := r.onTime[:0]
	for i, t := range ts {
		if (t >= from && t < to) || tcol.IsNull(i) {
			keep = append(keep, int32(i))
		}
	}
	r.onTime = keep
	switch len(keep) {
	case 0:
		return nil, nil, nil
	case len(ts):
		return rec, ts, nil
	}
	out, err := columnar.TakeRecord(rec, keep)
	if err != nil {
		return nil, nil, err
	}
	kept := make([]int64, len(keep))
	for i, j := range keep {
		kept[i] = ts[j]
	}
	return out, kept, nil
}

// barrier records the split positions for checkpoint b and sends it on.
func (r *sourceRunner) barrier(ctx context.Context, t *task, b Barrier) error {
	r.job.coord.sourceSnapshot(b.ID, r.splitStates())
	return t.barrier(ctx, b, 0)
}

// splitStates returns what a checkpoint saves of the subtask's splits.
func (r *sourceRunner) splitStates() map[string]SplitState {
	states := make(map[string]SplitState, len(r.splits))
	for i, s := range r.splits {
		st := r.states[i]
		st.Max = r.gens[i].State()
		states[s.ID()] = st
	}
	return states
}

// eventTimes returns a timestamp column as microseconds (a view when it is
// already in microseconds, a converted copy otherwise).
func eventTimes(col arrow.Array) ([]int64, error) {
	tt, ok := col.DataType().(*arrow.TimestampType)
	if !ok {
		if col.DataType().ID() == arrow.INT64 {
			return columnar.Int64Values(col), nil
		}
		return nil, fmt.Errorf("type %s is not a timestamp", col.DataType())
	}
	vals := columnar.Int64Values(col)
	switch tt.Unit {
	case arrow.Microsecond:
		return vals, nil
	case arrow.Millisecond:
		return scale(vals, func(v int64) int64 { return v * 1000 }), nil
	case arrow.Second:
		return scale(vals, func(v int64) int64 { return v * 1_000_000 }), nil
	case arrow.Nanosecond:
		return scale(vals, func(v int64) int64 { return floorDiv(v, 1000) }), nil
	}
	return nil, fmt.Errorf("unknown timestamp unit %s", tt.Unit)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func scale(vals []int64, f func(int64) int64) []int64 {
	out := make([]int64, len(vals))
	for i, v := range vals {
		out[i] = f(v)
	}
	return out
}

func isMicros(col arrow.Array) bool {
	tt, ok := col.DataType().(*arrow.TimestampType)
	return !ok || (tt.Unit == arrow.Microsecond && tt.TimeZone == "UTC")
}

// withMicros replaces column col with UTC microsecond timestamps, so that
// every operator downstream sees one event-time representation.
// The converted schema is made once per input schema, so that operators
// downstream, which cache column lookups by schema, keep hitting their cache.
func (r *sourceRunner) withMicros(rec arrow.RecordBatch, col int, ts []int64) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	copy(cols, rec.Columns())
	src := rec.Column(col)
	cols[col] = columnar.Fixed(columnar.TimestampType, ts, validityOf(src), src.NullN())
	if r.convIn != rec.Schema() {
		fields := append([]arrow.Field(nil), rec.Schema().Fields()...)
		fields[col].Type = columnar.TimestampType
		md := rec.Schema().Metadata()
		r.convIn, r.convOut = rec.Schema(), arrow.NewSchema(fields, &md)
	}
	return array.NewRecordBatch(r.convOut, cols, rec.NumRows())
}

func validityOf(a arrow.Array) []byte {
	if a.NullN() == 0 {
		return nil
	}
	bits := make([]byte, (a.Len()+7)/8)
	for i := 0; i < a.Len(); i++ {
		if a.IsValid(i) {
			bits[i>>3] |= 1 << (i & 7)
		}
	}
	return bits
}
