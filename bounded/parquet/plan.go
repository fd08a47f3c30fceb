package parquet

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/weirdata/weir/watermark"
)

// rowRange is [a, b) in rows of a row group.
type rowRange struct{ a, b int64 }

// unit is what one decode worker reads: rows of one row group. A file's
// units, in order, cover the rows the reader must return.
type unit struct {
	rg     int
	ranges []rowRange // ascending, disjoint, non-empty; rows within the row group
	start  int64      // file row where the unit's span begins (for progress)
	end    int64      // file row after the unit's span: the position once it is read
	// chunks: for each needed column (reader.cols order), the pages to read.
	chunks []chunkPlan
	bytes  int64          // compressed bytes to fetch
	size   int64          // estimated decoded bytes
	min    watermark.Time // lower bound of the unit's event times (MinTime: none)
}

// chunkPlan says which bytes of a column chunk a unit reads.
type chunkPlan struct {
	span  byteRange // the whole chunk
	base  int64     // where parquet-go's page reader starts (the chunk's start)
	pages []pageLoc // selected data pages (nil: skim the whole chunk first)
	// dict is the bytes in front of the first data page (the dictionary
	// page), read with the selected pages.
	dict  byteRange
	codec format.CompressionCodec
}

// target decoded size of a unit: large enough that the dictionary page and
// the pages cut at its borders are a small overhead, small enough that a
// few units per reader stay cheap in memory.
const unitBytes = 32 << 20

// plan computes the units of f from row pos on.
func (r *reader) plan(ctx context.Context) error {
	f, s := r.f, r.src
	// Which row groups are left, and from which row.
	type rgWork struct {
		rg     int
		lo     int64
		ranges []rowRange
	}
	var work []rgWork
	for i, rg := range f.rgs {
		if !rg.keep {
			continue // pruned by New, and not in the progress totals
		}
		lo := min(rg.rows, max(0, r.pos-rg.first))
		r.doneRows += lo
		if lo == rg.rows {
			continue
		}
		work = append(work, rgWork{rg: i, lo: lo, ranges: []rowRange{{lo, rg.rows}}})
	}
	if len(work) == 0 {
		return nil
	}

	// Bloom filters, for equality predicates that statistics did not settle.
	if !s.opts.NoPushdown {
		kept := work[:0]
		for _, w := range work {
			ok, err := r.bloomMayMatch(ctx, w.rg)
			if err != nil {
				return err
			}
			if ok {
				kept = append(kept, w)
				continue
			}
			r.doneRows += f.rgs[w.rg].rows - w.lo
			s.progress.RowGroupsPruned.Add(1)
		}
		work = kept
	}

	// The page index: offset indexes of every column read, column indexes
	// of the filter columns and the event-time column.
	var offs, cols [][2]int
	for _, w := range work {
		for _, c := range r.cols {
			offs = append(offs, [2]int{w.rg, f.schema.cols[c].leaf})
		}
		if !s.opts.NoPushdown {
			for _, c := range r.indexCols {
				cols = append(cols, [2]int{w.rg, f.schema.cols[c].leaf})
			}
		}
	}
	if s.noPageIndex {
		offs, cols = nil, nil
	}
	pi, err := s.loadPageIndex(ctx, f, offs, cols)
	if err != nil {
		return err
	}

	for _, w := range work {
		rg := &f.rgs[w.rg]
		// Per column: its span and, with an offset index, its pages.
		plans := make([]chunkPlan, len(r.cols))
		indexed := true
		var rowBytes float64
		for i, c := range r.cols {
			col := &f.schema.cols[c]
			span, base, err := chunkSpan(f, w.rg, col.leaf)
			if err != nil {
				return fmt.Errorf("row group %d, column %q: %w", w.rg, col.name, err)
			}
			pages := offsetPages(pi.offsets[[2]int{w.rg, col.leaf}], span, rg.rows)
			dict := byteRange{span.off, span.off}
			if pages != nil {
				dict.end = pages[0].off
			} else {
				indexed = false
			}
			codec := f.md.RowGroups[w.rg].Columns[col.leaf].MetaData.Codec
			plans[i] = chunkPlan{span: span, base: base, pages: pages, dict: dict, codec: codec}
			rowBytes += decodedWidth(col, &f.md.RowGroups[w.rg].Columns[col.leaf].MetaData, rg.rows)
		}
		ranges := w.ranges
		if !s.opts.NoPushdown {
			ranges = r.prunePages(pi, w.rg, ranges)
		}
		if len(ranges) == 0 {
			r.doneRows += rg.rows - w.lo
			s.progress.RowGroupsPruned.Add(1)
			continue
		}
		// Cut the row group into units of about unitBytes decoded; without
		// offset indexes a unit is the whole row group (its chunks are read
		// whole, then skimmed).
		per := int64(math.MaxInt64)
		if indexed && rowBytes > 0 {
			per = max(int64(unitBytes/rowBytes), int64(s.batchRows))
			per = (per + int64(s.batchRows) - 1) / int64(s.batchRows) * int64(s.batchRows)
			if total(ranges) <= per*3/2 {
				per = math.MaxInt64
			}
		}
		spanStart := rg.first + w.lo
		for _, part := range cutRanges(ranges, per) {
			u := unit{rg: w.rg, ranges: part, start: spanStart, end: rg.first + part[len(part)-1].b, min: watermark.MinTime}
			spanStart = u.end
			u.chunks = make([]chunkPlan, len(plans))
			for i, p := range plans {
				if p.pages != nil {
					p.pages = selectPages(p.pages, part, rg.rows)
					u.bytes += p.dict.len()
					for _, pg := range p.pages {
						u.bytes += pg.end - pg.off
					}
				} else {
					u.bytes += p.span.len()
				}
				u.chunks[i] = p
			}
			u.size = int64(rowBytes * float64(total(part)))
			u.min = r.unitMinTime(pi, w.rg, part)
			r.units = append(r.units, u)
		}
		// Rows after the last selected range are done with the last unit.
		r.units[len(r.units)-1].end = rg.first + rg.rows
	}
	return nil
}

