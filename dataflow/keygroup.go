package dataflow

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/internal/columnar"
)

// DefaultMaxParallelism is the number of key groups of a job unless set.
const DefaultMaxParallelism = 128

// KeyGroupRange is the half-open range [Start, End) of key groups a subtask owns.
type KeyGroupRange struct{ Start, End int }

// Contains reports whether kg is in the range.
func (r KeyGroupRange) Contains(kg int) bool { return kg >= r.Start && kg < r.End }

func (r KeyGroupRange) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// KeyGroupOf maps a key hash to its key group: hash mod maxParallelism.
// Keyed state is stored per key group, so a job can be restored at another
// parallelism by moving whole key groups.
func KeyGroupOf(hash uint64, maxParallelism int) int {
	return int(hash % uint64(maxParallelism))
}

// SubtaskOf returns the subtask that owns key group kg:
// kg * parallelism / maxParallelism (as in Flink).
func SubtaskOf(kg, parallelism, maxParallelism int) int {
	return kg * parallelism / maxParallelism
}

// KeyGroupsOf returns the key groups subtask owns: the inverse of SubtaskOf.
func KeyGroupsOf(subtask, parallelism, maxParallelism int) KeyGroupRange {
	start := (subtask*maxParallelism + parallelism - 1) / parallelism
	end := ((subtask+1)*maxParallelism + parallelism - 1) / parallelism
	return KeyGroupRange{Start: start, End: end}
}

// KeySelector names the key columns of a keyed stream and hashes them.
type KeySelector struct {
	Columns []string

	schema *arrow.Schema // the schema idx was resolved for
	idx    []int
}

// Keys returns a selector over the named columns.
func Keys(cols ...string) *KeySelector { return &KeySelector{Columns: cols} }

// Resolve returns the indices of the key columns in schema.
func (k *KeySelector) Resolve(schema *arrow.Schema) ([]int, error) {
	if k.schema == schema && k.idx != nil {
		return k.idx, nil
	}
	idx, err := ColumnIndices(schema, k.Columns)
	if err != nil {
		return nil, err
	}
	k.schema, k.idx = schema, idx
	return idx, nil
}

// Hash writes the hash of each row's key into out, which must have one slot per row.
func (k *KeySelector) Hash(rec arrow.RecordBatch, out []uint64) error {
	idx, err := k.Resolve(rec.Schema())
	if err != nil {
		return err
	}
	cols := make([]arrow.Array, len(idx))
	for i, c := range idx {
		cols[i] = rec.Column(c)
	}
	return columnar.HashColumns(cols, out)
}

// Clone returns a selector with its own resolution cache, for another subtask.
func (k *KeySelector) Clone() *KeySelector { return &KeySelector{Columns: k.Columns} }

// ColumnIndices resolves column names against a schema.
func ColumnIndices(schema *arrow.Schema, names []string) ([]int, error) {
	idx := make([]int, len(names))
	for i, n := range names {
		j, err := ColumnIndex(schema, n)
		if err != nil {
			return nil, err
		}
		idx[i] = j
	}
	return idx, nil
}

// ColumnIndex resolves one column name against a schema.
func ColumnIndex(schema *arrow.Schema, name string) (int, error) {
	is := schema.FieldIndices(name)
	switch len(is) {
	case 0:
		return 0, fmt.Errorf("no column %q in %s", name, schemaNames(schema))
	case 1:
		return is[0], nil
	}
	return 0, fmt.Errorf("column name %q is ambiguous in %s", name, schemaNames(schema))
}

func schemaNames(s *arrow.Schema) string {
	names := "("
	for i, f := range s.Fields() {
		if i > 0 {
			names += ", "
		}
		names += f.Name
	}
	return names + ")"
}
