package parquet

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// colBuf receives one column's decoded values for a batch, in the column's
// physical representation; finish (convert.go) turns it into an Arrow array.
// Null rows hold zero values (a zero-length value for BYTE_ARRAY, zero bytes
// for FIXED_LEN_BYTE_ARRAY) so that every layout stays regular.
type colBuf struct {
	n     int
	valid []byte // validity bitmap; nil while every row is valid
	nulls int

	i32  []int32
	i64  []int64 // INT64, and INT96 converted to microseconds
	f32  []float32
	f64  []float64
	bits []byte  // BOOLEAN values, bit-packed
	data []byte  // BYTE_ARRAY values, or n×width bytes for FIXED_LEN_BYTE_ARRAY
	offs []int32 // BYTE_ARRAY offsets (n+1)
}

// reset prepares b for rows rows of kind k, reusing nothing: the arrays made
// from a colBuf are handed downstream and must not be written again.
// dataHint is the BYTE_ARRAY bytes expected (the previous batch's).
func (b *colBuf) reset(k physKind, width, rows, dataHint int) {
	*b = colBuf{}
	switch k {
	case physInt32:
		b.i32 = make([]int32, rows)
	case physInt64, physInt96:
		b.i64 = make([]int64, rows)
	case physFloat:
		b.f32 = make([]float32, rows)
	case physDouble:
		b.f64 = make([]float64, rows)
	case physBool:
		b.bits = make([]byte, (rows+7)/8)
	case physBytes:
		b.offs = make([]int32, 1, rows+1)
		size := 16 * rows
		if dataHint > 0 {
			size = dataHint + dataHint/8 + 64
		}
		b.data = make([]byte, 0, size)
	case physFixed:
		b.data = make([]byte, rows*width)
	}
}

// markNulls records the validity of rows [b.n, b.n+len(lv)): row i is valid
// when lv[i] == maxDef.
func (b *colBuf) markNulls(lv []byte, maxDef byte, capRows int) {
	for i, l := range lv {
		if l == maxDef {
			if b.valid != nil {
				j := b.n + i
				b.valid[j>>3] |= 1 << (j & 7)
			}
			continue
		}
		if b.valid == nil {
			b.valid = make([]byte, (capRows+7)/8)
			for j := 0; j < b.n+i; j++ {
				b.valid[j>>3] |= 1 << (j & 7)
			}
		}
		b.nulls++
	}
}

// markValid records rows [b.n, b.n+m) as valid.
func (b *colBuf) markValid(m int) {
	for j := b.n; j < b.n+m; j++ {
		b.valid[j>>3] |= 1 << (j & 7)
	}
}

// The errors a file itself causes (not its storage), for errors.Is.
var (
	// ErrCorrupt: the file's bytes contradict the format.
	ErrCorrupt = errors.New("corrupt Parquet file")
	// ErrUnsupported: the file uses a feature this reader does not have.
	ErrUnsupported = errors.New("unsupported Parquet feature")
)

// chunkReader reads the rows of one column chunk, page by page, from the
// page stream that the fetcher spliced together (the pages a unit needs, and
// the dictionary page in front). It never goes backwards.
type chunkReader struct {
	col    *column
	maxDef byte
	pages  *parquet.FilePages
	// locs are the data pages of the stream, in order, with their headers.
	locs  []pageLoc
	npage int

	page    parquet.Page
	pageRow int64 // row of the page's first row, within the row group
	rows    int   // rows in the page
	at      int   // next row within the page
	vat     int   // next non-null value within the page
	levels  []byte

	// one typed view of the page's values is set; idx means the page holds
	// dictionary indexes into the d* views of dict.
	idx  []int32
	i32  []int32
	i64  []int64
	i96  []deprecated.Int96
	f32  []float32
	f64  []float64
	bits []byte
	data []byte
	offs []uint32

	dict  parquet.Dictionary
	di32  []int32
	di64  []int64
	di96  []deprecated.Int96
	df32  []float32
	df64  []float64
	ddata []byte
	doffs []uint32
}

func (r *chunkReader) close() {
	if r.page != nil {
		release(r.page)
		r.page = nil
	}
	if r.pages != nil {
		_ = r.pages.Close() // releases pooled buffers; nothing to flush
		r.pages = nil
	}
}

// next is the row (within the row group) that the reader is positioned at.
func (r *chunkReader) next() int64 {
	if r.page == nil {
		return -1
	}
	return r.pageRow + int64(r.at)
}