func total(rs []rowRange) int64 {
	var n int64
	for _, r := range rs {
		n += r.b - r.a
	}
	return n
}

// cutRanges splits ranges into consecutive parts of at most per rows.
func cutRanges(ranges []rowRange, per int64) [][]rowRange {
	var parts [][]rowRange
	var cur []rowRange
	var n int64
	for _, r := range ranges {
		for r.a < r.b {
			take := min(r.b-r.a, per-n)
			cur = append(cur, rowRange{r.a, r.a + take})
			n += take
			r.a += take
			if n == per {
				parts = append(parts, cur)
				cur, n = nil, 0
			}
		}
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	return parts
}

// selectPages keeps the pages that hold a row of ranges.
func selectPages(pages []pageLoc, ranges []rowRange, rows int64) []pageLoc {
	var out []pageLoc
	j := 0
	for i := range pages {
		pr := pages[i].rowsOf()
		if pr.a == pr.b {
			continue
		}
		for j < len(ranges) && ranges[j].b <= pr.a {
			j++
		}
		if j < len(ranges) && ranges[j].a < pr.b {
			out = append(out, pages[i])
		}
	}
	return out
}

// decodedWidth estimates the decoded bytes per row of a column chunk.
func decodedWidth(c *column, md *format.ColumnMetaData, rows int64) float64 {
	switch c.phys {
	case physBool:
		return 0.125
	case physInt32, physFloat:
		return 4
	case physInt64, physDouble, physInt96:
		return 8
	case physFixed:
		return float64(c.typeLen) + 4
	}
	if rows == 0 {
		return 4
	}
	return float64(md.TotalUncompressedSize)/float64(rows) + 4
}

// prunePages narrows ranges with the column indexes of the filter columns.
func (r *reader) prunePages(pi *pageIndex, rg int, ranges []rowRange) []rowRange {
	f := r.f
	rows := f.rgs[rg].rows
	for _, p := range r.src.preds {
		if p.part {
			continue
		}
		c := f.cols[p.field]
		if c < 0 {
			continue
		}
		col := &f.schema.cols[c]
		ci := pi.columns[[2]int{rg, col.leaf}]
		span, _, err := chunkSpan(f, rg, col.leaf)
		if err != nil || ci == nil {
			continue
		}
		pages := offsetPages(pi.offsets[[2]int{rg, col.leaf}], span, rows)
		if pages == nil || len(ci.NullPages) != len(pages) || len(ci.MinValues) != len(pages) || len(ci.MaxValues) != len(pages) {
			continue
		}
		var keep []rowRange
		for i := range pages {
			st := pageStats(col, r.src.schema.Field(p.field).Type, ci, i)
			st.rows = pages[i].last - pages[i].first
			if p.mayMatch(st) {
				pr := pages[i].rowsOf()
				if n := len(keep); n > 0 && keep[n-1].b == pr.a {
					keep[n-1].b = pr.b
				} else {
					keep = append(keep, pr)
				}
			}
		}
		ranges = intersect(ranges, keep)
		if len(ranges) == 0 {
			break
		}
	}
	return ranges
}

func pageStats(col *column, to arrow.DataType, ci *format.ColumnIndex, i int) stats {
	var st stats
	if ci.NullPages[i] {
		st.nullsKnown = true
		st.nulls = math.MaxInt64
		return st
	}
	if len(ci.NullCounts) == len(ci.NullPages) {
		st.nulls, st.nullsKnown = ci.NullCounts[i], true
	}
	if !col.optional {
		st.nulls, st.nullsKnown = 0, true
	}
	lo, ok1 := statValue(col, to, ci.MinValues[i])
	hi, ok2 := statValue(col, to, ci.MaxValues[i])
	st.min, st.max, st.hasMinMax = lo, hi, ok1 && ok2
	return st
}

// intersect returns the rows in both a and b (each ascending and disjoint).
func intersect(a, b []rowRange) []rowRange {
	var out []rowRange
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].a, b[j].a), min(a[i].b, b[j].b)
		if lo < hi {
			out = append(out, rowRange{lo, hi})
		}
		if a[i].b < b[j].b {
			i++
		} else {
			j++
		}
	}
	return out
}

