package parquet

import (
	"errors"
	"fmt"
)

// This file walks Thrift compact protocol (the encoding of Parquet's footer,
// page headers and page index; see thrift-compact-protocol.md) without
// decoding it, for two jobs parquet-go's decoder does not do:
//
//   - checkThrift bounds what decoding will allocate. parquet-go's decoder
//     makes a slice of the length a list declares (up to 2^31 elements)
//     before reading any element, so a few corrupt bytes could ask for
//     gigabytes. The walker checks that every list fits in the bytes left
//     and that all lists together stay within a budget proportional to the
//     input.
//   - repairKeyValues: parquet-go v0.32 declares KeyValue.value (field 2)
//     required, where the format has it optional, and so refuses footers of
//     valid files whose key-value metadata has a key without a value (Arrow
//     C++ writes them for column chunks). The walker rewrites such a footer
//     with an empty value where one is missing; New uses it only after
//     parquet-go refused a footer. Forking the footer decoder was rejected:
//     the rest of parquet-go needs its own metadata types.
//
// The walker copies its input byte for byte (when repairing), checking every
// length against the input, and knows just enough of the Parquet structs to
// find the KeyValue lists: FileMetaData field 5, and ColumnMetaData field 8
// of ColumnChunk field 3 of RowGroup field 1 of FileMetaData field 4.

// Compact protocol types.
const (
	ctStop   = 0
	ctTrue   = 1
	ctFalse  = 2
	ctByte   = 3
	ctI16    = 4
	ctI32    = 5
	ctI64    = 6
	ctDouble = 7
	ctBinary = 8
	ctList   = 9
	ctSet    = 10
	ctMap    = 11
	ctStruct = 12
)

// The structs the walker follows.
type tstruct uint8

const (
	tsOther tstruct = iota
	tsFile
	tsRowGroup
	tsColumnChunk
	tsColumnMeta
	tsKeyValue
)

// child is the struct kind of field id (a struct or a list of structs) of
// a struct of kind k.
func (k tstruct) child(id int) tstruct {
	switch {
	case k == tsFile && id == 4:
		return tsRowGroup
	case k == tsFile && id == 5, k == tsColumnMeta && id == 8:
		return tsKeyValue
	case k == tsRowGroup && id == 1:
		return tsColumnChunk
	case k == tsColumnChunk && id == 3:
		return tsColumnMeta
	}
	return tsOther
}

var errThrift = errors.New("malformed thrift")

type thriftWalker struct {
	in    []byte
	pos   int
	copy  bool
	out   []byte
	fixes int
	// cost estimates what decoding allocates: list elements weighted by
	// their kind (a struct costs structCost, anything else 32 bytes).
	cost int64
}

// structCost is a generous size of a decoded Parquet struct in memory (a
// ColumnChunk, the largest, is well under it).
const structCost = 1 << 10

// checkThrift walks one struct of b and checks what decoding it would
// allocate: at most 64 bytes per input byte, or 64 MiB for small inputs.
// Legitimate metadata stays far below (a column chunk is tens of bytes
// encoded and under a KiB decoded).
func checkThrift(b []byte) error {
	w := &thriftWalker{in: b}
	if err := w.structure(tsOther, 0); err != nil {
		return err
	}
	if budget := max(64<<20, 64*int64(len(b))); w.cost > budget {
		return fmt.Errorf("%w: its lists would take %d bytes to decode", errThrift, w.cost)
	}
	return nil
}

func repairKeyValues(footer []byte) ([]byte, int, error) {
	w := &thriftWalker{in: footer, copy: true, out: make([]byte, 0, len(footer)+64)}
	if err := w.structure(tsFile, 0); err != nil {
		return nil, 0, err
	}
	if w.pos != len(footer) {
		return nil, 0, fmt.Errorf("%w: %d trailing bytes", errThrift, len(footer)-w.pos)
	}
	return w.out, w.fixes, nil
}

func (w *thriftWalker) byte() (byte, error) {
	if w.pos >= len(w.in) {
		return 0, errThrift
	}
	b := w.in[w.pos]
	w.pos++
	if w.copy {
		w.out = append(w.out, b)
	}
	return b, nil
}

func (w *thriftWalker) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		b, err := w.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errThrift
}

func (w *thriftWalker) skip(n uint64) error {
	if n > uint64(len(w.in)-w.pos) {
		return errThrift
	}
	if w.copy {
		w.out = append(w.out, w.in[w.pos:w.pos+int(n)]...)
	}
	w.pos += int(n)
	return nil
}

func (w *thriftWalker) structure(k tstruct, depth int) error {
	if depth > 64 {
		return errThrift
	}
	last, hasValue := 0, false
	for {
		if w.pos >= len(w.in) {
			return errThrift
		}
		b := w.in[w.pos]
		if b == ctStop {
			if k == tsKeyValue && !hasValue && w.copy {
				// field 2 (long form: type BINARY, zigzag id 4), empty.
				w.out = append(w.out, ctBinary, 4, 0)
				w.fixes++
			}
			_, err := w.byte()
			return err
		}
		if _, err := w.byte(); err != nil {
			return err
		}
		typ, delta := b&0x0f, int(b>>4)
		id := last + delta
		if delta == 0 {
			z, err := w.varint()
			if err != nil {
				return err
			}
			id = int(int64(z>>1) ^ -int64(z&1))
		}
		last = id
		if k == tsKeyValue && id == 2 {
			hasValue = true
		}
		if err := w.value(typ, k.child(id), depth); err != nil {
			return err
		}
	}
}

func (w *thriftWalker) value(typ byte, k tstruct, depth int) error {
	switch typ {
	case ctTrue, ctFalse:
		return nil // a field's bool is in its header
	case ctByte:
		_, err := w.byte()
		return err
	case ctI16, ctI32, ctI64:
		_, err := w.varint()
		return err
	case ctDouble:
		return w.skip(8)
	case ctBinary:
		n, err := w.varint()
		if err != nil {
			return err
		}
		return w.skip(n)
	case ctList, ctSet:
		h, err := w.byte()
		if err != nil {
			return err
		}
		n, elem := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = w.varint(); err != nil {
				return err
			}
		}
		// Every element takes at least one byte.
		if n > uint64(len(w.in)-w.pos) {
			return errThrift
		}
		if elem == ctStruct {
			w.cost += int64(n) * structCost
		} else {
			w.cost += int64(n) * 32
		}
		for range n {
			if elem == ctTrue || elem == ctFalse {
				if _, err := w.byte(); err != nil { // list bools take a byte
					return err
				}
				continue
			}
			if err := w.value(elem, k, depth+1); err != nil {
				return err
			}
		}
		return nil
	case ctMap:
		n, err := w.varint()
		if err != nil || n == 0 {
			return err
		}
		if n > uint64(len(w.in)-w.pos) {
			return errThrift
		}
		w.cost += int64(n) * 64
		kv, err := w.byte()
		if err != nil {
			return err
		}
		for range n {
			for _, t := range []byte{kv >> 4, kv & 0x0f} {
				if t == ctTrue || t == ctFalse {
					if _, err := w.byte(); err != nil {
						return err
					}
					continue
				}
				if err := w.value(t, tsOther, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	case ctStruct:
		return w.structure(k, depth+1)
	}
	return errThrift
}
