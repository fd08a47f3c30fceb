package dataflow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Checkpoints: what is saved, and the hooks operators implement.
//
// On barrier n a task snapshots, in chain order, each operator's state into
// an in-memory immutable copy (taken synchronously, before the barrier moves
// on) and hands it to the coordinator with its acknowledgement; the upload
// to the CheckpointStore happens afterwards, off the pipeline's goroutines
// (see checkpoint_store.go). What a subtask saves is per key group:
//
//   - the StateBackend's entries and timers of every key group that holds
//     any (StateBackend.SnapshotKeyGroup: process functions' state), and
//   - for operators that keep state in their own structures, the blobs their
//     StateSnapshotter returns (snapshot_codec.go: one envelope per key group).
//
// A backend whose tables are in a StateStore (Pebble), in a job that stores
// its checkpoints, saves them incrementally instead: on the barrier the
// store writes a local checkpoint (hard links), and the upload sends only
// the immutable files no earlier checkpoint of the subtask uploaded; the
// subtask's entry lists every file it needs (StoreCheckpoint), and its
// timers are still saved by key group. A restore downloads the files of
// the former subtasks whose key groups overlap the new subtask's and lets
// the store keep the owned key groups (StateStore.Restore).
//
// A restore at any parallelism gives subtask s of p the key groups
// KeyGroupsOf(s, p, MaxParallelism) of every node. An operator behind a hash
// exchange finds exactly the state of its keys there. An operator that is
// not (a local pre-aggregate chained to a source) files its whole state
// under the first key group of its subtask's range; after a restore at
// another parallelism a subtask may receive the state of several former
// subtasks (it merges them) or none. Such state is not about keys, so any
// subtask may hold it, provided each piece is restored exactly once.

// StateSnapshotter is implemented by operators whose state lives outside
// the StateBackend's tables.
type StateSnapshotter interface {
	// SnapshotKeyGroups returns the operator's state as sealed blobs by key
	// group (only groups with state). It runs on barrier b, after alignment
	// and before the barrier is forwarded, in the operator's goroutine; the
	// returned bytes must not share memory the operator later changes.
	SnapshotKeyGroups(ctx context.Context, b Barrier) (map[int][]byte, error)
	// RestoreKeyGroup adds one blob of key group kg, which this subtask now
	// owns. It is called after Open and before any input, once per blob; an
	// operator that is not keyed may receive several blobs for one key group
	// (from former subtasks) and merges them. Corrupt input is an error
	// wrapping ErrCorruptSnapshot, a blob of another format one wrapping
	// ErrIncompatibleSnapshot.
	RestoreKeyGroup(kg int, blob []byte) error
}

// CheckpointListener is implemented by sinks that publish their output with
// two-phase commit, so that it is exactly-once.
//
// Protocol, for checkpoint n: PrecommitCheckpoint(n) runs in the sink's
// goroutine when barrier n reaches it, after every row that precedes the
// barrier: the sink makes those rows durable but invisible (a staged file,
// a transaction) and labels them n. Once checkpoint n is complete — its
// metadata written — the coordinator calls CommitCheckpoint(n) from its own
// goroutine, concurrently with the sink's processing: the sink publishes
// everything it staged for n and for earlier checkpoints (a checkpoint that
// failed is committed with the next one that completes). After a failure the
// job restarts from the latest complete checkpoint m and, before any task
// opens, calls RecoverCheckpoint(m) on every listener: commit what was
// staged up to m if that had not happened yet (commits must be idempotent),
// and discard what was staged after m — those rows are produced again. A
// job that starts without a checkpoint calls RecoverCheckpoint(0): nothing
// staged by an earlier attempt survives.
//
// When its input has ended, after Finish, the sink is precommitted with the
// id after the last barrier it saw: every checkpoint with that id or a
// later one completes only after the sink finished (it can take no barrier
// any more), so it records the sources at their end and may commit those
// rows. Run commits FinalCheckpoint (all of them) once every task has
// finished: nothing of a job that ran to its end can be replayed.
type CheckpointListener interface {
	PrecommitCheckpoint(ctx context.Context, id int64) error
	CommitCheckpoint(ctx context.Context, id int64) error
	RecoverCheckpoint(ctx context.Context, id int64) error
}

// FinalCheckpoint is the id Run commits when the job has run to its end:
// it covers everything staged.
const FinalCheckpoint = math.MaxInt64

