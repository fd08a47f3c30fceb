package dataflow

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/watermark"
)

// Kind tells what an Element carries.
type Kind uint8

const (
	// KindBatch carries records.
	KindBatch Kind = iota
	// KindWatermark promises that no more on-time records with an event time
	// below Element.Watermark follow on this channel.
	KindWatermark
	// KindBarrier separates the records before checkpoint Barrier.ID from
	// those after it.
	KindBarrier
	// KindIdle says the channel has nothing to say for now; it is left out of
	// the receiver's watermark minimum until it sends a batch or watermark.
	KindIdle
	// KindEndOfInput is the last element of a channel.
	KindEndOfInput
)

func (k Kind) String() string {
	switch k {
	case KindBatch:
		return "batch"
	case KindWatermark:
		return "watermark"
	case KindBarrier:
		return "barrier"
	case KindIdle:
		return "idle"
	case KindEndOfInput:
		return "end"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Op is a changelog operation on one row.
type Op int8

const (
	// Insert adds the row to the result.
	Insert Op = iota
	// Retract removes one earlier inserted copy of the row from the result.
	Retract
)

func (o Op) String() string {
	if o == Retract {
		return "-"
	}
	return "+"
}

// Batch is a record batch of a changelog: Ops[i] is the operation of row i,
// and a nil Ops means every row is an insert (the common case, which costs
// nothing).
//
// Ownership: batches are immutable once emitted and may be shared by several
// receivers (broadcast); their memory is Go-allocated and reclaimed by the
// garbage collector. Operators never Release a batch they receive and never
// modify its arrays. The rejected alternative, reference counting with
// Retain/Release across fan-out and chains, made every operator responsible
// for a leak or a use-after-free for no gain with the Go allocator.
type Batch struct {
	Rec arrow.RecordBatch
	Ops []Op
}

// Len returns the number of rows.
func (b Batch) Len() int {
	if b.Rec == nil {
		return 0
	}
	return int(b.Rec.NumRows())
}

// Op returns the operation of row i.
func (b Batch) Op(i int) Op {
	if b.Ops == nil {
		return Insert
	}
	return b.Ops[i]
}

// Inserts wraps a record batch whose rows are all inserts.
func Inserts(rec arrow.RecordBatch) Batch { return Batch{Rec: rec} }

// Barrier is the marker of a checkpoint (or savepoint) flowing with the data.
type Barrier struct {
	ID        int64
	Savepoint bool
}

// Element is one item of a stream: a batch, a watermark, a barrier, an idle
// marker or the end of input. It is passed by value through channels.
type Element struct {
	Kind      Kind
	Batch     Batch
	Watermark watermark.Time
	Barrier   Barrier
}

func (e Element) String() string {
	switch e.Kind {
	case KindBatch:
		return fmt.Sprintf("batch(%d rows)", e.Batch.Len())
	case KindWatermark:
		return fmt.Sprintf("watermark(%s)", e.Watermark)
	case KindBarrier:
		return fmt.Sprintf("barrier(%d)", e.Barrier.ID)
	}
	return e.Kind.String()
}
