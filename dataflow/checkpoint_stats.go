package dataflow

import (
	"context"
	"errors"
	"sync"
	"time"
)

// CheckpointStats are a job's checkpoint figures, for metrics and progress
// reports. The Last fields describe the latest completed checkpoint (or
// savepoint) and are zero until one completes.
type CheckpointStats struct {
	// Completed and Failed count the checkpoints that completed and that
	// failed (timed out, a task or an upload failed). A checkpoint cut
	// short because the job ended is neither.
	Completed, Failed int64
	// LastID is the id of the latest completed checkpoint.
	LastID int64
	// LastDuration is the time from the barriers' injection to the
	// checkpoint's completion: aligned everywhere, state stored and
	// metadata written.
	LastDuration time.Duration
	// LastAlignment is the longest time a task held its inputs back to
	// align the checkpoint's barrier (from the barrier's arrival on one
	// input to its arrival on the last).
	LastAlignment time.Duration
	// LastBytes is the size of the checkpoint's state: the bytes of every
	// operator subtask's snapshot, and of every state-store file it names
	// (an incremental checkpoint uploads only the new ones, but names all).
	LastBytes int64
	// LastCompleted is when the checkpoint completed.
	LastCompleted time.Time
}

// checkpointStats collects a job's CheckpointStats; Job.Checkpoint updates
// it from the coordinator's goroutine while progress reports read it.
type checkpointStats struct {
	mu sync.Mutex
	s  CheckpointStats
}

func (c *checkpointStats) get() CheckpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

// record counts one checkpoint's outcome: chk is nil when it failed.
func (c *checkpointStats) record(chk *Checkpoint, err error, start time.Time, align time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.s.Failed++
		}
		return
	}
	var size int64
	for _, ns := range chk.State {
		for _, blobs := range ns.Operator {
			for _, b := range blobs {
				size += int64(len(b))
			}
		}
		for _, blobs := range ns.Backend {
			for _, b := range blobs {
				size += int64(len(b))
			}
		}
		for _, st := range ns.Stores { // a StateStore's files, shared or new
			for _, f := range st.Files {
				size += int64(f.Size)
			}
		}
	}
	now := time.Now()
	c.s.Completed++
	c.s.LastID = chk.ID
	c.s.LastDuration = now.Sub(start)
	c.s.LastAlignment = align
	c.s.LastBytes = size
	c.s.LastCompleted = now
}

// CheckpointStats returns the job's checkpoint figures so far.
func (j *Job) CheckpointStats() CheckpointStats { return j.chkStats.get() }