// Checkpoint is a completed checkpoint: split positions and the state of
// every operator subtask, by node.
type Checkpoint struct {
	ID        int64
	Savepoint bool
	// Splits are the positions to resume the sources from, by split ID.
	Splits map[string]SplitState
	// MaxParallelism is the number of key groups the state is split into.
	MaxParallelism int
	// State is every node's saved state, by node name. Nil when the
	// checkpoint was taken without state (a job without stateful operators
	// has an empty map).
	State map[string]*NodeState
	// Unsupported names the operators whose state the checkpoint could not
	// save: such a checkpoint cannot be stored or restored.
	Unsupported []string

	// files is the store the StoreCheckpoint files were uploaded to
	// (nil when there are none).
	files CheckpointStore
}

// NodeState is one node's saved state: blobs by key group, several when
// the node is not keyed and former subtasks shared a key group.
type NodeState struct {
	Operator map[int][][]byte // StateSnapshotter blobs
	Backend  map[int][][]byte // StateBackend.SnapshotKeyGroup snapshots
	// Stores are the state-store files of the node's subtasks, when they
	// kept their tables in a StateStore and the checkpoint was stored:
	// then Backend holds only their timers.
	Stores []*StoreCheckpoint
}

// StoreCheckpoint is what one operator subtask's StateStore saved: the
// files of its checkpoint directory, as stored in the CheckpointStore.
type StoreCheckpoint struct {
	Subtask   int
	KeyGroups KeyGroupRange
	Files     []StoreFile
}

// StoreFile is one file of a StoreCheckpoint.
type StoreFile struct {
	// Name is the file's name in the store's checkpoint directory.
	Name string
	// Blob is its name in the CheckpointStore: shared by the checkpoints
	// of the job that need it, or private to one checkpoint.
	Blob string
	Size uint64
	CRC  uint32 // CRC-32C of the content
}

func (n *NodeState) add(kind byte, kg int, blob []byte) {
	if kind == entryStore {
		// Its names are relative to the checkpoint's location: the
		// decoder of the subtask file and writeCheckpoint add it.
		return
	}
	m := &n.Operator
	if kind == entryBackend {
		m = &n.Backend
	}
	if *m == nil {
		*m = map[int][][]byte{}
	}
	(*m)[kg] = append((*m)[kg], blob)
}

// subtaskSnapshot is what one operator subtask saved on a barrier.
type subtaskSnapshot struct {
	node    string
	subtask int
	entries []snapshotEntry
	store   *storeUpload // the local checkpoint of a StateStore, to upload
}

type snapshotEntry struct {
	kind byte // entryOperator or entryBackend
	kg   int
	blob []byte
}

const (
	entryOperator = 1
	entryBackend  = 2
	entryStore    = 3 // a StoreCheckpoint (format 2)
)

func errNotSplittable(col string) error {
	return fmt.Errorf("state cannot be split by key group: the input is hash-partitioned by %q, which is not part of the state's key", col)
}

// snapshotLink takes the synchronous copy of one operator subtask's state.
// unsupported is set for an operator that keeps state it cannot snapshot
// yet; the checkpoint then records it instead of failing the job.
func snapshotLink(ctx context.Context, l *chainLink, b Barrier) (snap subtaskSnapshot, unsupported bool, err error) {
	snap = subtaskSnapshot{node: l.node.Name, subtask: l.tc.Subtask}
	if l.op == nil {
		return snap, false, nil
	}
	if s, ok := l.op.(StateSnapshotter); ok {
		blobs, err := s.SnapshotKeyGroups(ctx, b)
		if err != nil {
			return snap, false, err
		}
		for _, kg := range sortedMapKeys(blobs) {
			snap.entries = append(snap.entries, snapshotEntry{kind: entryOperator, kg: kg, blob: blobs[kg]})
		}
	} else if keepsOwnState(l.op) {
		return snap, true, nil
	}
	if st := l.tc.State; st != nil && st.st != nil && st.st.inc != nil {
		return snapshotStore(snap, st, b)
	}
	if st := l.tc.State; st != nil {
		if err := st.Err(); err != nil {
			return snap, false, err
		}
		for _, kg := range st.GroupsWithState() {
			var buf snapshotBuffer
			if err := st.SnapshotKeyGroup(kg, &buf); err != nil {
				return snap, false, err
			}
			snap.entries = append(snap.entries, snapshotEntry{kind: entryBackend, kg: kg, blob: buf.b})
		}
	}
	return snap, false, nil
}

type snapshotBuffer struct{ b []byte }

