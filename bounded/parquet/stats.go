package parquet

import (
	"encoding/binary"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/parquet-go/parquet-go/format"
)

// stats summarizes a row group's or a page's values of one column.
type stats struct {
	min, max  scalar
	hasMinMax bool
	nulls     int64
	// nullsKnown: nulls is the real count (a writer that wrote min/max also
	// wrote null_count; parquet-go cannot tell an absent null_count from 0).
	nullsKnown bool
	rows       int64
}

// statValue decodes a min or max statistic of column c into the domain of
// the merged type to (the unit of a merged timestamp may be finer).
func statValue(c *column, to arrow.DataType, raw []byte) (scalar, bool) {
	var s scalar
	switch c.phys {
	case physBool:
		if len(raw) < 1 {
			return s, false
		}
		s.i = int64(raw[0] & 1)
	case physInt32:
		if len(raw) != 4 || c.conv == convDecimal {
			return s, false
		}
		v := binary.LittleEndian.Uint32(raw)
		if c.unsigned {
			s.i = int64(v)
		} else {
			s.i = int64(int32(v))
		}
	case physInt64:
		if len(raw) != 8 || c.conv == convDecimal {
			return s, false
		}
		v := binary.LittleEndian.Uint64(raw)
		if c.unsigned {
			s.u = v
			if to.ID() != arrow.UINT64 {
				return s, false
			}
			return s, true
		}
		s.i = int64(v)
		if ft, ok := c.typ.(*arrow.TimestampType); ok {
			if tt, ok := to.(*arrow.TimestampType); ok {
				f := unitFactor(ft.Unit, tt.Unit)
				if f > 1 {
					if s.i > math.MaxInt64/f || s.i < math.MinInt64/f {
						return s, false
					}
					s.i *= f
				}
			}
		}
	case physFloat:
		if len(raw) != 4 {
			return s, false
		}
		s.f = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw)))
		if math.IsNaN(s.f) {
			return s, false
		}
	case physDouble:
		if len(raw) != 8 {
			return s, false
		}
		s.f = math.Float64frombits(binary.LittleEndian.Uint64(raw))
		if math.IsNaN(s.f) {
			return s, false
		}
	case physBytes, physFixed:
		switch c.conv {
		case convNone:
			s.b = raw
		case convFloat16:
			if len(raw) != 2 {
				return s, false
			}
			s.f = float64(float16.FromBits(binary.LittleEndian.Uint16(raw)).Float32())
			if math.IsNaN(s.f) {
				return s, false
			}
		default:
			return s, false
		}
	default: // INT96 statistics have no defined order
		return s, false
	}
	if to.ID() == arrow.UINT64 && c.phys != physInt64 {
		if s.i < 0 {
			return s, false
		}
		s.u = uint64(s.i)
	}
	return s, true
}

// chunkStats reads the column chunk statistics of c in a row group.
func chunkStats(c *column, to arrow.DataType, md *format.ColumnMetaData, rows int64) stats {
	st := stats{rows: rows, nulls: md.Statistics.NullCount}
	minRaw, maxRaw := md.Statistics.MinValue, md.Statistics.MaxValue
	if minRaw == nil && maxRaw == nil && legacyOrderOK(c) {
		// The deprecated min/max fields were written with signed
		// comparisons, which is the right order only for these types.
		minRaw, maxRaw = md.Statistics.Min, md.Statistics.Max
	}
	if minRaw != nil && maxRaw != nil {
		lo, ok1 := statValue(c, to, minRaw)
		hi, ok2 := statValue(c, to, maxRaw)
		st.hasMinMax = ok1 && ok2
		st.min, st.max = lo, hi
	}
	st.nullsKnown = st.nulls > 0 || minRaw != nil || !c.optional
	if !c.optional {
		st.nulls = 0
	}
	return st
}

func legacyOrderOK(c *column) bool {
	switch c.phys {
	case physBool, physFloat, physDouble:
		return true
	case physInt32, physInt64:
		return !c.unsigned && c.conv != convDecimal
	}
	return false
}

// mayMatch reports whether a row group or page with statistics s may hold a
// row that satisfies p. It must never say false wrongly; when in doubt it
// says true.
func (p *boundPred) mayMatch(s stats) bool {
	allNull := s.nullsKnown && s.rows > 0 && s.nulls >= s.rows
	switch p.op {
	case IsNull:
		return !s.nullsKnown || s.nulls != 0
	case IsNotNull:
		return !allNull
	}
	if p.never || allNull {
		return false
	}
	if p.always || !s.hasMinMax {
		return true
	}
	d := p.dom
	switch p.op {
	case Eq:
		return cmpScalar(d, p.c, s.min) >= 0 && cmpScalar(d, p.c, s.max) <= 0
	case Ne:
		// Truncated byte-array bounds and unlisted NaNs make equality of
		// min and max weak evidence; only integers prune here.
		if d != domInt && d != domUint && d != domBool {
			return true
		}
		return cmpScalar(d, s.min, p.c) != 0 || cmpScalar(d, s.max, p.c) != 0
	case Lt:
		return cmpScalar(d, s.min, p.c) < 0
	case Le:
		return cmpScalar(d, s.min, p.c) <= 0
	case Gt:
		return cmpScalar(d, s.max, p.c) > 0
	case Ge:
		return cmpScalar(d, s.max, p.c) >= 0
	case In:
		for _, v := range p.set {
			if cmpScalar(d, v, s.min) >= 0 && cmpScalar(d, v, s.max) <= 0 {
				return true
			}
		}
		return false
	}
	return true
}

// matchConst evaluates p on one known value (a partition value); null
// means the value is NULL.
func (p *boundPred) matchConst(v scalar, null bool) bool {
	switch p.op {
	case IsNull:
		return null
	case IsNotNull:
		return !null
	}
	if null || p.never {
		return false
	}
	if p.always {
		return true
	}
	c := cmpScalar(p.dom, v, p.c)
	switch p.op {
	case Eq:
		return c == 0
	case Ne:
		return c != 0
	case Lt:
		return c < 0
	case Le:
		return c <= 0
	case Gt:
		return c > 0
	case Ge:
		return c >= 0
	case In:
		for _, s := range p.set {
			if cmpScalar(p.dom, v, s) == 0 {
				return true
			}
		}
	}
	return false
}
