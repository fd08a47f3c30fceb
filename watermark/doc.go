// Package watermark decides event-time progress and lateness, per split, so
// that a backfill over history and a live run give identical results.
//
// # Glossary
//
//   - Event time: the time a record says it happened (a column of the record),
//     as microseconds since the Unix epoch, UTC ([Time]).
//   - Split: an ordered sequence of records with a resumable position (a
//     Parquet file, a Kafka partition, a generator partition).
//   - Watermark W: a promise that no more on-time records with event time < W
//     will arrive. Windows ending at or before W may fire.
//   - Delay d (bounded out-of-orderness): how far behind the largest event
//     time seen so far a record may be and still count. d = 0 is "monotonic".
//   - Late record: ts < max_before − d, where max_before is the largest event
//     time seen before it in its own split. Same boundary as Flink's
//     bounded-out-of-orderness watermarks. Late records go to a side output
//     and are counted; they never reach window state.
//   - Future record: ts > max_before + skew (when a skew guard is set). One bad
//     timestamp must not flush every window, so it is treated like a late record.
//   - Idle split (live mode only): one that delivered nothing for the idle
//     timeout. It is left out of the minimum so windows can fire; when it
//     speaks again, windows it touches are re-emitted as updates.
//
// # The invariant
//
// A split's watermark after a record is max_seen − d: a pure function of the
// split's own record sequence ([Split]). Lateness is decided there, at the
// source ([Split.Observe]). Every operator's watermark is the minimum over its
// inputs ([Tracker]). A record on time in its split therefore has
// ts ≥ max_before − d ≥ (its split's watermark when it was sent) ≥ every
// downstream watermark that can precede it, so it is on time everywhere, and
// window contents depend only on each split's sequence — never on
// parallelism, batching, interleaving, pauses or the run mode.
//
// # A timeline
//
// One split, d = 4s. Records arrive left to right (event time in seconds):
//
//	arrival:    10    12    9     13    8     20    16
//	max_before: -     10    12    12    13    13    20
//	verdict:    on    on    on    on    LATE  on    on      (8 < 13−4; 16 ≥ 20−4)
//	watermark:  6     8     8     9     9     16    16
//
// A tumbling 5s window [5,10) fires when the combined watermark reaches 10,
// which here happens after the record at 20 — the record at 9 made it in
// time, the record at 8 did not (and would not have in any other run).
// testdata/split replays this timeline.
//
// Two splits feeding one operator (min-combining):
//
//	split A wm:  6 ──── 9 ────────── 16 ─────────
//	split B wm:  ─── 3 ──── 4 ── 12 ─────── +∞ (ended)
//	operator:    -∞ 3 ─── 4 ──── 9 ─ 12 ── 16
package watermark
