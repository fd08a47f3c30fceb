package dataflow

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Codecs for typed state. The fixed-width ones are order-preserving: the
// byte order of the encoding is the order of the values, which is the order
// in which MapState.Range visits user keys (and in which a disk backend
// stores them).

// Int64Codec encodes an int64 as 8 bytes, big-endian, with the sign bit
// flipped so that byte order is numeric order.
type Int64Codec struct{}

// Encode implements Codec.
func (Int64Codec) Encode(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63)), nil
}

// Decode implements Codec.
func (Int64Codec) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("int64 state value: %d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)), nil
}

// Float64Codec encodes a float64 as 8 bytes, big-endian, transformed so
// that byte order is numeric order (negative values have every bit
// flipped, others only the sign bit); -0 sorts just before +0 and NaNs
// sort at the ends by sign.
type Float64Codec struct{}

// Encode implements Codec.
func (Float64Codec) Encode(dst []byte, v float64) ([]byte, error) {
	bits := math.Float64bits(v)
	if bits>>63 == 1 {
		bits = ^bits
	} else {
		bits |= 1 << 63
	}
	return binary.BigEndian.AppendUint64(dst, bits), nil
}

// Decode implements Codec.
func (Float64Codec) Decode(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("float64 state value: %d bytes, want 8", len(b))
	}
	bits := binary.BigEndian.Uint64(b)
	if bits>>63 == 1 {
		bits &^= 1 << 63
	} else {
		bits = ^bits
	}
	return math.Float64frombits(bits), nil
}

// StringCodec stores a string's bytes as they are.
type StringCodec struct{}

// Encode implements Codec.
func (StringCodec) Encode(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }

// Decode implements Codec.
func (StringCodec) Decode(b []byte) (string, error) { return string(b), nil }

// BytesCodec stores bytes as they are; Decode returns a copy.
type BytesCodec struct{}

// Encode implements Codec.
func (BytesCodec) Encode(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }

// Decode implements Codec.
func (BytesCodec) Decode(b []byte) ([]byte, error) { return bytes.Clone(b), nil }

// JSONCodec stores any JSON-encodable value (a struct, a slice) with
// encoding/json. It is the general-purpose codec for composite state: the
// encoding is self-describing, so a struct can gain fields between a
// checkpoint and a restore. It is not order-preserving. For hot state,
// prefer a hand-written Codec over the struct's fields.
type JSONCodec[T any] struct{}

// Encode implements Codec.
func (JSONCodec[T]) Encode(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("json state value: %w", err)
	}
	return append(dst, b...), nil
}

// Decode implements Codec.
func (JSONCodec[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("json state value: %w", err)
	}
	return v, nil
}

// GobCodec stores a value with encoding/gob. Each value is encoded as a
// stream of its own, so it carries gob's description of its type: it is
// several times larger and slower than JSONCodec for small structs (gob
// pays off only for streams of many values, which state entries are not).
// Use it for types JSON cannot represent (maps with struct keys, NaN
// floats).
type GobCodec[T any] struct{}

// Encode implements Codec.
func (GobCodec[T]) Encode(dst []byte, v T) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	if err := gob.NewEncoder(buf).Encode(&v); err != nil {
		return dst, fmt.Errorf("gob state value: %w", err)
	}
	return buf.Bytes(), nil
}

// Decode implements Codec.
func (GobCodec[T]) Decode(b []byte) (T, error) {
	var v T
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
		return v, fmt.Errorf("gob state value: %w", err)
	}
	return v, nil
}

// Key-group snapshots.
//
// SnapshotKeyGroup writes everything the backend holds about one key group
// (table entries and timers) as one self-checking byte string:
//
//	snapshot = "WKG" version:byte(=1) kg:uvarint entry* 0x00 crc:uint32
//	entry    = 0x01 table:bytes key:bytes value:bytes     a byte-table entry
//	         | 0x02 timers:bytes key:bytes time:int64     an event-time timer
//	bytes    = length:uvarint data[length]
//
// Fixed-width integers (time, crc) are big-endian; time is in µs. crc is
// the CRC-32C (Castagnoli) of every byte before it. The order is canonical,
// so equal state gives equal bytes: table entries first, tables by name,
// keys in byte order; then timers, services by name, then by time, then by
// key. A kind byte other than 0x00-0x02 is an error; new kinds (operator-
// managed state) come with a new version.

