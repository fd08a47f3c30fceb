package dataflow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
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

// encodeSchema writes s as an Arrow IPC schema message (the stream format
// with no record batches): the standard, versioned description of every
// Arrow type, metadata included.
func encodeSchema(s *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeSchema(b []byte) (s *arrow.Schema, err error) {
	defer func() {
		// The IPC reader trusts flatbuffer offsets; corrupt bytes that got
		// past the checksum must still fail as an error.
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: schema: %v", ErrCorruptSnapshot, r)
		}
	}()
	r, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: schema: %w", ErrCorruptSnapshot, err)
	}
	defer r.Release()
	return r.Schema(), nil
}