// unitMinTime is a lower bound of the event times in rows ranges of row
// group rg: the page index minimum of the pages they touch, or the row
// group's minimum, both in microseconds.
func (r *reader) unitMinTime(pi *pageIndex, rg int, ranges []rowRange) watermark.Time {
	f := r.f
	if r.src.eventField < 0 {
		return watermark.MinTime
	}
	c := f.cols[r.src.eventField]
	if c < 0 {
		return watermark.MinTime
	}
	col := &f.schema.cols[c]
	to := r.src.schema.Field(r.src.eventField).Type
	rows := f.rgs[rg].rows
	if ci := pi.columns[[2]int{rg, col.leaf}]; ci != nil {
		span, _, err := chunkSpan(f, rg, col.leaf)
		pages := offsetPages(pi.offsets[[2]int{rg, col.leaf}], span, rows)
		if err == nil && pages != nil && len(ci.NullPages) == len(pages) && len(ci.MinValues) == len(pages) {
			lo := watermark.MaxTime
			j := 0
			for i := range pages {
				pr := pages[i].rowsOf()
				for j < len(ranges) && ranges[j].b <= pr.a {
					j++
				}
				if j == len(ranges) {
					break
				}
				if ranges[j].a >= pr.b || ci.NullPages[i] {
					continue
				}
				v, ok := statValue(col, to, ci.MinValues[i])
				if !ok {
					return watermark.MinTime
				}
				lo = min(lo, micros(v.i, to))
			}
			return lo
		}
	}
	st := chunkStats(col, to, &f.md.RowGroups[rg].Columns[col.leaf].MetaData, rows)
	if !st.hasMinMax {
		return watermark.MinTime
	}
	return micros(st.min.i, to)
}

