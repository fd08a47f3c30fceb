package parquet

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// Limits on what one page may claim, so that a corrupt header cannot make
// the decoder allocate without bound.
const (
	maxPageBytes  = 256 << 20 // uncompressed size of one page
	maxPageValues = 64 << 20  // values (levels) in one page
)

// pageLoc is one data page of a column chunk.
type pageLoc struct {
	off, end int64 // file bytes, header included
	first    int64 // first row, within the row group
	last     int64 // the row after the page's last row
	hdr      *pageHdr
}

// pageHdr is what the reader checks a decoded page against, from its header.
type pageHdr struct {
	hlen       int
	rows       int64
	nulls      int64 // data page v2: the null count the header states; -1 otherwise
	enc        format.Encoding
	valueBytes int64 // upper bound of the size of the values section, uncompressed
	// allNull: every row of the page is NULL (a data page v2 says so);
	// the page is left out of the stream and its rows made up.
	allNull bool
}

// chunkSpan is the byte range of column chunk leaf in row group rg, and the
// offset parquet-go's page reader starts from.
func chunkSpan(f *fileMeta, rg, leaf int) (span byteRange, base int64, err error) {
	cc := &f.md.RowGroups[rg].Columns[leaf]
	if cc.FilePath != "" {
		return span, 0, fmt.Errorf("%w: column chunk in another file (%s)", ErrUnsupported, cc.FilePath)
	}
	md := &cc.MetaData
	start := md.DataPageOffset
	base = start
	if d := md.DictionaryPageOffset; d != 0 {
		base = d
		if d < start {
			start = d
		}
	}
	span = byteRange{start, start + md.TotalCompressedSize}
	switch {
	case base != start:
		return span, 0, fmt.Errorf("%w: the dictionary page comes after the data pages", ErrCorrupt)
	case start < 4 || md.TotalCompressedSize <= 0 || span.end < start || span.end > f.info.Size-8:
		return span, 0, fmt.Errorf("%w: column chunk [%d, %d) outside the file (%d bytes)", ErrCorrupt, span.off, span.end, f.info.Size)
	}
	return span, base, nil
}

// pageIndex is the page index of some column chunks of a file.
type pageIndex struct {
	offsets map[[2]int]*format.OffsetIndex // by (row group, leaf)
	columns map[[2]int]*format.ColumnIndex
}

// loadPageIndex reads the offset index of the chunks offs and the column
// index of the chunks cols, in as few requests as their layout allows.
// Entries that are missing or do not decode are left out: the page index is
// an optimization, and a reader must do without it.
func (s *Source) loadPageIndex(ctx context.Context, f *fileMeta, offs, cols [][2]int) (*pageIndex, error) {
	pi := &pageIndex{offsets: map[[2]int]*format.OffsetIndex{}, columns: map[[2]int]*format.ColumnIndex{}}
	type want struct {
		k      [2]int
		r      byteRange
		column bool
	}
	var wants []want
	var ranges []byteRange
	add := func(k [2]int, off int64, n int32, column bool) {
		r := byteRange{off, off + int64(n)}
		if off <= 0 || n <= 0 || r.end > f.info.Size-8 {
			return
		}
		wants = append(wants, want{k, r, column})
		ranges = append(ranges, r)
	}
	for _, k := range offs {
		cc := &f.md.RowGroups[k[0]].Columns[k[1]]
		add(k, cc.OffsetIndexOffset, cc.OffsetIndexLength, false)
	}
	for _, k := range cols {
		cc := &f.md.RowGroups[k[0]].Columns[k[1]]
		add(k, cc.ColumnIndexOffset, cc.ColumnIndexLength, true)
	}
	if len(wants) == 0 {
		return pi, nil
	}
	bufs, err := s.fetch(ctx, f, ranges)
	if err != nil {
		return nil, err
	}
	var proto thrift.CompactProtocol
	for _, w := range wants {
		b, err := bufs.slice(w.r)
		if err != nil {
			return nil, err
		}
		if checkThrift(b) != nil {
			continue // a page index that does not decode is ignored
		}
		if w.column {
			ci := new(format.ColumnIndex)
			if thrift.Unmarshal(&proto, b, ci) == nil {
				pi.columns[w.k] = ci
			}
			continue
		}
		oi := new(format.OffsetIndex)
		if thrift.Unmarshal(&proto, b, oi) == nil {
			pi.offsets[w.k] = oi
		}
	}
	return pi, nil
}

