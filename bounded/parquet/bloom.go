package parquet

import (
	"context"
	"fmt"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// maxBloom bounds the size of a bloom filter this reader loads.
const maxBloom = 128 << 20

// bloomFilter loads the bloom filter of column col in row group rg: the
// header and the bitset in one read when the footer gives the filter's
// length (format 2.10), otherwise the header first.
func (s *Source) bloomFilter(ctx context.Context, f *fileMeta, rg int, col *column) (parquet.BloomFilter, error) {
	md := &f.md.RowGroups[rg].Columns[col.leaf].MetaData
	off := md.BloomFilterOffset
	n := int64(md.BloomFilterLength)
	if n <= 0 {
		// The header is a few bytes; read a page's worth and see.
		n = min(4096, f.info.Size-8-off)
	}
	if off <= 0 || n <= 0 || n > maxBloom || off+n > f.info.Size-8 {
		return nil, fmt.Errorf("%w: bloom filter [%d, +%d) outside the file", ErrCorrupt, off, n)
	}
	data, err := s.readRange(ctx, f, byteRange{off, off + n})
	if err != nil {
		return nil, err
	}
	var proto thrift.CompactProtocol
	r := proto.NewReaderFromBytes(data)
	var h format.BloomFilterHeader
	if err := thrift.NewDecoder(r).Decode(&h); err != nil {
		return nil, fmt.Errorf("%w: bloom filter header: %v", ErrCorrupt, err)
	}
	need := int64(r.BytesRead()) + int64(h.NumBytes)
	if h.NumBytes <= 0 || need > maxBloom || off+need > f.info.Size-8 {
		return nil, fmt.Errorf("%w: bloom filter of %d bytes", ErrCorrupt, h.NumBytes)
	}
	if need > int64(len(data)) {
		if data, err = s.readRange(ctx, f, byteRange{off, off + need}); err != nil {
			return nil, err
		}
	}
	fc, ok := f.pf.RowGroups()[rg].ColumnChunks()[col.leaf].(*parquet.FileColumnChunk)
	if !ok {
		return nil, fmt.Errorf("internal error: not a file column chunk")
	}
	bf, err := fc.BloomFilterFrom(footerBytes{off: off, data: data})
	if err != nil {
		return nil, err
	}
	return bf, nil
}
