package nexmark

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TimestampType is the type of the date_time and expires columns:
// microseconds since the Unix epoch, UTC.
var TimestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

var (
	i64 = arrow.PrimitiveTypes.Int64
	str = arrow.BinaryTypes.String
)

func field(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t}
}

var (
	personSchema = arrow.NewSchema([]arrow.Field{
		field("id", i64),
		field("name", str),
		field("email_address", str),
		field("credit_card", str),
		field("city", str),
		field("state", str),
		field("date_time", TimestampType),
		field("extra", str),
	}, nil)
	auctionSchema = arrow.NewSchema([]arrow.Field{
		field("id", i64),
		field("item_name", str),
		field("description", str),
		field("initial_bid", i64),
		field("reserve", i64),
		field("date_time", TimestampType),
		field("expires", TimestampType),
		field("seller", i64),
		field("category", i64),
		field("extra", str),
	}, nil)
	bidSchema = arrow.NewSchema([]arrow.Field{
		field("auction", i64),
		field("bidder", i64),
		field("price", i64),
		field("channel", str),
		field("url", str),
		field("date_time", TimestampType),
		field("extra", str),
	}, nil)
)

// PersonSchema is the schema of person batches: id int64, name string,
// email_address string, credit_card string, city string, state string,
// date_time timestamp[us, UTC], extra string. No column has nulls.
func PersonSchema() *arrow.Schema { return personSchema }

// AuctionSchema is the schema of auction batches: id int64, item_name
// string, description string, initial_bid int64, reserve int64, date_time
// timestamp[us, UTC], expires timestamp[us, UTC], seller int64, category
// int64, extra string. No column has nulls.
func AuctionSchema() *arrow.Schema { return auctionSchema }

// BidSchema is the schema of bid batches: auction int64, bidder int64, price
// int64, channel string, url string, date_time timestamp[us, UTC], extra
// string. No column has nulls.
func BidSchema() *arrow.Schema { return bidSchema }

// Schema returns the schema of kind k's batches.
func Schema(k Kind) *arrow.Schema {
	switch k {
	case Person:
		return personSchema
	case Auction:
		return auctionSchema
	case Bid:
		return bidSchema
	}
	panic("nexmark: invalid Kind")
}

// bytesOf reinterprets vals as its bytes, without a copy.
func bytesOf[T int64 | int32](vals []T) []byte {
	if len(vals) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(vals))), len(vals)*int(unsafe.Sizeof(zero)))
}

// fixedArray wraps vals (int64-wide type dt) as an array without a copy.
func fixedArray(dt arrow.DataType, vals []int64) arrow.Array {
	d := array.NewData(dt, len(vals), []*memory.Buffer{nil, memory.NewBufferBytes(bytesOf(vals))}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// strCol accumulates a string column: one value buffer plus n+1 offsets.
// Both are sized up front (val to an upper bound of the column's bytes) and
// filled by index; array trims val to its used length.
type strCol struct {
	off []int32
	val []byte
	n   int // bytes used in val
	i   int // values added
}

func newStrCol(n, maxLen int) strCol {
	return strCol{off: make([]int32, n+1), val: make([]byte, n*maxLen)}
}

// add appends one value.
func (c *strCol) add(b []byte) {
	c.n += copy(c.val[c.n:c.n+len(b)], b) // panics rather than truncate
	c.i++
	c.off[c.i] = int32(c.n)
}

// put appends b to the value being built; end closes it.
func (c *strCol) put(b []byte) { c.n += copy(c.val[c.n:c.n+len(b)], b) }

// putByte appends one byte to the value being built.
func (c *strCol) putByte(b byte) {
	c.val[c.n] = b
	c.n++
}

// end closes the value built by put and returns its length.
func (c *strCol) end() int {
	l := c.n - int(c.off[c.i])
	c.i++
	c.off[c.i] = int32(c.n)
	return l
}

func (c *strCol) array() arrow.Array {
	d := array.NewData(str, c.i, []*memory.Buffer{nil, memory.NewBufferBytes(bytesOf(c.off[:c.i+1])), memory.NewBufferBytes(c.val[:c.n:c.n])}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

func record(s *arrow.Schema, n int, cols ...arrow.Array) arrow.RecordBatch {
	rec := array.NewRecordBatch(s, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}