// loadPage reads the next data page of the stream.
func (r *chunkReader) loadPage() error {
	if r.page != nil {
		release(r.page)
		r.page = nil
	}
	if r.npage >= len(r.locs) {
		return fmt.Errorf("%w: the page stream ended early", ErrCorrupt)
	}
	loc := &r.locs[r.npage]
	start := loc.first
	if loc.hdr.allNull {
		if r.maxDef == 0 {
			return fmt.Errorf("%w: a page of nulls in a required column", ErrCorrupt)
		}
		r.npage++
		r.page, r.pageRow, r.at, r.vat = nullPage{}, start, 0, 0
		r.rows = int(loc.hdr.rows)
		r.levels = make([]byte, r.rows) // all 0: null
		r.idx, r.i32, r.i64, r.i96, r.f32, r.f64, r.bits, r.data, r.offs = nil, nil, nil, nil, nil, nil, nil, nil, nil
		return nil
	}
	p, err := r.pages.ReadPage()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: the column chunk ends before its last row (row %d): %v", ErrCorrupt, start, err)
		}
		return err
	}
	r.npage++
	r.page, r.pageRow, r.at, r.vat = p, start, 0, 0
	r.rows = int(p.NumRows())
	r.levels = p.DefinitionLevels()
	defined := r.rows
	if len(r.levels) == 0 {
		r.levels = nil
	} else {
		if len(r.levels) != r.rows {
			return fmt.Errorf("%w: %d definition levels for %d rows", ErrCorrupt, len(r.levels), r.rows)
		}
		defined = 0
		for _, l := range r.levels {
			if l == r.maxDef {
				defined++
			} else if l > r.maxDef {
				return fmt.Errorf("%w: definition level %d above the maximum %d", ErrCorrupt, l, r.maxDef)
			}
		}
	}
	r.idx, r.i32, r.i64, r.i96, r.f32, r.f64, r.bits, r.data, r.offs = nil, nil, nil, nil, nil, nil, nil, nil, nil
	vals := p.Data()
	have := 0
	if d := p.Dictionary(); d != nil {
		r.idx = vals.Int32()
		have = len(r.idx)
		if d != r.dict {
			r.setDict(d)
		}
	} else {
		switch r.col.phys {
		case physBool:
			r.bits = vals.Boolean()
			have = 8 * len(r.bits)
		case physInt32:
			r.i32 = vals.Int32()
			have = len(r.i32)
		case physInt64:
			r.i64 = vals.Int64()
			have = len(r.i64)
		case physInt96:
			r.i96 = vals.Int96()
			have = len(r.i96)
		case physFloat:
			r.f32 = vals.Float()
			have = len(r.f32)
		case physDouble:
			r.f64 = vals.Double()
			have = len(r.f64)
		case physBytes:
			r.data, r.offs = vals.ByteArray()
			have = len(r.offs) - 1
			if have >= 0 && int(r.offs[len(r.offs)-1]) > len(r.data) {
				return fmt.Errorf("%w: BYTE_ARRAY offsets beyond the page", ErrCorrupt)
			}
		case physFixed:
			var size int
			r.data, size = vals.FixedLenByteArray()
			if size != r.col.typeLen {
				return fmt.Errorf("%w: FIXED_LEN_BYTE_ARRAY values of %d bytes, want %d", ErrCorrupt, size, r.col.typeLen)
			}
			have = len(r.data) / size
		}
	}
	if have < defined {
		return fmt.Errorf("%w: a page holds %d values for %d non-null rows", ErrCorrupt, have, defined)
	}
	return r.checkPage(loc.hdr, defined)
}

// checkPage compares a decoded page with its header. parquet-go sizes some
// decoded values by the capacity of pooled buffers, so a page whose values
// section is too short would otherwise read stale bytes.
func (r *chunkReader) checkPage(h *pageHdr, defined int) error {
	if int64(r.rows) != h.rows {
		return fmt.Errorf("%w: a page of %d rows decodes to %d", ErrCorrupt, h.rows, r.rows)
	}
	if h.nulls >= 0 && h.nulls != int64(r.rows-defined) {
		return fmt.Errorf("%w: a data page v2 states %d nulls, its definition levels %d", ErrCorrupt, h.nulls, r.rows-defined)
	}
	if r.idx != nil {
		return nil
	}
	var width int64
	switch r.col.phys {
	case physInt32, physFloat:
		width = 4
	case physInt64, physDouble:
		width = 8
	case physInt96:
		width = 12
	case physFixed:
		width = int64(r.col.typeLen)
	default:
		return nil
	}
	switch h.enc {
	case format.Plain, format.ByteStreamSplit:
		if int64(defined)*width > h.valueBytes {
			return fmt.Errorf("%w: %d values of %d bytes in a %d-byte page", ErrCorrupt, defined, width, h.valueBytes)
		}
	}
	return nil
}

