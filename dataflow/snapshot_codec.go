package dataflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
)

// Operator snapshots.
//
// An operator that keeps state in its own structures (window accumulators,
// join buffers) writes it on a checkpoint barrier as one blob per key group
// (StateSnapshotter). Every blob is wrapped in the same self-checking
// envelope, so the checkpoint store and the restore path can tell a blob of
// the wrong operator kind, version or key group, or a damaged one, from a
// good one without knowing the operator's format:
//
//	blob    = "WOS" version:byte(=1) kind:bytes kg:uvarint payload:bytes crc:uint32
//	bytes   = length:uvarint data[length]
//
// crc is the CRC-32C (Castagnoli), big-endian, of every byte before it.
// kind names the operator's payload format ("window_agg/1"); an operator
// that changes its payload changes the kind's version, and a restore of an
// unknown kind fails with ErrIncompatibleSnapshot rather than misreading it.
//
// Payloads are built with snapEncoder: uvarints, zig-zag varints, fixed
// 8-byte floats, length-prefixed byte strings. snapDecoder reads them back
// with a sticky error: every read past the end or over a limit sets it, so a
// payload decoder checks the error once at the end and never panics on
// corrupt input (the fuzz targets in snapshot_codec_test.go hold it to that).

const (
	opSnapshotMagic   = "WOS"
	opSnapshotVersion = 1
	// maxSnapshotCount bounds element counts read from a payload, so that a
	// corrupt count fails instead of allocating.
	maxSnapshotCount = 1 << 28
)

// ErrIncompatibleSnapshot is returned (wrapped) when a snapshot is intact but
// cannot be restored into the job: another operator kind or format version,
// another maximum parallelism, a changed query.
var ErrIncompatibleSnapshot = errors.New("incompatible snapshot")

// sealSnapshot wraps payload in the envelope.
func sealSnapshot(kind string, kg int, payload []byte) []byte {
	var e snapEncoder
	e.buf = append(e.buf, opSnapshotMagic...)
	e.buf = append(e.buf, opSnapshotVersion)
	e.str(kind)
	e.uvarint(uint64(kg))
	e.bytes(payload)
	return binary.BigEndian.AppendUint32(e.buf, crc32.Checksum(e.buf, castagnoli))
}

