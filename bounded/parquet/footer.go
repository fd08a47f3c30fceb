package parquet

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/weirdata/weir/storage"
)

// footerRead is how many bytes at the end of a file the first read fetches:
// it holds the footer of most files, so that opening a file costs one request.
const footerRead = 64 << 10

// maxFooter bounds the footer size this reader accepts (the largest real
// footers, of files with many row groups and columns, take a few MiB).
const maxFooter = 64 << 20

// fileMeta is what a source knows about one file after reading its footer.
type fileMeta struct {
	info   storage.ObjectInfo
	name   string // for messages: the store URL and key
	pf     *parquet.File
	md     *format.FileMetaData
	schema *fileSchema
	rgs    []rowGroupMeta
	rows   int64
	parts  []partValue // partition values, by partition column
	// cols maps each merged field to the file's column (-1: missing);
	// partition fields map to -1.
	cols []int
}

type rowGroupMeta struct {
	first int64 // file row of the row group's first row
	rows  int64
	keep  bool // not pruned by statistics
}

// footerBytes is an io.ReaderAt over the end of a file, for parquet.OpenFile,
// which reads only the footer when told to skip the page index and the bloom
// filters. Any other read is a bug or a corrupt footer.
type footerBytes struct {
	off  int64
	data []byte
}

func (f footerBytes) ReadAt(p []byte, off int64) (int, error) {
	if off < f.off || off-f.off >= int64(len(f.data)) {
		return 0, fmt.Errorf("%w: the footer points outside itself (offset %d)", ErrCorrupt, off)
	}
	n := copy(p, f.data[off-f.off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// openFile reads and decodes the footer of one file.
func (s *Source) openFile(ctx context.Context, info storage.ObjectInfo) (fm *fileMeta, err error) {
	name := s.fileName(info.Key)
	fm = &fileMeta{info: info, name: name}
	defer func() {
		if r := recover(); r != nil {
			fm, err = nil, fmt.Errorf("%w: decoding the footer panicked: %v", ErrCorrupt, r)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
	}()
	size := info.Size
	if size < 12 {
		return nil, fmt.Errorf("%w: not a Parquet file (%d bytes)", ErrCorrupt, size)
	}
	tailLen := min(size, footerRead)
	tail, err := s.readRange(ctx, fm, byteRange{size - tailLen, size})
	if err != nil {
		return nil, err
	}
	switch string(tail[len(tail)-4:]) {
	case "PAR1":
	case "PARE":
		return nil, fmt.Errorf("%w: the file is encrypted (encrypted footer)", ErrUnsupported)
	default:
		return nil, fmt.Errorf("%w: not a Parquet file (no PAR1 magic at the end)", ErrCorrupt)
	}
	if tailLen == size && string(tail[:4]) != "PAR1" {
		return nil, fmt.Errorf("%w: not a Parquet file (no PAR1 magic at the start)", ErrCorrupt)
	}
	footerLen := int64(binary.LittleEndian.Uint32(tail[len(tail)-8:]))
	if footerLen > size-12 || footerLen > maxFooter {
		return nil, fmt.Errorf("%w: footer length %d does not fit a %d-byte file", ErrCorrupt, footerLen, size)
	}
	fb := footerBytes{off: size - tailLen, data: tail}
	if footerLen+8 > tailLen {
		data, err := s.readRange(ctx, fm, byteRange{size - 8 - footerLen, size})
		if err != nil {
			return nil, err
		}
		fb = footerBytes{off: size - 8 - footerLen, data: data}
	}
	footerStart := size - 8 - footerLen
	if err := checkThrift(fb.data[footerStart-fb.off : size-8-fb.off]); err != nil {
		return nil, fmt.Errorf("%w: footer: %v", ErrCorrupt, err)
	}
	open := func(fb footerBytes, size int64) (*parquet.File, error) {
		return parquet.OpenFile(fb, size,
			parquet.SkipMagicBytes(true), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	}
	pf, err := open(fb, size)
	if err != nil && strings.Contains(err.Error(), "missing required field") {
		// Perhaps a key without a value (see repairKeyValues).
		start := size - 8 - footerLen
		footer := fb.data[start-fb.off : size-8-fb.off]
		if fixed, n, rerr := repairKeyValues(footer); rerr == nil && n > 0 {
			buf := binary.LittleEndian.AppendUint32(fixed, uint32(len(fixed)))
			buf = append(buf, "PAR1"...)
			pf, err = open(footerBytes{off: start, data: buf}, start+int64(len(buf)))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	fm.pf, fm.md = pf, pf.Metadata()
	if fm.md.EncryptionAlgorithm.Value != nil {
		return nil, fmt.Errorf("%w: the file is encrypted (signed plaintext footer)", ErrUnsupported)
	}
	if fm.schema, err = flatten(fm.md.Schema); err != nil {
		return nil, fmt.Errorf("%w: schema: %v", ErrCorrupt, err)
	}
	var first int64
	for i := range fm.md.RowGroups {
		rg := &fm.md.RowGroups[i]
		if len(rg.Columns) != fm.schema.leaves {
			return nil, fmt.Errorf("%w: row group %d has %d column chunks for %d columns", ErrCorrupt, i, len(rg.Columns), fm.schema.leaves)
		}
		if rg.NumRows < 0 || first+rg.NumRows < first {
			return nil, fmt.Errorf("%w: row group %d has %d rows", ErrCorrupt, i, rg.NumRows)
		}
		fm.rgs = append(fm.rgs, rowGroupMeta{first: first, rows: rg.NumRows, keep: true})
		first += rg.NumRows
	}
	fm.rows = first
	if len(fm.pf.RowGroups()) != len(fm.rgs) {
		return nil, fmt.Errorf("%w: parquet-go sees %d row groups, the footer %d", ErrCorrupt, len(fm.pf.RowGroups()), len(fm.rgs))
	}
	return fm, nil
}