func (r *chunkReader) setDict(d parquet.Dictionary) {
	r.dict = d
	r.di32, r.di64, r.di96, r.df32, r.df64, r.ddata, r.doffs = nil, nil, nil, nil, nil, nil, nil
	vals := d.Page().Data()
	switch r.col.phys {
	case physInt32:
		r.di32 = vals.Int32()
	case physInt64:
		r.di64 = vals.Int64()
	case physInt96:
		r.di96 = vals.Int96()
	case physFloat:
		r.df32 = vals.Float()
	case physDouble:
		r.df64 = vals.Double()
	case physBytes:
		r.ddata, r.doffs = vals.ByteArray()
		if len(r.doffs) == 0 {
			r.doffs = []uint32{0}
		}
	case physFixed:
		r.ddata, _ = vals.FixedLenByteArray()
	}
}

// seek positions the reader at row (within the row group), which must not be
// behind it, skipping rows and pages.
func (r *chunkReader) seek(row int64) error {
	for {
		if r.page != nil && row < r.pageRow+int64(r.rows) {
			if row < r.next() {
				return fmt.Errorf("internal error: seek back from row %d to %d", r.next(), row)
			}
			k := int(row - r.next())
			if r.levels != nil {
				for _, l := range r.levels[r.at : r.at+k] {
					if l == r.maxDef {
						r.vat++
					}
				}
			} else {
				r.vat += k
			}
			r.at += k
			return nil
		}
		if err := r.loadPage(); err != nil {
			return err
		}
	}
}

// read appends the next n rows to b, which has room for capRows rows.
func (r *chunkReader) read(b *colBuf, n, capRows int) error {
	for n > 0 {
		if r.page == nil || r.at >= r.rows {
			if err := r.loadPage(); err != nil {
				return err
			}
			continue
		}
		m := min(n, r.rows-r.at)
		var lv []byte
		defined := m
		if r.levels != nil {
			lv = r.levels[r.at : r.at+m]
			defined = 0
			for _, l := range lv {
				if l == r.maxDef {
					defined++
				}
			}
			if defined == m {
				lv = nil
			}
		}
		if err := r.copyRows(b, m, defined, lv); err != nil {
			return err
		}
		if lv != nil {
			b.markNulls(lv, r.maxDef, capRows)
		} else if b.valid != nil {
			b.markValid(m)
		}
		b.n += m
		r.at += m
		r.vat += defined
		n -= m
	}
	return nil
}