const (
	snapshotMagic   = "WKG"
	snapshotVersion = 1

	entryEnd   = 0x00
	entryTable = 0x01
	entryTimer = 0x02

	// maxSnapshotName bounds table and timer-service names; maxSnapshotBytes
	// bounds keys and values, so that a corrupt length fails instead of
	// allocating.
	maxSnapshotName  = 1 << 16
	maxSnapshotBytes = 1 << 31
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorruptSnapshot is returned (wrapped) by RestoreKeyGroup for a
// snapshot that is malformed or fails its checksum.
var ErrCorruptSnapshot = errors.New("corrupt key-group snapshot")

type snapshotWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	buf []byte
}

func (sw *snapshotWriter) write(b []byte) {
	sw.w.Write(b)   //nolint:errcheck // bufio.Writer keeps the first error; Flush returns it
	sw.crc.Write(b) //nolint:errcheck // hash writes never fail
}

func (sw *snapshotWriter) entry(kind byte, a, b string, tail []byte) {
	sw.buf = append(sw.buf[:0], kind)
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(a)))
	sw.buf = append(sw.buf, a...)
	sw.buf = binary.AppendUvarint(sw.buf, uint64(len(b)))
	sw.buf = append(sw.buf, b...)
	sw.buf = append(sw.buf, tail...)
	sw.write(sw.buf)
}

// SnapshotKeyGroup writes the state of key group kg (table entries and
// timers) to w in the format described above. It does not include
// operator-managed state (ManagedState).
func (s *StateBackend) SnapshotKeyGroup(kg int, w io.Writer) error {
	return s.snapshotKeyGroup(kg, w, true)
}

// snapshotKeyGroup is SnapshotKeyGroup, without the table entries unless
// tables is set (an incremental checkpoint saves them as store files).
func (s *StateBackend) snapshotKeyGroup(kg int, w io.Writer, tables bool) error {
	if !s.groups.Contains(kg) {
		return fmt.Errorf("snapshot: key group %d outside %s", kg, s.groups)
	}
	sw := &snapshotWriter{w: bufio.NewWriter(w), crc: crc32.New(castagnoli)}
	hdr := append([]byte(snapshotMagic), snapshotVersion)
	sw.write(binary.AppendUvarint(hdr, uint64(kg)))
	var tail []byte
	if tables && s.st != nil {
		names := s.st.tableNamesIn(kg)
		slices.Sort(names)
		for _, name := range names {
			s.Table(name).kv.scan(kg, nil, func(k, v []byte) bool {
				tail = append(binary.AppendUvarint(tail[:0], uint64(len(v))), v...)
				sw.entry(entryTable, name, string(k), tail)
				return true
			})
		}
		if err := s.Err(); err != nil {
			return fmt.Errorf("snapshot key group %d: %w", kg, err)
		}
	}
	for _, name := range s.TableNames() {
		if !tables || s.st != nil {
			break
		}
		g := s.tables[name].groups[kg]
		if g == nil {
			continue
		}
		for _, c := range g.keys.chunks {
			for _, k := range c {
				v := *g.vals[k]
				tail = append(binary.AppendUvarint(tail[:0], uint64(len(v))), v...)
				sw.entry(entryTable, name, k, tail)
			}
		}
	}
	for _, name := range s.TimerNames() {
		for _, e := range s.timers[name].keyGroupTimers(kg) {
			tail = binary.BigEndian.AppendUint64(tail[:0], uint64(e.t))
			sw.entry(entryTimer, name, e.key, tail)
		}
	}
	sw.write([]byte{entryEnd})
	sw.w.Write(binary.BigEndian.AppendUint32(nil, sw.crc.Sum32())) //nolint:errcheck // returned by Flush
	if err := sw.w.Flush(); err != nil {
		return fmt.Errorf("snapshot key group %d: %w", kg, err)
	}
	return nil
}

type snapshotReader struct {
	r   io.ByteReader
	rr  io.Reader // r as an io.Reader when it is one, for bulk reads
	sum uint32    // CRC-32C of the bytes read so far
	one [1]byte
	err error
}

func (sr *snapshotReader) fail(format string, args ...any) {
	if sr.err == nil {
		sr.err = fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
	}
}

