package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/parquet-go/parquet-go"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/internal/columnar"
	"github.com/weirdata/weir/watermark"
)

// reader reads one file (one split) in row order.
//
// It plans the file's units on the first Next, then runs a pipeline: a
// scheduler goroutine admits units in order (at most Prefetch.Units ahead of
// the one being returned, within the source's byte budget) and starts a
// worker per unit, which fetches the unit's pages and decodes them into
// batches, holding one of the source's decode tokens while it decodes. Each
// unit has its own channel of batches, and Next drains the channels in unit
// order: decoding is parallel, the output is in file order.
type reader struct {
	src *Source
	f   *fileMeta
	pos int64 // the first row to return

	cols      []int // the file columns decoded (indexes into f.schema.cols)
	slot      []int // merged field → index into cols, or -1
	fields    []int // index into cols → merged field
	indexCols []int // file columns whose column index is read
	preds     []*boundPred
	none      bool // no row can match (NoPushdown, or a filter on a missing column)

	units    []unit
	suffix   []watermark.Time // suffix[i]: minimum event time of units i...
	from     watermark.Time   // the event-time range's lower bound
	doneRows int64

	ctx     context.Context
	cancel  context.CancelCauseFunc
	wg      sync.WaitGroup
	started bool
	queue   chan *unitOut
	slots   chan struct{}
	held    atomic.Int64 // budget held by this reader's units

	cur      *unitOut
	curIdx   int  // index of the unit being returned
	curLast  bool // the last batch returned ended unit curIdx
	lastPos  int64
	finished bool

	constMu sync.Mutex
	consts  map[int]arrow.Array // constant columns (partitions, missing), batchRows long
}

// unitOut is the output of one unit: its batches, in order.
type unitOut struct {
	u      *unit
	idx    int
	items  chan item
	budget int64
}

type item struct {
	rec  arrow.RecordBatch
	pos  int64
	last bool
	err  error
}

var errClosed = errors.New("split reader closed")

var (
	_ dataflow.SplitReader = (*reader)(nil)
	_ dataflow.TimeBounded = (*reader)(nil)
)

func newReader(ctx context.Context, s *Source, f *fileMeta, pos int64) *reader {
	r := &reader{src: s, f: f, pos: pos, consts: map[int]arrow.Array{}, from: watermark.MinTime}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	r.slot = make([]int, s.schema.NumFields())
	for i := range r.slot {
		r.slot[i] = -1
	}
	r.cols = s.neededCols(f)
	r.fields = make([]int, len(r.cols))
	for i, c := range r.cols {
		for field, fc := range f.cols {
			if fc == c {
				r.slot[field], r.fields[i] = i, field
			}
		}
	}
	seen := map[int]bool{}
	for _, p := range s.preds {
		if p.part {
			v := f.parts[p.field-s.fileFields]
			if !p.matchConst(v.s, v.null) {
				r.none = true
			}
			continue
		}
		c := f.cols[p.field]
		if c < 0 {
			if !p.matchConst(scalar{}, true) {
				r.none = true
			}
			continue
		}
		r.preds = append(r.preds, p)
		if !seen[c] {
			seen[c] = true
			r.indexCols = append(r.indexCols, c)
		}
	}
	if s.eventField >= 0 {
		if c := f.cols[s.eventField]; c >= 0 && !seen[c] {
			r.indexCols = append(r.indexCols, c)
		}
		if from := s.opts.Filter.From; !from.IsZero() {
			r.from = watermark.Time(from.Unix()*1_000_000 + int64(from.Nanosecond())/1000)
		}
	}
	return r
}

// start plans the units and starts the scheduler.
func (r *reader) start(ctx context.Context) error {
	r.started = true
	if !r.none {
		if err := r.planSafely(ctx); err != nil {
			return err
		}
	}
	r.src.progress.RowsDone.Add(r.doneRows)
	if r.none {
		var all int64
		for _, rg := range r.f.rgs {
			if rg.keep {
				all += rg.rows
			}
		}
		r.src.progress.RowsDone.Add(all - r.doneRows)
		r.units = nil
	}
	r.suffix = make([]watermark.Time, len(r.units)+1)
	r.suffix[len(r.units)] = watermark.MaxTime
	for i := len(r.units) - 1; i >= 0; i-- {
		r.suffix[i] = min(r.units[i].min, r.suffix[i+1])
	}
	ahead := r.src.opts.Prefetch.Units
	r.queue = make(chan *unitOut, ahead+1)
	r.slots = make(chan struct{}, ahead+1)
	r.wg.Add(1)
	go r.schedule()
	return nil
}