// copyRows copies m rows (defined of them non-null, placed where lv says;
// lv == nil: all) from the page into b at b.n.
func (r *chunkReader) copyRows(b *colBuf, m, defined int, lv []byte) error {
	v0, v1 := r.vat, r.vat+defined
	switch r.col.phys {
	case physInt32:
		if r.idx != nil {
			return gather(b.i32[b.n:b.n+m], r.di32, r.idx[v0:v1], lv, r.maxDef)
		}
		spread(b.i32[b.n:b.n+m], r.i32[v0:v1], lv, r.maxDef)
	case physInt64:
		if r.idx != nil {
			return gather(b.i64[b.n:b.n+m], r.di64, r.idx[v0:v1], lv, r.maxDef)
		}
		spread(b.i64[b.n:b.n+m], r.i64[v0:v1], lv, r.maxDef)
	case physFloat:
		if r.idx != nil {
			return gather(b.f32[b.n:b.n+m], r.df32, r.idx[v0:v1], lv, r.maxDef)
		}
		spread(b.f32[b.n:b.n+m], r.f32[v0:v1], lv, r.maxDef)
	case physDouble:
		if r.idx != nil {
			return gather(b.f64[b.n:b.n+m], r.df64, r.idx[v0:v1], lv, r.maxDef)
		}
		spread(b.f64[b.n:b.n+m], r.f64[v0:v1], lv, r.maxDef)
	case physInt96:
		src := r.i96
		if r.idx != nil {
			src = make([]deprecated.Int96, defined)
			if err := gather(src, r.di96, r.idx[v0:v1], nil, r.maxDef); err != nil {
				return err
			}
		} else {
			src = src[v0:v1]
		}
		dst := b.i64[b.n : b.n+m]
		j := 0
		for i := range dst {
			if lv == nil || lv[i] == r.maxDef {
				dst[i] = int96Micros(src[j])
				j++
			}
		}
	case physBool:
		if r.idx != nil {
			return fmt.Errorf("%w: a dictionary-encoded BOOLEAN page", ErrCorrupt)
		}
		j := v0
		for i := range m {
			if lv == nil || lv[i] == r.maxDef {
				if r.bits[j>>3]&(1<<(j&7)) != 0 {
					k := b.n + i
					b.bits[k>>3] |= 1 << (k & 7)
				}
				j++
			}
		}
	case physBytes:
		data, offs := r.data, r.offs
		idx := []int32(nil)
		if r.idx != nil {
			data, offs, idx = r.ddata, r.doffs, r.idx[v0:v1]
		}
		j := v0
		if idx != nil {
			j = 0
		}
		nd := uint32(len(offs) - 1)
		for i := range m {
			if lv == nil || lv[i] == r.maxDef {
				k := uint32(j)
				if idx != nil {
					k = uint32(idx[j])
					if k >= nd {
						return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", ErrCorrupt, idx[j], nd)
					}
				}
				lo, hi := offs[k], offs[k+1]
				if lo > hi || int(hi) > len(data) {
					return fmt.Errorf("%w: BYTE_ARRAY offsets out of order", ErrCorrupt)
				}
				b.data = append(b.data, data[lo:hi]...)
				j++
			}
			if len(b.data) > maxInt32 {
				return fmt.Errorf("more than 2 GiB of BYTE_ARRAY values in one batch; lower BatchRows")
			}
			b.offs = append(b.offs, int32(len(b.data)))
		}
	case physFixed:
		w := r.col.typeLen
		dst := b.data[b.n*w : (b.n+m)*w]
		if r.idx != nil {
			nd := len(r.ddata) / w
			j := 0
			for i := range m {
				if lv == nil || lv[i] == r.maxDef {
					k := int(r.idx[v0+j])
					if k < 0 || k >= nd {
						return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", ErrCorrupt, k, nd)
					}
					copy(dst[i*w:(i+1)*w], r.ddata[k*w:(k+1)*w])
					j++
				}
			}
			return nil
		}
		src := r.data[v0*w : v1*w]
		if lv == nil {
			copy(dst, src)
			return nil
		}
		j := 0
		for i := range m {
			if lv[i] == r.maxDef {
				copy(dst[i*w:(i+1)*w], src[j*w:(j+1)*w])
				j++
			}
		}
	}
	return nil
}

const maxInt32 = 1<<31 - 1

// nullPage stands for a page of nulls that was never decoded.
type nullPage struct{ parquet.Page }

func release(p parquet.Page) {
	if _, ok := p.(nullPage); !ok {
		parquet.Release(p)
	}
}

// spread copies src into the defined slots of dst (all of them when lv is nil).
func spread[T any](dst, src []T, lv []byte, maxDef byte) {
	if lv == nil {
		copy(dst, src)
		return
	}
	j := 0
	for i, l := range lv {
		if l == maxDef {
			dst[i] = src[j]
			j++
		}
	}
}

// gather looks dictionary indexes up into the defined slots of dst.
func gather[T any](dst, dict []T, idx []int32, lv []byte, maxDef byte) error {
	n := uint32(len(dict))
	if lv == nil {
		dst = dst[:len(idx)]
		for i, k := range idx {
			u := uint32(k) // one comparison checks both bounds
			if u >= n {
				return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", ErrCorrupt, k, n)
			}
			dst[i] = dict[u]
		}
		return nil
	}
	j := 0
	for i, l := range lv {
		if l == maxDef {
			k := idx[j]
			if uint32(k) >= n {
				return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", ErrCorrupt, k, n)
			}
			dst[i] = dict[k]
			j++
		}
	}
	return nil
}

// int96Micros converts an INT96 timestamp (nanoseconds of the day, then the
// Julian day) to microseconds since the Unix epoch.
func int96Micros(v deprecated.Int96) int64 {
	const julianEpoch = 2440588 // Julian day of 1970-01-01
	nanos := int64(uint64(v[0]) | uint64(v[1])<<32)
	return (int64(v[2])-julianEpoch)*86400_000_000 + floorDiv(nanos, 1000)
}