func (sr *snapshotReader) readErr(err error) {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if sr.err == nil {
		sr.err = fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
}

func (sr *snapshotReader) byte() byte {
	if sr.err != nil {
		return 0
	}
	b, err := sr.r.ReadByte()
	if err != nil {
		sr.readErr(err)
		return 0
	}
	sr.one[0] = b
	sr.sum = crc32.Update(sr.sum, castagnoli, sr.one[:])
	return b
}

func (sr *snapshotReader) uvarint() uint64 {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b := sr.byte()
		if sr.err != nil {
			return 0
		}
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x
		}
	}
	sr.fail("uvarint overflows 64 bits")
	return 0
}

// bytes reads a length-prefixed byte string. It grows the result as bytes
// arrive, so a corrupt length cannot allocate much more than the input holds.
func (sr *snapshotReader) bytes(limit uint64, what string) []byte {
	n := sr.uvarint()
	if sr.err != nil {
		return nil
	}
	if n > limit {
		sr.fail("%s length %d exceeds %d", what, n, limit)
		return nil
	}
	const chunk = 64 << 10
	out := make([]byte, 0, min(n, chunk))
	for uint64(len(out)) < n && sr.err == nil {
		if sr.rr == nil {
			out = append(out, sr.byte())
			continue
		}
		m := int(min(n-uint64(len(out)), chunk))
		start := len(out)
		out = append(out, make([]byte, m)...)
		if _, err := io.ReadFull(sr.rr, out[start:]); err != nil {
			sr.readErr(err)
			return nil
		}
		sr.sum = crc32.Update(sr.sum, castagnoli, out[start:])
	}
	if sr.err != nil {
		return nil
	}
	return out
}

func (sr *snapshotReader) int64() int64 {
	var x uint64
	for range 8 {
		x = x<<8 | uint64(sr.byte())
	}
	return int64(x)
}

// RestoreKeyGroup replaces the state of key group kg (table entries and
// timers) by the snapshot read from r, which SnapshotKeyGroup wrote for kg
// in a backend of any key-group range. Tables and timer services are
// created by name as needed; an operator opened afterwards finds its state
// under the names it uses. Nothing changes unless the whole snapshot is
// read and its checksum matches. When r is an io.ByteReader (a
// bufio.Reader over a file of several snapshots), exactly the snapshot's
// bytes are read from it; otherwise r is buffered and may be read ahead.
func (s *StateBackend) RestoreKeyGroup(kg int, r io.Reader) error {
	return s.restoreKeyGroup(kg, r, true)
}

// restoreKeyGroup is RestoreKeyGroup; unless tables is set, the table
// entries of kg are left as they are (restored from store files).
func (s *StateBackend) restoreKeyGroup(kg int, r io.Reader, tables bool) error {
	if !s.groups.Contains(kg) {
		return fmt.Errorf("restore: key group %d outside %s", kg, s.groups)
	}
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReader(r)
	}
	sr := &snapshotReader{r: br}
	sr.rr, _ = br.(io.Reader)
	for i := range len(snapshotMagic) {
		if b := sr.byte(); sr.err == nil && b != snapshotMagic[i] {
			sr.fail("bad magic")
		}
	}
	if v := sr.byte(); sr.err == nil && v != snapshotVersion {
		sr.fail("version %d, want %d", v, snapshotVersion)
	}
	if got := sr.uvarint(); sr.err == nil && got != uint64(kg) {
		return fmt.Errorf("restore key group %d: snapshot is of key group %d", kg, got)
	}
	type tableEntry struct{ table, key, val []byte }
	type timerEntry struct {
		name, key []byte
		t         int64
	}
	var entries []tableEntry
	var timers []timerEntry
	for sr.err == nil {
		kind := sr.byte()
		if sr.err != nil || kind == entryEnd {
			break
		}
		switch kind {
		case entryTable:
			var e tableEntry
			e.table = sr.bytes(maxSnapshotName, "table name")
			e.key = sr.bytes(maxSnapshotBytes, "key")
			e.val = sr.bytes(maxSnapshotBytes, "value")
			entries = append(entries, e)
		case entryTimer:
			var e timerEntry
			e.name = sr.bytes(maxSnapshotName, "timer service name")
			e.key = sr.bytes(maxSnapshotBytes, "key")
			e.t = sr.int64()
			timers = append(timers, e)
		default:
			sr.fail("unknown entry kind 0x%02x", kind)
		}
	}
	want := sr.sum
	var got uint32
	for range 4 {
		got = got<<8 | uint32(sr.byte())
	}
	if sr.err == nil && got != want {
		sr.fail("checksum %08x, want %08x", got, want)
	}
	if sr.err != nil {
		return fmt.Errorf("restore key group %d: %w", kg, sr.err)
	}

	if len(entries) > 0 && !tables {
		return fmt.Errorf("restore key group %d: %w: table entries in a snapshot of timers only", kg, ErrCorruptSnapshot)
	}
	if tables {
		for _, t := range s.tables {
			delete(t.groups, kg)
		}
		if s.st != nil && (s.st.opened() || len(entries) > 0) {
			start, end := keyGroupSpan(kg, kg+1)
			s.st.fail("delete range", s.st.ensure().DeleteRange(start, end))
		}
	}
	for _, ts := range s.timers {
		ts.clearKeyGroup(kg)
	}
	for _, e := range entries {
		// Put clips the value, so every restored value owns its memory.
		s.Table(string(e.table)).Put(kg, e.key, e.val)
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("restore key group %d: %w", kg, err)
	}
	for _, e := range timers {
		s.Timers(string(e.name)).Register(kg, e.key, e.t)
	}
	return nil
}

