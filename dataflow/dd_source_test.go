package dataflow_test

// A source the idle and barrier scripts control: each split delivers only
// the batches the script has released to it, and ends when the script says
// so. Its readers block on channels, so inside a testing/synctest bubble
// synctest.Wait returns exactly when the job has processed everything
// released so far — which makes the scripts deterministic.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
)

type ddLiveSource struct {
	schema *arrow.Schema
	splits []*ddLiveSplit
}

var _ dataflow.Source = (*ddLiveSource)(nil)

func newDDLiveSource(name string, schema *arrow.Schema, splits int) *ddLiveSource {
	s := &ddLiveSource{schema: schema}
	for i := 0; i < splits; i++ {
		s.splits = append(s.splits, &ddLiveSplit{id: fmt.Sprintf("%s/%d", name, i), signal: make(chan struct{})})
	}
	return s
}

func (s *ddLiveSource) Schema() *arrow.Schema { return s.schema }

func (s *ddLiveSource) Splits(context.Context) ([]dataflow.Split, error) {
	out := make([]dataflow.Split, len(s.splits))
	for i, sp := range s.splits {
		out[i] = sp
	}
	return out, nil
}

// split returns the split named id ("a/0") or numbered id ("0").
func (s *ddLiveSource) split(id string) (*ddLiveSplit, error) {
	for i, sp := range s.splits {
		if sp.id == id || fmt.Sprint(i) == id {
			return sp, nil
		}
	}
	return nil, fmt.Errorf("no split %q", id)
}

// ddLiveSplit keeps every batch released so far; a position is the number
// of batches read, so a reader can be reopened anywhere.
type ddLiveSplit struct {
	id      string
	mu      sync.Mutex
	batches []arrow.RecordBatch
	ended   bool
	signal  chan struct{} // closed (and replaced) when something is released
}

func (s *ddLiveSplit) ID() string { return s.id }

func (s *ddLiveSplit) Open(_ context.Context, pos dataflow.Position) (dataflow.SplitReader, error) {
	return &ddLiveReader{s: s, next: int(pos)}, nil
}

func (s *ddLiveSplit) release(batches ...arrow.RecordBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return errors.New("split " + s.id + " has ended")
	}
	s.batches = append(s.batches, batches...)
	close(s.signal)
	s.signal = make(chan struct{})
	return nil
}

func (s *ddLiveSplit) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended = true
		close(s.signal)
	}
}

type ddLiveReader struct {
	s    *ddLiveSplit
	next int
}

func (r *ddLiveReader) Next(ctx context.Context) (arrow.RecordBatch, dataflow.Position, error) {
	for {
		r.s.mu.Lock()
		if r.next < len(r.s.batches) {
			b := r.s.batches[r.next]
			r.next++
			r.s.mu.Unlock()
			return b, dataflow.Position(r.next), nil
		}
		if r.s.ended {
			r.s.mu.Unlock()
			return nil, dataflow.Position(r.next), io.EOF
		}
		signal := r.s.signal
		r.s.mu.Unlock()
		select {
		case <-signal:
		case <-ctx.Done():
			return nil, dataflow.Position(r.next), context.Cause(ctx)
		}
	}
}

func (r *ddLiveReader) Close() error { return nil }

// ddRunning is a job running in the background.
type ddRunning struct {
	job    *dataflow.Job
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed
}

func ddStart(job *dataflow.Job) *ddRunning {
	ctx, cancel := context.WithCancel(context.Background())
	r := &ddRunning{job: job, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = job.Run(ctx)
		close(r.done)
	}()
	return r
}

// finished reports whether Run returned, and how.
func (r *ddRunning) finished() (bool, error) {
	select {
	case <-r.done:
		return true, r.err
	default:
		return false, nil
	}
}

// stop cancels the job and waits for Run to return.
func (r *ddRunning) stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}