func (r *reader) planSafely(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: planning the read panicked: %v", ErrCorrupt, p)
		}
	}()
	return r.plan(ctx)
}

// schedule admits the units in order.
func (r *reader) schedule() {
	defer r.wg.Done()
	defer close(r.queue)
	for i := range r.units {
		u := &r.units[i]
		select {
		case r.slots <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		need := u.bytes + u.size
		if err := r.src.budget.acquire(r.ctx, need, r.held.Load()); err != nil {
			return
		}
		r.held.Add(need)
		batches := int((total(u.ranges) + int64(r.src.batchRows) - 1) / int64(r.src.batchRows))
		out := &unitOut{u: u, idx: i, items: make(chan item, min(batches, 4096)+1), budget: need}
		r.queue <- out // never blocks: the slots bound the queue
		r.wg.Add(1)
		go r.work(out)
	}
}

// Next implements dataflow.SplitReader.
func (r *reader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	if !r.started {
		if err := r.start(ctx); err != nil {
			return nil, 0, r.wrap(err)
		}
	}
	for {
		if r.cur == nil {
			select {
			case u, ok := <-r.queue:
				if !ok {
					if err := context.Cause(r.ctx); err != nil {
						return nil, 0, err
					}
					if !r.finished {
						r.finished = true
						r.src.progress.SplitsDone.Add(1)
					}
					return nil, dataflow.Position(r.f.rows), io.EOF
				}
				r.cur, r.curIdx, r.curLast = u, u.idx, false
				r.lastPos = u.u.start
			case <-ctx.Done():
				return nil, 0, context.Cause(ctx)
			}
		}
		select {
		case it, ok := <-r.cur.items:
			if !ok {
				r.src.progress.RowsDone.Add(r.cur.u.end - r.lastPos)
				r.lastPos = r.cur.u.end
				r.release(r.cur.budget)
				<-r.slots
				r.cur, r.curLast = nil, true
				continue
			}
			if it.err != nil {
				return nil, 0, r.wrap(it.err)
			}
			r.src.progress.RowsDone.Add(it.pos - r.lastPos)
			r.src.progress.RowsOut.Add(it.rec.NumRows())
			r.lastPos, r.curLast = it.pos, it.last
			return it.rec, dataflow.Position(it.pos), nil
		case <-ctx.Done():
			return nil, 0, context.Cause(ctx)
		}
	}
}

func (r *reader) release(n int64) {
	r.held.Add(-n)
	r.src.budget.release(n)
}

func (r *reader) wrap(err error) error {
	return fmt.Errorf("%s: %w", r.f.name, err)
}

// NextTimeBound implements dataflow.TimeBounded: the smallest event time
// the remaining units can hold according to the statistics (row groups, or
// pages when the file has a page index), and never below the filter's From.
func (r *reader) NextTimeBound() watermark.Time {
	if r.src.eventField < 0 || !r.started {
		return watermark.MinTime
	}
	var b watermark.Time
	switch {
	case r.cur == nil:
		next := r.curIdx
		if r.curLast {
			next++
		}
		b = r.suffix[min(next, len(r.units))]
	case r.curLast:
		b = r.suffix[r.curIdx+1]
	default:
		b = r.suffix[r.curIdx]
	}
	if b == watermark.MinTime {
		return watermark.MinTime
	}
	return max(b, r.from)
}

// Close implements dataflow.SplitReader: it stops the workers and returns
// their budget.
func (r *reader) Close() error {
	r.cancel(errClosed)
	r.wg.Wait()
	r.release(r.held.Load())
	return nil
}

// work fetches and decodes one unit into out.items.
func (r *reader) work(out *unitOut) {
	defer r.wg.Done()
	defer close(out.items)
	if err := r.decodeUnit(out); err != nil {
		select {
		case out.items <- item{err: err}:
		case <-r.ctx.Done():
		}
	}
}

// decodeUnit is the worker's body; a panic in the decoder (a corrupt page
// that parquet-go did not catch) becomes an error here.
func (r *reader) decodeUnit(out *unitOut) (err error) {
	u := out.u
	token := false
	defer func() {
		if token {
			<-r.src.decode
		}
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: row group %d: decoding panicked: %v\n%s", ErrCorrupt, u.rg, p, debug.Stack())
		}
	}()
	f := r.f
	rows := f.rgs[u.rg].rows

	var ranges []byteRange
	for _, cp := range u.chunks {
		if cp.pages == nil {
			ranges = append(ranges, cp.span)
			continue
		}
		ranges = append(ranges, cp.dict)
		for _, p := range cp.pages {
			ranges = append(ranges, byteRange{p.off, p.end})
		}
	}
	bufs, err := r.src.fetch(r.ctx, f, ranges)
	if err != nil {
		return err
	}

	crs := make([]*chunkReader, len(r.cols))
	defer func() {
		for _, cr := range crs {
			if cr != nil {
				cr.close()
			}
		}
		putBufs(bufs)
	}()
	fileChunks := f.pf.RowGroups()[u.rg].ColumnChunks()
	for i, cp := range u.chunks {
		col := &f.schema.cols[r.cols[i]]
		cr, err := r.chunkReader(bufs, cp, col, fileChunks[col.leaf], u.ranges, rows)
		if err != nil {
			return fmt.Errorf("row group %d, column %q: %w", u.rg, col.name, err)
		}
		crs[i] = cr
	}

	acquire := func() error {
		select {
		case r.src.decode <- struct{}{}:
			token = true
			return nil
		case <-r.ctx.Done():
			return context.Cause(r.ctx)
		}
	}
	if err := acquire(); err != nil {
		return err
	}
	send := func(it item) error {
		select {
		case out.items <- it:
			return nil
		default:
		}
		// The consumer is behind: give the decode token to another unit
		// while waiting.
		<-r.src.decode
		token = false
		select {
		case out.items <- it:
		case <-r.ctx.Done():
			return context.Cause(r.ctx)
		}
		return acquire()
	}

	batch := r.src.batchRows
	cbufs := make([]colBuf, len(crs))
	arrays := make([]arrow.Array, len(crs))
	var pending *item
	base := f.rgs[u.rg].first
	for _, rr := range u.ranges {
		for _, cr := range crs {
			if err := cr.seek(rr.a); err != nil {
				return fmt.Errorf("row group %d, column %q: %w", u.rg, cr.col.name, err)
			}
		}
		for a := rr.a; a < rr.b; {
			if err := r.ctx.Err(); err != nil {
				return context.Cause(r.ctx)
			}
			n := int(min(int64(batch), rr.b-a))
			for i, cr := range crs {
				b := &cbufs[i]
				b.reset(cr.col.phys, cr.col.typeLen, n, len(b.data)*n/max(b.n, 1))
				if err := cr.read(b, n, n); err != nil {
					return fmt.Errorf("row group %d, column %q: %w", u.rg, cr.col.name, err)
				}
				arr, err := b.finish(cr.col)
				if err != nil {
					return fmt.Errorf("row group %d, column %q: %w", u.rg, cr.col.name, err)
				}
				if arr, err = cast(arr, r.src.schema.Field(r.fields[i]).Type); err != nil {
					return err
				}
				arrays[i] = arr
			}
			a += int64(n)
			rec, err := r.assemble(arrays, n)
			if err != nil {
				return err
			}
			if rec == nil {
				continue
			}
			if pending != nil {
				if err := send(*pending); err != nil {
					return err
				}
			}
			pending = &item{rec: rec, pos: base + a}
		}
	}
	if pending != nil {
		pending.pos, pending.last = u.end, true
		return send(*pending)
	}
	return nil
}