// Keys.
//
// EncodeKey turns the key columns of one row into the bytes that name the
// key in state and timers. The encoding is deterministic and injective for
// a given list of column types, and order-preserving per column except for
// strings and binary (so a disk backend keeps numeric keys in order):
//
//	key    = column*
//	column = 0x00                   NULL
//	       | 0x01 value
//	value  = int8…int64, date32, date64, timestamp (in the column's unit):
//	             big-endian two's complement of the type's width, sign bit flipped
//	       | uint8…uint64: big-endian of the type's width
//	       | float64: as Float64Codec, after mapping -0 to +0 and every NaN to
//	             one NaN (equal keys hash equally: see columnar.HashColumns)
//	       | float32: the same transform on 4 bytes, without that mapping
//	             (the key hash also tells -0 from +0 for float32)
//	       | bool: 0x00 or 0x01
//	       | string, binary: length:uvarint bytes[length]
//
// The types are those the key hash supports.

// KeyEncodable reports whether EncodeKey supports columns of type dt.
func KeyEncodable(dt arrow.DataType) bool {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL, arrow.STRING, arrow.BINARY,
		arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return true
	}
	return false
}

// EncodeKey appends to dst the key of row row made of the columns cols of
// rec, in the encoding described above. It panics on a column type that
// KeyEncodable rejects; check the schema first.
func EncodeKey(rec arrow.RecordBatch, cols []int, row int, dst []byte) []byte {
	for _, c := range cols {
		dst = appendKeyColumn(dst, rec.Column(c), row)
	}
	return dst
}

