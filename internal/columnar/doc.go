// Package columnar builds and rearranges Arrow arrays without per-row boxing.
//
// weir's operators work on whole columns. The arrow-go builders append one
// value at a time through an interface, which is too slow for the engine's hot
// paths, and the arrow-go compute kernels carry a large dispatch machinery for
// a handful of gathers. This package holds the few kernels the engine needs:
// zero-copy wrapping of Go slices as arrays (Int64s, Float64s, Timestamps,
// Strings, Bools) and typed gathers (Take, TakeRecord) that copy the selected
// rows of any supported array into a new one.
//
// Memory model: arrays made here are backed by Go-allocated slices and are
// reclaimed by the garbage collector; weir never relies on Release to free a
// batch (see package dataflow for the ownership rule).
package columnar