// chunkReader builds the page stream of one column chunk for a unit.
func (r *reader) chunkReader(bufs buffers, cp chunkPlan, col *column, cc parquet.ColumnChunk, ranges []rowRange, rows int64) (*chunkReader, error) {
	fc, ok := cc.(*parquet.FileColumnChunk)
	if !ok {
		return nil, fmt.Errorf("internal error: %T is not a file column chunk", cc)
	}
	pcol, ok := fc.Node().(*parquet.Column)
	if !ok {
		return nil, fmt.Errorf("internal error: %T is not a column", fc.Node())
	}
	sr := &spliceReader{base: cp.base}
	var pages []pageLoc
	var data []byte // the bytes of the whole chunk, when it was read whole
	if cp.pages == nil {
		var err error
		if data, err = bufs.slice(cp.span); err != nil {
			return nil, err
		}
		prefix, all, err := skimPages(data, cp.span, col, rows, cp.codec)
		if err != nil {
			return nil, err
		}
		pages = selectPages(all, ranges, rows)
		if prefix.len() > 0 {
			sr.add(data[prefix.off-cp.span.off : prefix.end-cp.span.off])
		}
	} else {
		if cp.dict.len() > 0 {
			dict, err := bufs.slice(cp.dict)
			if err != nil {
				return nil, err
			}
			prefix, _, err := skimPages(dict, cp.dict, col, 0, cp.codec)
			if err != nil || prefix.end != cp.dict.end {
				return nil, fmt.Errorf("%w: unexpected bytes before the first data page", ErrCorrupt)
			}
			sr.add(dict)
		}
		pages = slices.Clone(cp.pages)
		for i := range pages {
			p := &pages[i]
			b, err := bufs.slice(byteRange{p.off, p.end})
			if err != nil {
				return nil, err
			}
			if err := checkPage(b, p, col, p.rowsOf(), cp.codec); err != nil {
				return nil, err
			}
		}
		// Zero-row pages are never selected, but keep the rule of skimPages.
		pages = slices.DeleteFunc(pages, func(p pageLoc) bool { return p.hdr.rows == 0 })
	}
	for _, p := range pages {
		b, err := bufs.slice(byteRange{p.off, p.end})
		if data != nil {
			b = data[p.off-cp.span.off : p.end-cp.span.off]
		} else if err != nil {
			return nil, err
		}
		if !p.hdr.allNull {
			sr.add(b)
		}
	}
	return &chunkReader{
		col:    col,
		maxDef: byte(pcol.MaxDefinitionLevel()),
		pages:  fc.PagesFrom(sr),
		locs:   pages,
	}, nil
}