// offsetPages turns an offset index into page locations, or nil when it
// does not describe the chunk span of a row group of rows rows.
func offsetPages(oi *format.OffsetIndex, span byteRange, rows int64) []pageLoc {
	if oi == nil || len(oi.PageLocations) == 0 {
		return nil
	}
	pages := make([]pageLoc, len(oi.PageLocations))
	for i, l := range oi.PageLocations {
		p := pageLoc{off: l.Offset, end: l.Offset + int64(l.CompressedPageSize), first: l.FirstRowIndex}
		switch {
		case p.off < span.off || p.end > span.end || p.end <= p.off:
			return nil
		case i == 0 && p.first != 0:
			return nil
		case i > 0 && (p.first < pages[i-1].first || p.off < pages[i-1].end):
			return nil
		case p.first > rows || (p.first == rows && rows > 0):
			return nil
		}
		pages[i] = p
	}
	for i := range pages {
		pages[i].last = rows
		if i+1 < len(pages) {
			pages[i].last = pages[i+1].first
		}
	}
	return pages
}

// rowsOf is the row range [first, last) of a page.
func (p *pageLoc) rowsOf() rowRange { return rowRange{p.first, p.last} }

// skimPages walks the page headers of a whole column chunk (data holds the
// bytes of span) and returns its data pages and the bytes in front of the
// first one (the dictionary page). It checks every header against the
// limits above, so that parquet-go never sees a page that claims more than
// its bytes can hold.
func skimPages(data []byte, span byteRange, c *column, rows int64, codec format.CompressionCodec) (prefix byteRange, pages []pageLoc, err error) {
	var proto thrift.CompactProtocol
	pos := 0
	var first int64
	prefix = byteRange{span.off, span.off}
	for pos < len(data) {
		r := proto.NewReaderFromBytes(data[pos:])
		var h format.PageHeader
		if err := thrift.NewDecoder(r).Decode(&h); err != nil {
			return prefix, nil, fmt.Errorf("%w: page header at offset %d: %v", ErrCorrupt, span.off+int64(pos), err)
		}
		hlen := r.BytesRead()
		if err := checkHeader(&h, c, rows); err != nil {
			return prefix, nil, fmt.Errorf("%w: page at offset %d: %v", ErrCorrupt, span.off+int64(pos), err)
		}
		end := pos + hlen + int(h.CompressedPageSize)
		if end > len(data) {
			return prefix, nil, fmt.Errorf("%w: page at offset %d runs past the end of its column chunk", ErrCorrupt, span.off+int64(pos))
		}
		if err := checkBody(codec, &h, data[pos+hlen:end]); err != nil {
			return prefix, nil, fmt.Errorf("%w: page at offset %d: %v", ErrCorrupt, span.off+int64(pos), err)
		}
		loc := pageLoc{off: span.off + int64(pos), end: span.off + int64(end), first: first}
		if loc.hdr, err = headerInfo(&h, hlen); err != nil {
			return prefix, nil, fmt.Errorf("%w: page at offset %d: %v", ErrCorrupt, loc.off, err)
		}
		switch h.Type {
		case format.DictionaryPage:
			if len(pages) > 0 || prefix.end != loc.off {
				return prefix, nil, fmt.Errorf("%w: a dictionary page after the data pages", ErrCorrupt)
			}
			prefix.end = loc.end
		case format.DataPage, format.DataPageV2:
			first += loc.hdr.rows
			loc.last = first
			pages = append(pages, loc)
		default: // index pages carry nothing a reader needs
			if len(pages) == 0 && prefix.end == loc.off {
				prefix.end = loc.end
			}
		}
		pos = end
	}
	if first != rows {
		return prefix, nil, fmt.Errorf("%w: the pages of column %q hold %d rows, the row group %d", ErrCorrupt, c.name, first, rows)
	}
	// Pages without rows carry nothing; parquet-go cannot decode some of
	// them (an empty compressed section), so they are left out.
	pages = slices.DeleteFunc(pages, func(p pageLoc) bool { return p.hdr.rows == 0 })
	return prefix, pages, nil
}