func appendKeyColumn(dst []byte, a arrow.Array, row int) []byte {
	if a.IsNull(row) {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	be := binary.BigEndian
	switch a := a.(type) {
	case *array.Int8:
		return append(dst, uint8(a.Value(row))^0x80)
	case *array.Int16:
		return be.AppendUint16(dst, uint16(a.Value(row))^(1<<15))
	case *array.Int32:
		return be.AppendUint32(dst, uint32(a.Value(row))^(1<<31))
	case *array.Int64:
		return be.AppendUint64(dst, uint64(a.Value(row))^(1<<63))
	case *array.Date32:
		return be.AppendUint32(dst, uint32(a.Value(row))^(1<<31))
	case *array.Date64:
		return be.AppendUint64(dst, uint64(a.Value(row))^(1<<63))
	case *array.Timestamp:
		return be.AppendUint64(dst, uint64(a.Value(row))^(1<<63))
	case *array.Uint8:
		return append(dst, a.Value(row))
	case *array.Uint16:
		return be.AppendUint16(dst, a.Value(row))
	case *array.Uint32:
		return be.AppendUint32(dst, a.Value(row))
	case *array.Uint64:
		return be.AppendUint64(dst, a.Value(row))
	case *array.Float32:
		bits := math.Float32bits(a.Value(row))
		if bits>>31 == 1 {
			bits = ^bits
		} else {
			bits |= 1 << 31
		}
		return be.AppendUint32(dst, bits)
	case *array.Float64:
		f := a.Value(row)
		switch {
		case f == 0:
			f = 0
		case math.IsNaN(f):
			f = math.NaN()
		}
		b, _ := Float64Codec{}.Encode(dst, f)
		return b
	case *array.Boolean:
		if a.Value(row) {
			return append(dst, 1)
		}
		return append(dst, 0)
	case *array.String:
		v := a.Value(row)
		return append(binary.AppendUvarint(dst, uint64(len(v))), v...)
	case *array.Binary:
		v := a.Value(row)
		return append(binary.AppendUvarint(dst, uint64(len(v))), v...)
	}
	panic(fmt.Sprintf("dataflow: EncodeKey: unsupported key column type %s", a.DataType()))
}

// DecodeKey decodes a key that EncodeKey made from columns of the given
// types. Values have the Go types RowWriter accepts for those columns, so
// they can be emitted as they are: int8…int64, uint8…uint64, float32,
// float64, bool, string, []byte, arrow.Timestamp, arrow.Date32,
// arrow.Date64, and nil for NULL.
func DecodeKey(key []byte, types ...arrow.DataType) ([]any, error) {
	out := make([]any, len(types))
	be := binary.BigEndian
	for i, dt := range types {
		if len(key) == 0 {
			return nil, fmt.Errorf("decode key: column %d: key too short", i)
		}
		tag := key[0]
		key = key[1:]
		if tag == 0 {
			continue
		}
		if tag != 1 {
			return nil, fmt.Errorf("decode key: column %d: bad tag 0x%02x", i, tag)
		}
		width := 0
		switch dt.ID() {
		case arrow.INT8, arrow.UINT8, arrow.BOOL:
			width = 1
		case arrow.INT16, arrow.UINT16:
			width = 2
		case arrow.INT32, arrow.UINT32, arrow.FLOAT32, arrow.DATE32:
			width = 4
		case arrow.INT64, arrow.UINT64, arrow.FLOAT64, arrow.DATE64, arrow.TIMESTAMP:
			width = 8
		case arrow.STRING, arrow.BINARY:
			n, w := binary.Uvarint(key)
			if w <= 0 || n > uint64(len(key)-w) {
				return nil, fmt.Errorf("decode key: column %d: bad length", i)
			}
			v := key[w : w+int(n)]
			key = key[w+int(n):]
			if dt.ID() == arrow.STRING {
				out[i] = string(v)
			} else {
				out[i] = bytes.Clone(v)
			}
			continue
		default:
			return nil, fmt.Errorf("decode key: column %d: unsupported type %s", i, dt)
		}
		if len(key) < width {
			return nil, fmt.Errorf("decode key: column %d: key too short", i)
		}
		v := key[:width]
		key = key[width:]
		switch dt.ID() {
		case arrow.INT8:
			out[i] = int8(v[0] ^ 0x80)
		case arrow.UINT8:
			out[i] = v[0]
		case arrow.BOOL:
			out[i] = v[0] != 0
		case arrow.INT16:
			out[i] = int16(be.Uint16(v) ^ (1 << 15))
		case arrow.UINT16:
			out[i] = be.Uint16(v)
		case arrow.INT32:
			out[i] = int32(be.Uint32(v) ^ (1 << 31))
		case arrow.DATE32:
			out[i] = arrow.Date32(int32(be.Uint32(v) ^ (1 << 31)))
		case arrow.UINT32:
			out[i] = be.Uint32(v)
		case arrow.FLOAT32:
			bits := be.Uint32(v)
			if bits>>31 == 1 {
				bits &^= 1 << 31
			} else {
				bits = ^bits
			}
			out[i] = math.Float32frombits(bits)
		case arrow.INT64:
			out[i] = int64(be.Uint64(v) ^ (1 << 63))
		case arrow.DATE64:
			out[i] = arrow.Date64(int64(be.Uint64(v) ^ (1 << 63)))
		case arrow.TIMESTAMP:
			out[i] = arrow.Timestamp(int64(be.Uint64(v) ^ (1 << 63)))
		case arrow.UINT64:
			out[i] = be.Uint64(v)
		case arrow.FLOAT64:
			out[i], _ = Float64Codec{}.Decode(v)
		}
	}
	if len(key) != 0 {
		return nil, fmt.Errorf("decode key: %d trailing bytes", len(key))
	}
	return out, nil
}
