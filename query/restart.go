package query

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/weirdata/weir/dataflow"
)

// Restart strategy of durable jobs.
//
// A durable run that fails with an error that may pass — a task's error
// (a source that lost its connection, a store that timed out), an upload
// or a read of the checkpoint store — is rebuilt from its graph and run
// again from the latest complete checkpoint (or its savepoint, or the
// start if it has none), after a backoff. Errors that would only repeat
// are returned at once: an error in the SQL (*Error), a changed job
// (ErrJobChanged), state the query cannot restore
// (dataflow.ErrIncompatibleSnapshot), another run holding the job
// (ErrJobRunning), a stop with a savepoint, the run's context ending
// (cancellation, --for), and a failing result sink (the client went
// away).
//
// The bound is a failure rate, as Flink's failure-rate strategy: at most
// MaxRestarts restarts within any Window; the failure after those is the
// run's error, naming the attempts and the last cause. The backoff grows
// exponentially with the restarts in the window — InitialBackoff,
// doubled per restart, at most MaxBackoff — with jitter (a uniform draw in
// [d/2, d]), so that jobs failing together on a shared store do not come
// back in step. A job that has run well for a Window starts again at the
// initial backoff. The rejected alternative, a fixed number of attempts
// over the job's life, gives up on a long-lived job after a few
// unrelated failures months apart.
//
// Output across a restart is what it is across a crash and a re-run:
// printed rows are at-least-once (rows printed after the restored
// checkpoint are printed again), a durable INSERT is exactly-once (its
// sinks recover the restored checkpoint before the tasks open).

// RestartPolicy bounds a durable job's automatic restarts. The zero value
// is DefaultRestartPolicy.
type RestartPolicy struct {
	// MaxRestarts is the most restarts within Window (0: the default, 5;
	// negative: never restart).
	MaxRestarts int
	// Window is the span over which restarts are counted (default 10 min).
	Window time.Duration
	// InitialBackoff is the wait before the first restart (default 1 s);
	// each further restart within Window doubles it, up to MaxBackoff
	// (default 1 min).
	InitialBackoff, MaxBackoff time.Duration
}

// DefaultRestartPolicy is the restart policy of a durable job that sets
// none: 5 restarts within 10 minutes, waiting up to 1 s, 2 s, 4 s, … (at
// most 1 min) before them, each wait drawn between half and all of it.
var DefaultRestartPolicy = RestartPolicy{MaxRestarts: 5, Window: 10 * time.Minute, InitialBackoff: time.Second, MaxBackoff: time.Minute}

func (p RestartPolicy) withDefaults() RestartPolicy {
	d := DefaultRestartPolicy
	if p.MaxRestarts == 0 {
		p.MaxRestarts = d.MaxRestarts
	}
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = d.InitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = max(d.MaxBackoff, p.InitialBackoff)
	}
	return p
}

// backoff is the wait before a restart when n restarts (n ≥ 1, this one
// included) fall in the window; u in [0, 1) draws the jitter.
func (p RestartPolicy) backoff(n int, u float64) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + time.Duration(u*float64(d-d/2))
}

// Restart describes one restart of a durable job, for Durable.Restarted.
type Restart struct {
	Job string
	// Restart counts the restarts within the policy's Window, this one
	// included; Max is the most the policy allows there.
	Restart, Max int
	Window       time.Duration
	// Attempt is the run's attempt that failed (1: the first).
	Attempt int
	// Err is the failure.
	Err error
	// Backoff is the wait before the job runs again.
	Backoff time.Duration
}

// restarter counts a run's failures against its policy.
type restarter struct {
	policy   RestartPolicy
	restarts []time.Time // within the window
	rand     func() float64
}

func newRestarter(p RestartPolicy) *restarter {
	return &restarter{policy: p.withDefaults(), rand: rand.Float64}
}