// headerInfo extracts what the decoder checks from a page header.
func headerInfo(h *format.PageHeader, hlen int) (*pageHdr, error) {
	ph := &pageHdr{hlen: hlen, nulls: -1, valueBytes: int64(h.UncompressedPageSize)}
	switch h.Type {
	case format.DataPage:
		ph.enc = h.DataPageHeader.V.Encoding
		ph.rows = int64(h.DataPageHeader.V.NumValues)
	case format.DataPageV2:
		v := &h.DataPageHeaderV2.V
		ph.enc, ph.nulls, ph.rows = v.Encoding, int64(v.NumNulls), int64(v.NumRows)
		ph.valueBytes -= int64(v.DefinitionLevelsByteLength) + int64(v.RepetitionLevelsByteLength)
		// A page of nulls needs no decoding. Some writers leave its values
		// section empty but flagged compressed, which no codec accepts.
		ph.allNull = v.NumValues > 0 && v.NumNulls == v.NumValues
	}
	return ph, nil
}

// checkHeader validates a page header against the limits and the column.
func checkHeader(h *format.PageHeader, c *column, rows int64) error {
	if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 {
		return fmt.Errorf("negative page size")
	}
	if h.UncompressedPageSize > maxPageBytes {
		return fmt.Errorf("a page of %d bytes is larger than the %d this reader accepts", h.UncompressedPageSize, maxPageBytes)
	}
	var n int64
	switch h.Type {
	case format.DataPage:
		if !h.DataPageHeader.Valid {
			return fmt.Errorf("a data page without its header")
		}
		n = int64(h.DataPageHeader.V.NumValues)
	case format.DataPageV2:
		v := &h.DataPageHeaderV2
		if !v.Valid {
			return fmt.Errorf("a data page v2 without its header")
		}
		if v.V.NumRows < 0 || v.V.NumNulls < 0 || v.V.NumNulls > v.V.NumValues ||
			v.V.DefinitionLevelsByteLength < 0 || v.V.RepetitionLevelsByteLength < 0 ||
			int64(v.V.DefinitionLevelsByteLength)+int64(v.V.RepetitionLevelsByteLength) > int64(h.CompressedPageSize) {
			return fmt.Errorf("an inconsistent data page v2 header")
		}
		if v.V.NumRows != v.V.NumValues {
			return fmt.Errorf("a data page v2 of %d rows holds %d values", v.V.NumRows, v.V.NumValues)
		}
		n = int64(v.V.NumValues)
	case format.DictionaryPage:
		if !h.DictionaryPageHeader.Valid {
			return fmt.Errorf("a dictionary page without its header")
		}
		k := int64(h.DictionaryPageHeader.V.NumValues)
		width := int64(4) // BYTE_ARRAY values carry a 4-byte length
		switch c.phys {
		case physBool:
			width = 1
		case physInt64, physDouble:
			width = 8
		case physInt96:
			width = 12
		case physFixed:
			width = int64(c.typeLen)
		}
		if k < 0 || k*width > int64(h.UncompressedPageSize) {
			return fmt.Errorf("a dictionary of %d values in %d bytes", k, h.UncompressedPageSize)
		}
		return nil
	default:
		return nil
	}
	if n < 0 || n > rows || n > maxPageValues {
		return fmt.Errorf("a page of %d values in a row group of %d rows", n, rows)
	}
	return nil
}