// assemble filters one batch of decoded columns and projects it.
func (r *reader) assemble(cols []arrow.Array, n int) (arrow.RecordBatch, error) {
	var sel selection
	filtered := false
	for _, p := range r.preds {
		var err error
		sel, err = p.eval(cols[r.slot[p.field]], sel, n)
		if err != nil {
			return nil, err
		}
		filtered = true
		if len(sel) == 0 {
			return nil, nil
		}
	}
	if filtered && len(sel) == n {
		sel = nil
	}
	m := n
	if sel != nil {
		m = len(sel)
	}
	s := r.src
	out := make([]arrow.Array, len(s.proj))
	for i, field := range s.proj {
		if slot := r.slot[field]; slot >= 0 {
			a := cols[slot]
			if sel != nil {
				var err error
				if a, err = columnar.Take(a, sel); err != nil {
					return nil, err
				}
			}
			out[i] = a
			continue
		}
		out[i] = r.constant(field, m)
	}
	return array.NewRecordBatch(s.out, out, int64(m)), nil
}

// constant returns m rows of a column that is the same on every row of the
// file: a partition value, or NULL for a column the file lacks.
func (r *reader) constant(field, m int) arrow.Array {
	r.constMu.Lock()
	defer r.constMu.Unlock()
	a, ok := r.consts[field]
	if !ok {
		s := r.src
		t := s.schema.Field(field).Type
		if field >= s.fileFields {
			a = constArray(t, r.f.parts[field-s.fileFields], s.batchRows)
		} else {
			a = array.MakeArrayOfNull(memory.DefaultAllocator, t, s.batchRows)
		}
		r.consts[field] = a
	}
	return array.NewSlice(a, 0, int64(m))
}
