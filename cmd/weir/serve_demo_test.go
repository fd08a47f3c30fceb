package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/notebooks"
	"github.com/weirdata/weir/query"
)

// firstRows counts a run's result rows and, for a live run, stops it once
// rows arrive.
type firstRows struct {
	mu     sync.Mutex
	rows   int
	schema *arrow.Schema
	stop   context.CancelCauseFunc
}

var errGotRows = errors.New("got rows")

func (f *firstRows) Schema(_ int, s *arrow.Schema) error { f.schema = s; return nil }
func (f *firstRows) Rows(_ int, b dataflow.Batch) error {
	f.mu.Lock()
	f.rows += b.Len()
	f.mu.Unlock()
	if f.stop != nil && b.Len() > 0 {
		f.stop(errGotRows)
	}
	return nil
}
func (f *firstRows) Progress(int, query.Progress) error { return nil }
func (f *firstRows) Done(int, query.Done) error         { return nil }

// Every cell of every demo notebook runs on a demo workspace: backfill
// cells to completion with rows, live cells until their first rows. So
// the demo notebooks cannot ship broken. The history is shorter than
// serve's hour (15 minutes) to keep the test quick; the cells refer to
// the history's bounds, whatever its length.
func TestDemoNotebooksRun(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	eng, err := openEngine(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	nbs, err := notebooks.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = nbs.Close() }()
	var out bytes.Buffer
	now := time.Now()
	st, err := setupDemo(ctx, ws, eng, nbs, now, 15*time.Minute, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "first start: writing the demo Nexmark history") || strings.Count(out.String(), "wrote the demo notebook") != 3 {
		t.Fatalf("first start printed:\n%s", out.String())
	}
	if st.End.Sub(st.Base) != 15*time.Minute || st.Base.Second() != 0 || st.End.After(now) {
		t.Fatalf("demo state %+v (now %s)", st, now)
	}
	// A restart reuses the history and writes nothing.
	out.Reset()
	eng2, err := openEngine(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := setupDemo(ctx, ws, eng2, nbs, now.Add(time.Hour), time.Hour, &out)
	if err != nil || st2 != st || out.Len() != 0 {
		t.Fatalf("restart: %+v, %v, printed %q", st2, err, out.String())
	}
	if bids, ok := eng2.Catalog.Table("bids"); !ok || !strings.Contains(bids.Live, "base="+st.Base.Format(time.RFC3339)) || !strings.HasPrefix(bids.History, "file://") {
		t.Fatalf("bids table %+v", bids)
	}
	if _, err := os.Stat(filepath.Join(st.History, "bids")); err != nil {
		t.Fatal(err)
	}

	type cellRun struct {
		name string
		cell notebooks.Cell
	}
	var cells []cellRun
	for _, name := range notebooks.DemoNames() {
		nb, err := nbs.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		sql := 0
		for _, c := range nb.Cells {
			if c.Kind == notebooks.KindSQL {
				cells = append(cells, cellRun{name + "/" + c.ID, c})
				sql++
			}
		}
		if sql == 0 {
			t.Fatalf("demo %s has no SQL cell", name)
		}
	}
	var wg sync.WaitGroup
	for _, c := range cells {
		wg.Go(func() {
			mode, err := query.ParseMode(c.cell.Mode)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				return
			}
			opts := query.RunOptions{Mode: mode, Parallelism: 2}
			for _, tm := range []struct {
				s    string
				into *time.Time
			}{{c.cell.From, &opts.From}, {c.cell.To, &opts.To}} {
				if tm.s != "" {
					if *tm.into, err = time.Parse(time.RFC3339, tm.s); err != nil {
						t.Errorf("%s: %v", c.name, err)
						return
					}
				}
			}
			sink := &firstRows{}
			runCtx, cancel := context.WithTimeoutCause(ctx, 40*time.Second, errors.New("no rows within 40 s"))
			defer cancel()
			if mode == query.Live {
				runCtx, sink.stop = context.WithCancelCause(runCtx)
			}
			err = eng2.Execute(runCtx, c.cell.Source, opts, sink)
			if mode == query.Live && errors.Is(context.Cause(runCtx), errGotRows) {
				err = nil
			}
			if err != nil {
				t.Errorf("%s (%s): %v", c.name, c.cell.Mode, err)
				return
			}
			if sink.rows == 0 {
				t.Errorf("%s (%s): no rows", c.name, c.cell.Mode)
			}
			if ch := c.cell.Chart; ch != nil && ch.X != "" {
				for _, col := range append([]string{ch.X}, ch.Y...) {
					if sink.schema == nil || len(sink.schema.FieldIndices(col)) != 1 {
						t.Errorf("%s: the chart names column %q, the result has %v", c.name, col, sink.schema)
					}
				}
			}
		})
	}
	wg.Wait()

	// "Same query, backfill and live": the live run from T0 gives the
	// backfill's windows, row for row.
	vs, err := nbs.Get("backfill-vs-live")
	if err != nil {
		t.Fatal(err)
	}
	bf, live := vs.Cells[1], vs.Cells[2]
	if bf.Source != live.Source || bf.From != live.From || bf.Mode != "backfill" || live.Mode != "live" {
		t.Fatalf("cells %+v %+v", bf, live)
	}
	from, _ := time.Parse(time.RFC3339, bf.From)
	to, _ := time.Parse(time.RFC3339, bf.To)
	windows := func(mode query.Mode) map[string]string {
		t.Helper()
		sink := &windowRows{want: int(to.Sub(from) / time.Minute), to: to, rows: map[string]string{}}
		runCtx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		runCtx, sink.stop = context.WithCancelCause(runCtx)
		opts := query.RunOptions{Mode: mode, From: from, Parallelism: 2}
		if mode == query.Backfill {
			opts.To = to
		}
		err := eng2.Execute(runCtx, bf.Source, opts, sink)
		if err != nil && !errors.Is(context.Cause(runCtx), errGotRows) {
			t.Fatalf("%s: %v", mode, err)
		}
		return sink.rows
	}
	b, l := windows(query.Backfill), windows(query.Live)
	if len(b) != 10 || len(l) != 10 {
		t.Fatalf("backfill has %d windows, live %d", len(b), len(l))
	}
	for w, row := range b {
		if l[w] != row {
			t.Errorf("window %s: backfill %s, live %s", w, row, l[w])
		}
	}
}

// windowRows keeps the rows of windows that start before to (by their
// first column, window_start) and stops the run when it has want of them.
type windowRows struct {
	mu   sync.Mutex
	want int
	to   time.Time
	rows map[string]string
	stop context.CancelCauseFunc
}

func (w *windowRows) Schema(int, *arrow.Schema) error { return nil }
func (w *windowRows) Rows(_ int, b dataflow.Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for r := 0; r < b.Len(); r++ {
		start, _ := query.JSONValue(b.Rec.Column(0), r).(string)
		ts, err := time.Parse(time.RFC3339Nano, start)
		if err != nil || !ts.Before(w.to) {
			continue
		}
		var vals []string
		for c := 1; c < int(b.Rec.NumCols()); c++ {
			vals = append(vals, b.Rec.Column(c).ValueStr(r))
		}
		w.rows[start] = b.Op(r).String() + strings.Join(vals, ",")
	}
	if len(w.rows) >= w.want {
		w.stop(errGotRows)
	}
	return nil
}
func (w *windowRows) Progress(int, query.Progress) error { return nil }
func (w *windowRows) Done(int, query.Done) error         { return nil }
