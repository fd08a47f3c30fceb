package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StallError reports a transfer that made no progress for too long: the
// server or the network went silent. A store gives up on the attempt and
// retries; the error surfaces when the attempts run out.
type StallError struct {
	// After is how long nothing moved.
	After time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("no data moved for %v (server or network stalled)", e.After)
}

// Timeout marks the error as a timeout, like net.Error's.
func (e *StallError) Timeout() bool { return true }

// stallGuard cancels a context when a transfer stops making progress. It
// is armed by touch (each chunk of a body moved) and disarmed by pause (no
// body is moving: the HTTP transport's own header timeout applies then).
//
// A deadline on the whole transfer was rejected: a large read on a slow
// link is fine as long as it moves, and no single deadline suits both a
// 100-byte footer and a 100 MB column chunk.
type stallGuard struct {
	ctx     context.Context
	timeout time.Duration
	timer   *time.Timer
	cancel  context.CancelCauseFunc
}

func newStallGuard(parent context.Context, timeout time.Duration) (context.Context, *stallGuard) {
	ctx, cancel := context.WithCancelCause(parent)
	g := &stallGuard{ctx: ctx, timeout: timeout, cancel: cancel}
	g.timer = time.AfterFunc(timeout, func() { cancel(&StallError{After: timeout}) })
	g.timer.Stop()
	return ctx, g
}

func (g *stallGuard) touch() { g.timer.Reset(g.timeout) }
func (g *stallGuard) pause() { g.timer.Stop() }

// done releases the guard's context.
func (g *stallGuard) done() {
	g.timer.Stop()
	g.cancel(nil)
}

// cause returns the StallError if the guard fired, else err.
func (g *stallGuard) cause(err error) error {
	if err == nil {
		return nil
	}
	var se *StallError
	if c := context.Cause(g.ctx); errors.As(c, &se) {
		return se
	}
	return err
}