// checkPage validates one data page located through the offset index: its
// header must decode, fit the limits, and fill exactly the page's bytes and
// rows. It records the header in p.
func checkPage(data []byte, p *pageLoc, c *column, pr rowRange, codec format.CompressionCodec) error {
	var proto thrift.CompactProtocol
	r := proto.NewReaderFromBytes(data)
	var h format.PageHeader
	if err := thrift.NewDecoder(r).Decode(&h); err != nil {
		return fmt.Errorf("%w: page header at offset %d: %v", ErrCorrupt, p.off, err)
	}
	if err := checkHeader(&h, c, pr.b-pr.a); err != nil {
		return fmt.Errorf("%w: page at offset %d: %v", ErrCorrupt, p.off, err)
	}
	if r.BytesRead()+int(h.CompressedPageSize) != len(data) {
		return fmt.Errorf("%w: page at offset %d: its header and the offset index disagree on its size", ErrCorrupt, p.off)
	}
	if h.Type != format.DataPage && h.Type != format.DataPageV2 {
		return fmt.Errorf("%w: the offset index points at a %s page", ErrCorrupt, h.Type)
	}
	if err := checkBody(codec, &h, data[r.BytesRead():]); err != nil {
		return fmt.Errorf("%w: page at offset %d: %v", ErrCorrupt, p.off, err)
	}
	hdr, err := headerInfo(&h, r.BytesRead())
	if err != nil {
		return fmt.Errorf("%w: page at offset %d: %v", ErrCorrupt, p.off, err)
	}
	if hdr.rows != pr.b-pr.a {
		return fmt.Errorf("%w: page at offset %d holds %d rows, the offset index says %d", ErrCorrupt, p.off, hdr.rows, pr.b-pr.a)
	}
	p.hdr = hdr
	return nil
}

// checkBody checks a page's compressed bytes against the size its header
// declares, for the codecs whose decoders would otherwise trust the bytes:
// snappy allocates the length its first bytes claim (up to 4 GiB), zstd
// frames may declare their size, and parquet-go retries a failing LZ4_RAW
// block with an ever larger buffer. The other codecs' output is bounded by
// their input.
func checkBody(codec format.CompressionCodec, h *format.PageHeader, body []byte) error {
	want := int64(h.UncompressedPageSize)
	if h.Type == format.DataPageV2 {
		v := &h.DataPageHeaderV2.V
		if v.IsCompressed.Valid && !v.IsCompressed.V {
			return nil
		}
		levels := int64(v.DefinitionLevelsByteLength) + int64(v.RepetitionLevelsByteLength)
		if levels > int64(len(body)) {
			return fmt.Errorf("levels longer than the page")
		}
		body, want = body[levels:], want-levels
		if len(body) == 0 {
			return nil // nothing to decompress (a page of nulls)
		}
	}
	switch codec {
	case format.Snappy:
		n, k := binary.Uvarint(body)
		if k <= 0 || n != uint64(want) {
			return fmt.Errorf("snappy data of %d bytes where the header says %d", n, want)
		}
	case format.Zstd:
		var zh zstd.Header
		if err := zh.Decode(body); err == nil && zh.HasFCS && zh.FrameContentSize > uint64(want) {
			return fmt.Errorf("a zstd frame of %d bytes where the header says %d", zh.FrameContentSize, want)
		}
	case format.Lz4Raw:
		buf := getBuf(int(want))
		defer putBufs(buffers{{data: buf}})
		if n, err := lz4.UncompressBlock(body, buf); err != nil || int64(n) != want {
			return fmt.Errorf("LZ4_RAW data that does not decompress to the %d bytes the header says", want)
		}
	}
	return nil
}