// micros converts an event-time value of type t to microseconds (rounding
// down, so that it stays a lower bound).
func micros(v int64, t arrow.DataType) watermark.Time {
	if tt, ok := t.(*arrow.TimestampType); ok {
		switch tt.Unit {
		case arrow.Second:
			if v > math.MaxInt64/1_000_000 || v < math.MinInt64/1_000_000 {
				return watermark.MinTime
			}
			return watermark.Time(v * 1e6)
		case arrow.Millisecond:
			if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
				return watermark.MinTime
			}
			return watermark.Time(v * 1e3)
		case arrow.Nanosecond:
			return watermark.Time(floorDiv(v, 1000))
		}
	}
	return watermark.Time(v)
}

// bloomMayMatch checks the equality predicates of row group rg against the
// bloom filters of their columns.
func (r *reader) bloomMayMatch(ctx context.Context, rg int) (bool, error) {
	f := r.f
	for _, p := range r.src.preds {
		if p.part || (p.op != Eq && p.op != In) || p.never {
			continue
		}
		c := f.cols[p.field]
		if c < 0 {
			continue
		}
		col := &f.schema.cols[c]
		md := &f.md.RowGroups[rg].Columns[col.leaf].MetaData
		if md.BloomFilterOffset <= 0 {
			continue
		}
		vals := bloomValues(p, col, r.src.schema.Field(p.field).Type)
		if vals == nil {
			continue
		}
		bf, err := r.src.bloomFilter(ctx, f, rg, col)
		if err != nil || bf == nil {
			continue // a bloom filter that cannot be read prunes nothing
		}
		hit := false
		for _, v := range vals {
			if ok, err := bf.Check(v); err != nil || ok {
				hit = true
				break
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}

// bloomValues converts an equality predicate's constants to the physical
// values the file's bloom filter hashed, or nil when that is not possible.
func bloomValues(p *boundPred, col *column, to arrow.DataType) []parquet.Value {
	consts := p.set
	if p.op == Eq {
		consts = []scalar{p.c}
	}
	if p.always {
		return nil
	}
	var out []parquet.Value
	for _, k := range consts {
		switch col.phys {
		case physInt32:
			if col.conv == convDecimal {
				return nil
			}
			if col.unsigned {
				if k.i < 0 || k.i > math.MaxUint32 {
					continue
				}
				out = append(out, parquet.Int32Value(int32(uint32(k.i))))
				continue
			}
			if k.i < math.MinInt32 || k.i > math.MaxInt32 {
				continue
			}
			out = append(out, parquet.Int32Value(int32(k.i)))
		case physInt64:
			if col.conv == convDecimal {
				return nil
			}
			v := k.i
			if col.unsigned {
				v = int64(k.u)
			}
			if ft, ok := col.typ.(*arrow.TimestampType); ok {
				if tt, ok := to.(*arrow.TimestampType); ok {
					f := unitFactor(ft.Unit, tt.Unit)
					if v%f != 0 {
						continue
					}
					v /= f
				}
			}
			out = append(out, parquet.Int64Value(v))
		case physBytes:
			if col.conv != convNone {
				return nil
			}
			out = append(out, parquet.ByteArrayValue(k.b))
		case physFixed:
			if col.conv != convNone {
				return nil
			}
			if len(k.b) == col.typeLen {
				out = append(out, parquet.FixedLenByteArrayValue(k.b))
			}
		default:
			// Floating-point values are not checked: -0 and +0 are equal
			// but hash differently.
			return nil
		}
	}
	if out == nil {
		out = []parquet.Value{} // no constant can be in this column: prune
	}
	return out
}