// openSnapshot checks blob's envelope and returns its payload. The payload
// aliases blob.
func openSnapshot(blob []byte, kind string, kg int) ([]byte, error) {
	if len(blob) < len(opSnapshotMagic)+1+4 {
		return nil, fmt.Errorf("%w: operator snapshot of %d bytes", ErrCorruptSnapshot, len(blob))
	}
	body, sum := blob[:len(blob)-4], binary.BigEndian.Uint32(blob[len(blob)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("%w: operator snapshot checksum %08x, want %08x", ErrCorruptSnapshot, got, sum)
	}
	if string(body[:3]) != opSnapshotMagic {
		return nil, fmt.Errorf("%w: bad operator snapshot magic", ErrCorruptSnapshot)
	}
	if body[3] != opSnapshotVersion {
		return nil, fmt.Errorf("%w: operator snapshot envelope version %d, want %d", ErrIncompatibleSnapshot, body[3], opSnapshotVersion)
	}
	d := snapDecoder{b: body[4:]}
	gotKind := d.str()
	gotKG := d.uvarint()
	payload := d.bytes()
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	if gotKind != kind {
		return nil, fmt.Errorf("%w: snapshot of a %q operator, want %q", ErrIncompatibleSnapshot, gotKind, kind)
	}
	if gotKG != uint64(kg) {
		return nil, fmt.Errorf("%w: snapshot of key group %d, want %d", ErrCorruptSnapshot, gotKG, kg)
	}
	return payload, nil
}

// snapEncoder appends a payload's fields.
type snapEncoder struct{ buf []byte }

func (e *snapEncoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *snapEncoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *snapEncoder) byte(b byte)      { e.buf = append(e.buf, b) }
func (e *snapEncoder) bool(b bool) {
	if b {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}
func (e *snapEncoder) float(f float64) {
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
}
func (e *snapEncoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}
func (e *snapEncoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// snapDecoder reads a payload with a sticky error.
type snapDecoder struct {
	b   []byte
	err error
}

func (d *snapDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
	}
}

func (d *snapDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *snapDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("unexpected end")
		return 0
	}
	b := d.b[0]
	d.b = d.b[1:]
	return b
}

func (d *snapDecoder) bool() bool {
	switch b := d.byte(); b {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad bool 0x%02x", b)
		return false
	}
}

func (d *snapDecoder) float() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("unexpected end")
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// bytes returns a length-prefixed byte string; it aliases the payload.
func (d *snapDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *snapDecoder) str() string { return string(d.bytes()) }

// count reads an element count that each element needs at least minBytes
// of the payload for, so that a corrupt count fails here.
func (d *snapDecoder) count(minBytes int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > maxSnapshotCount || n*uint64(max(minBytes, 1)) > uint64(len(d.b)) {
		d.fail("count %d exceeds what the %d bytes left can hold", n, len(d.b))
		return 0
	}
	return int(n)
}

// Schemas. A snapshot carries its operator's input schema so that a
// restored operator can rebuild its accumulators before any batch arrives:
//
//	schema = nfields:uvarint field*
//	field  = name:bytes nullable:bool nmeta:uvarint (key:bytes value:bytes)* type
//	type   = id:uvarint (Arrow's type id), then for timestamps unit:uvarint
//	         zone:bytes, for decimals precision:uvarint scale:varint
//
// Only flat types are written (nested columns are refused at snapshot time).
// Arrow's IPC schema message was the rejected alternative: its reader trusts
// the flatbuffer's lengths, so a forged message can make it allocate without
// bound; this decoder bounds every count by the bytes it has.
func encodeSchema(s *arrow.Schema) ([]byte, error) {
	var e snapEncoder
	e.uvarint(uint64(s.NumFields()))
	for _, f := range s.Fields() {
		e.str(f.Name)
		e.bool(f.Nullable)
		e.uvarint(uint64(f.Metadata.Len()))
		for i, k := range f.Metadata.Keys() {
			e.str(k)
			e.str(f.Metadata.Values()[i])
		}
		e.uvarint(uint64(f.Type.ID()))
		switch t := f.Type.(type) {
		case *arrow.TimestampType:
			e.uvarint(uint64(t.Unit))
			e.str(t.TimeZone)
		case *arrow.Decimal128Type:
			e.uvarint(uint64(t.Precision))
			e.varint(int64(t.Scale))
		default:
			if err := CheckSnapshotType(f.Type); err != nil {
				return nil, fmt.Errorf("snapshot: input column %q: %w", f.Name, err)
			}
		}
	}
	return e.buf, nil
}

// CheckSnapshotType reports whether a column of type t can be saved in an
// operator's snapshot: an error naming the type when it cannot (nested
// types), so that a job that checkpoints can be refused before it runs
// rather than at its first checkpoint.
func CheckSnapshotType(t arrow.DataType) error {
	switch t.(type) {
	case *arrow.TimestampType, *arrow.Decimal128Type:
		return nil
	}
	if flatType(t.ID()) == nil {
		return fmt.Errorf("a column of type %s cannot be saved in a checkpoint yet", t)
	}
	return nil
}

// flatType returns the parameterless Arrow type of id, or nil.
func flatType(id arrow.Type) arrow.DataType {
	switch id {
	case arrow.BOOL:
		return arrow.FixedWidthTypes.Boolean
	case arrow.INT8:
		return arrow.PrimitiveTypes.Int8
	case arrow.INT16:
		return arrow.PrimitiveTypes.Int16
	case arrow.INT32:
		return arrow.PrimitiveTypes.Int32
	case arrow.INT64:
		return arrow.PrimitiveTypes.Int64
	case arrow.UINT8:
		return arrow.PrimitiveTypes.Uint8
	case arrow.UINT16:
		return arrow.PrimitiveTypes.Uint16
	case arrow.UINT32:
		return arrow.PrimitiveTypes.Uint32
	case arrow.UINT64:
		return arrow.PrimitiveTypes.Uint64
	case arrow.FLOAT32:
		return arrow.PrimitiveTypes.Float32
	case arrow.FLOAT64:
		return arrow.PrimitiveTypes.Float64
	case arrow.STRING:
		return arrow.BinaryTypes.String
	case arrow.BINARY:
		return arrow.BinaryTypes.Binary
	case arrow.LARGE_STRING:
		return arrow.BinaryTypes.LargeString
	case arrow.LARGE_BINARY:
		return arrow.BinaryTypes.LargeBinary
	case arrow.DATE32:
		return arrow.FixedWidthTypes.Date32
	case arrow.DATE64:
		return arrow.FixedWidthTypes.Date64
	case arrow.NULL:
		return arrow.Null
	}
	return nil
}

func decodeSchema(b []byte) (*arrow.Schema, error) {
	d := &snapDecoder{b: b}
	n := d.count(3)
	fields := make([]arrow.Field, 0, n)
	for range n {
		f := arrow.Field{Name: d.str(), Nullable: d.bool()}
		if nm := d.count(2); nm > 0 {
			keys, vals := make([]string, nm), make([]string, nm)
			for i := range nm {
				keys[i], vals[i] = d.str(), d.str()
			}
			f.Metadata = arrow.NewMetadata(keys, vals)
		}
		id := d.uvarint()
		if d.err != nil {
			break
		}
		switch arrow.Type(id) {
		case arrow.TIMESTAMP:
			unit := d.uvarint()
			tz := d.str()
			if unit > uint64(arrow.Nanosecond) {
				d.fail("timestamp unit %d", unit)
			}
			f.Type = &arrow.TimestampType{Unit: arrow.TimeUnit(unit), TimeZone: tz}
		case arrow.DECIMAL128:
			p, sc := d.uvarint(), d.varint()
			if p < 1 || p > 38 || sc < -38 || sc > 38 {
				d.fail("decimal(%d, %d)", p, sc)
			}
			f.Type = &arrow.Decimal128Type{Precision: int32(p), Scale: int32(sc)}
		default:
			if id > 1<<16 || flatType(arrow.Type(id)) == nil {
				d.fail("column type id %d", id)
			} else {
				f.Type = flatType(arrow.Type(id))
			}
		}
		fields = append(fields, f)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes after the schema", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("schema: %w", d.err)
	}
	return arrow.NewSchema(fields, nil), nil
}
