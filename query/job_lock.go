package query

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Job locks: two runs of one durable job must not run at once — both
// would restore the same checkpoint, write the next ones over each other
// and, for an INSERT, publish the same rows twice. The second run is
// refused at once (it does not wait: a durable job runs until stopped).
//
// Processes that share a workspace lock a file per job with flock(2)
// (FileLocker): the kernel releases the lock when its holder dies, so a
// job killed with SIGKILL does not block its re-run, and no stale lock
// needs breaking by hand. The rejected alternative, a lock object in the
// checkpoint store, works across machines but cannot tell a dead holder
// from a slow one without leases and clocks.

// ErrJobRunning is wrapped by the error of a durable run refused because
// another run of the job holds its lock.
var ErrJobRunning = errors.New("the job is running")

// JobLocker keeps two runs of one durable job from running at once.
type JobLocker interface {
	// Lock takes job's lock, or fails at once with an error wrapping
	// ErrJobRunning that names the holder ("job NAME is running (pid …,
	// since …)"). unlock releases it; it is called once.
	Lock(job string) (unlock func(), err error)
}

// FileLocker locks durable jobs across the processes of one machine that
// share Dir (weir uses WORKSPACE/locks): job NAME's lock is an flock(2) on
// Dir/NAME.lock, which records the holder's pid and start time for the
// message of a refused run. The file stays when the lock is released; its
// contents say who held it last.
type FileLocker struct {
	Dir string
}

var _ JobLocker = FileLocker{}

// Lock implements JobLocker.
func (l FileLocker) Lock(job string) (func(), error) {
	if err := CheckJobName(job); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("job lock: %w", err)
	}
	path := filepath.Join(l.Dir, job+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("job lock: %w", err)
	}
	locked, err := tryFlock(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("job lock %s: %w", path, err)
	}
	if !locked {
		_ = f.Close()
		raw, _ := os.ReadFile(path)
		return nil, fmt.Errorf("%w: job %s is running (%s); stop it first (lock %s)", ErrJobRunning, job, holderText(raw), path)
	}
	holder := fmt.Sprintf("pid %d\nsince %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(holder), 0)
	}
	return func() {
		_ = funlock(f)
		_ = f.Close()
	}, nil
}

// holderText renders a lock file's "pid N\nsince T\n" as "pid N, since T".
func holderText(raw []byte) string {
	var pid, since string
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "pid "); ok {
			if _, err := strconv.Atoi(v); err == nil {
				pid = v
			}
		}
		if v, ok := strings.CutPrefix(line, "since "); ok {
			since = v
		}
	}
	if pid == "" {
		return "pid unknown: it is just starting"
	}
	if since == "" {
		return "pid " + pid
	}
	return "pid " + pid + ", since " + since
}

// processLocks is the JobLocker of a Durable without one: it keeps two
// runs of one job in this process apart, by store and job name.
var processLocks = &memoryLocker{held: map[string]time.Time{}}

type memoryLocker struct {
	mu   sync.Mutex
	held map[string]time.Time
}

func (m *memoryLocker) Lock(key string) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if since, ok := m.held[key]; ok {
		return nil, fmt.Errorf("%w: job %s is running (in this process, pid %d, since %s)", ErrJobRunning, key[strings.LastIndexByte(key, 0)+1:],
			os.Getpid(), since.UTC().Format(time.RFC3339))
	}
	m.held[key] = time.Now()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.held, key)
	}, nil
}

// lock takes the job's lock for a run (Durable.Lock, else processLocks).
func (d *Durable) lock() (func(), error) {
	if err := CheckJobName(d.Job); err != nil {
		return nil, err
	}
	if d.Lock != nil {
		return d.Lock.Lock(d.Job)
	}
	store := "<no store>"
	if d.Store != nil {
		store = d.Store.String()
	}
	return processLocks.Lock(store + "\x00" + d.Job)
}
