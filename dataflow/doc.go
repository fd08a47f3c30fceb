// Package dataflow runs weir's jobs: parallel dataflow graphs of sources and
// operators over Arrow record batches, with event time, keyed state and
// checkpoint barriers.
//
// Every query, bounded or not, runs here; package query compiles SQL to a
// Graph and never runs anything itself. Sources are handed in as the Source
// interface (implementations live in packages bounded and unbounded), so the
// engine never depends on a concrete source.
//
// # Glossary
//
//   - Graph, node, edge: the logical plan. A node (source or operator) has a
//     parallelism; an edge joins an output port of one node to an input of
//     another with a Partitioning (forward, hash, broadcast, rebalance).
//   - Subtask: one parallel instance of a node, an Operator value.
//   - Chain, task: nodes joined by forward edges of equal parallelism run in
//     one goroutine, a task, calling each other directly (operator chaining:
//     no channel, no copy). Each other edge is an exchange.
//   - Exchange: the bounded queues between tasks. A sender blocks when the
//     receiver's queue is full, so a slow operator slows its producers all the
//     way back to the sources (backpressure) and memory stays bounded.
//   - Input gate: a task's receiving end, one queue per upstream subtask and
//     input; it combines watermarks (the minimum) and aligns barriers.
//   - Key group: hash(key) mod MaxParallelism. Hash edges route rows by key
//     group; subtask s of p owns key groups [KeyGroupsOf(s, p, max)). Keyed
//     state is stored per key group so a job can be rescaled by moving groups.
//   - Element: what flows: a Batch (rows, possibly a changelog with
//     retractions), a Watermark, a Barrier, an Idle marker, EndOfInput.
//   - Split, position: a source is a set of splits, each an ordered sequence
//     of records with a resumable Position. Watermarks and lateness are
//     decided per split at the source (package watermark).
//   - Barrier, checkpoint: Job.Checkpoint (or the periodic coordinator,
//     CheckpointOptions) asks every source subtask to record its split
//     positions and emit Barrier(n) after its current batch. A task with
//     several input queues aligns: it stops taking from a queue once barrier
//     n arrived on it, until n arrived on all; then each operator's state is
//     copied, per key group (StateSnapshotter, and the StateBackend's
//     SnapshotKeyGroup), sinks precommit (CheckpointListener), and the
//     barrier moves on. Once every task has acknowledged, the coordinator
//     uploads the copies to the CheckpointStore and writes the metadata last
//     (checkpoint_store.go: a checkpoint exists only once it is written),
//     then tells the sinks to commit. (Chandy–Lamport, as Flink's
//     asynchronous barrier snapshots.) Formats: snapshot_codec.go (the
//     envelope), snapshot_slots.go (aggregates), window_buffer_snapshot.go
//     (top-N and window join), stream_join_snapshot.go (regular and
//     interval joins), lookup_join_snapshot.go, checkpoint_store.go (the
//     files).
//   - Restore: JobOptions.Restore (LatestCheckpoint skips a corrupt or
//     partial latest checkpoint for the previous complete one) rewinds the
//     sources to the recorded positions and gives subtask s of p the key
//     groups KeyGroupsOf(s, p, max) of every operator's state, at any
//     parallelism (checkpoint.go).
//   - Window: [start, end) in µs, carried as window_start/window_end columns;
//     complete when the watermark reaches end. See window.go.
//
// # Life of a batch
//
//	split reader ──► source runner ─(lateness, per-split watermark)─► chained ops
//	    ──► edgeSender (partition by key group) ──► input gate of task d
//	    ──► head operator ──► chained ops ──► … ──► sink
//
// Watermarks follow the same path after the rows that precede them; an
// operator handles a watermark (firing windows) before the runtime forwards it.
//
// # Memory and ownership
//
// Batches are immutable and garbage-collected: see Batch. Queues hold at most
// JobOptions.ChannelCapacity elements each.
package dataflow