func (w *snapshotBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// sharedStateRestorer is implemented by an operator whose state is alike
// in every subtask (a lookup join's broadcast table) and saved once per
// subtask: after a restore at another parallelism a subtask may own none
// of the key groups the state was filed under, so restoreLink also hands
// it the blobs of the key groups it does not own, to take what they share
// and leave what belongs to their owner.
type sharedStateRestorer interface {
	RestoreSharedKeyGroup(kg int, blob []byte) error
}

// ownStateKeeper is implemented by an operator with state outside the
// backend that it cannot snapshot (it does not implement StateSnapshotter):
// a checkpoint of a job that has one is marked Unsupported rather than
// silently missing its state. Every operator of the package snapshots its
// state now (issue #6); the hook stays for operators added before their
// snapshots are, and a test operator keeps the refusal tested.
type ownStateKeeper interface{ keepsOwnState() bool }

func keepsOwnState(op Operator) bool {
	k, ok := op.(ownStateKeeper)
	return ok && k.keepsOwnState()
}

// restoreLink restores one operator subtask from chk: the key groups its
// subtask owns at the job's current parallelism.
func restoreLink(ctx context.Context, l *chainLink, chk *Checkpoint) error {
	ns := chk.State[l.node.Name]
	if ns == nil {
		return nil
	}
	owned := KeyGroupsOf(l.tc.Subtask, l.tc.Parallelism, l.tc.MaxParallelism)
	incremental := len(ns.Stores) > 0
	if incremental {
		if err := restoreStore(ctx, l.tc.State, chk, ns.Stores, owned); err != nil {
			return err
		}
	}
	s, isSnap := l.op.(StateSnapshotter)
	shared, isShared := l.op.(sharedStateRestorer)
	for _, kg := range sortedMapKeys(ns.Operator) {
		if !owned.Contains(kg) {
			if isShared {
				for _, blob := range ns.Operator[kg] {
					if err := shared.RestoreSharedKeyGroup(kg, blob); err != nil {
						return fmt.Errorf("restore shared state of key group %d: %w", kg, err)
					}
				}
			}
			continue
		}
		if !isSnap {
			return fmt.Errorf("%w: the checkpoint has operator state for key group %d, but the operator keeps none", ErrIncompatibleSnapshot, kg)
		}
		for _, blob := range ns.Operator[kg] {
			if err := s.RestoreKeyGroup(kg, blob); err != nil {
				return fmt.Errorf("restore key group %d: %w", kg, err)
			}
		}
	}
	for _, kg := range sortedMapKeys(ns.Backend) {
		if !owned.Contains(kg) {
			continue
		}
		blobs := ns.Backend[kg]
		if len(blobs) != 1 {
			return fmt.Errorf("%w: %d keyed-state snapshots of key group %d (the operator was not keyed)", ErrIncompatibleSnapshot, len(blobs), kg)
		}
		if err := l.tc.State.restoreKeyGroup(kg, &snapshotReaderAt{b: blobs[0]}, !incremental); err != nil {
			return err
		}
	}
	return nil
}

// snapshotReaderAt reads a byte slice as an io.Reader and io.ByteReader.
type snapshotReaderAt struct {
	b []byte
}

func (r *snapshotReaderAt) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errEOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func (r *snapshotReaderAt) ReadByte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errEOF
	}
	b := r.b[0]
	r.b = r.b[1:]
	return b, nil
}

var errEOF = errSplitDone // io.EOF

// checkRestorable refuses a checkpoint that cannot be restored into g:
// another number of key groups, or state of a node g does not have (the
// query changed).
func checkRestorable(g *Graph, chk *Checkpoint) error {
	if len(chk.Unsupported) > 0 {
		return fmt.Errorf("%w: checkpoint %d lacks the state of %v", ErrIncompatibleSnapshot, chk.ID, chk.Unsupported)
	}
	if chk.State != nil && chk.MaxParallelism != g.MaxParallelism {
		return fmt.Errorf("%w: checkpoint %d has %d key groups, the job %d", ErrIncompatibleSnapshot, chk.ID, chk.MaxParallelism, g.MaxParallelism)
	}
	names := map[string]bool{}
	for _, n := range g.nodes {
		names[n.Name] = true
	}
	var missing []string
	for name := range chk.State {
		if !names[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%w: checkpoint %d has state of operators %q that the job does not have (a changed query?)", ErrIncompatibleSnapshot, chk.ID, missing)
	}
	return nil
}

// ErrNoCheckpoint is returned by LatestCheckpoint when no complete
// checkpoint exists.
var ErrNoCheckpoint = errors.New("no complete checkpoint")