// next decides on a failure at now: the backoff before a restart, or
// ok == false when the policy's bound is reached.
func (r *restarter) next(now time.Time) (backoff time.Duration, n int, ok bool) {
	keep := r.restarts[:0]
	for _, t := range r.restarts {
		if now.Sub(t) < r.policy.Window {
			keep = append(keep, t)
		}
	}
	r.restarts = keep
	if r.policy.MaxRestarts < 0 || len(r.restarts) >= r.policy.MaxRestarts {
		return 0, len(r.restarts), false
	}
	r.restarts = append(r.restarts, now)
	n = len(r.restarts)
	return r.policy.backoff(n, r.rand()), n, true
}

// retryable reports whether a durable run's failure may pass on a
// restart (see the comment at the top of the file).
func retryable(ctx context.Context, err error) bool {
	var qe *Error
	switch {
	case err == nil, ctx.Err() != nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, dataflow.ErrStopped), errors.Is(err, dataflow.ErrJobEnded):
		return false
	case errors.Is(err, ErrJobChanged), errors.Is(err, dataflow.ErrIncompatibleSnapshot), errors.Is(err, ErrJobRunning):
		return false
	case errors.Is(err, errResultSink), errors.As(err, &qe):
		return false
	}
	return true
}

// errResultSink marks the failure of a query's result sink (the client
// went away): a restart would not help.
var errResultSink = errors.New("result sink failed")

// runDurable runs a durable job's graph until it ends, restarting it after
// failures as d.Restarts allows. Each attempt's job is handed to attempt
// (if set) before it runs; the insert sink uses it to name the attempt's
// files afresh. The first attempt restores what prepare finds (the latest
// checkpoint, or the savepoint it starts from); a restart restores the
// latest complete checkpoint (its savepoint if there is none yet).
func (e *Engine) runDurable(ctx context.Context, st Statement, g *dataflow.Graph, opts RunOptions, base dataflow.JobOptions, attempt func(*dataflow.Job)) error {
	d := opts.Durable
	r := newRestarter(d.Restarts)
	for n := 1; ; n++ {
		job, chk, err := e.newDurableJob(ctx, st, g, opts, base, n > 1)
		if err == nil {
			if attempt != nil {
				attempt(job)
			}
			err = d.run(ctx, job)
			d.endAttempt(job)
			if chk != nil && errors.Is(err, dataflow.ErrIncompatibleSnapshot) && !errors.Is(err, ErrJobChanged) {
				advice := "start the job afresh (weir query --restart)"
				if d.FromSavepoint != nil && chk == d.FromSavepoint.Checkpoint {
					advice = "resume it with the weir version that wrote it, or start the job without it"
				}
				err = fmt.Errorf("durable job %q: %s %d cannot be restored into this query's job (%w); %s",
					d.Job, snapshotKind(chk), chk.ID, err, advice)
			}
		}
		if err == nil {
			return nil
		}
		if !retryable(ctx, err) || n == 1 && job == nil {
			return err
		}
		backoff, restarts, ok := r.next(time.Now())
		if !ok {
			p := r.policy
			if p.MaxRestarts < 0 {
				return fmt.Errorf("durable job %q failed (its restart policy allows no restarts): %w", d.Job, err)
			}
			return fmt.Errorf("durable job %q: giving up after %d attempts (%d restarts within %v, the most its restart policy allows); last error: %w",
				d.Job, n, restarts, p.Window, err)
		}
		ev := Restart{Job: d.Job, Restart: restarts, Max: r.policy.MaxRestarts, Window: r.policy.Window, Attempt: n, Err: err, Backoff: backoff}
		if d.Restarted != nil {
			d.Restarted(ev)
		} else {
			e.Logger.Warn("durable job failed; restarting it from its latest checkpoint", "job", d.Job, "attempt", n,
				"restart", restarts, "max_restarts", ev.Max, "backoff", backoff, "error", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("durable job %q: %w while waiting to restart after: %v", d.Job, context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

func snapshotKind(chk *dataflow.Checkpoint) string {
	if chk.Savepoint {
		return "savepoint"
	}
	return "checkpoint"
}
