package storage

import (
	"context"
	"errors"
	"sync/atomic"
)

// Kind is a kind of store request: one per Store and Writer method that
// talks to the store.
type Kind int

const (
	KindStat Kind = iota
	KindRead
	KindList
	KindCreate
	KindCommit
	KindAbort
	KindDelete
	numKinds
)

var kindNames = [numKinds]string{"stat", "read", "list", "create", "commit", "abort", "delete"}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "unknown"
	}
	return kindNames[k]
}

// Metrics counts what one store did. The counters are plain atomics, cheap
// enough for every request, updated by the store and readable at any time
// through Snapshot; an exporter (Prometheus later) turns a snapshot into
// storage_requests_total{store, kind} and friends. A store's metrics live as
// long as the store value; stores opened twice count separately.
type Metrics struct {
	requests     [numKinds]atomic.Int64
	errors       [numKinds]atomic.Int64
	bytesRead    atomic.Int64
	bytesWritten atomic.Int64
	// calls counts a remote store's API calls by operation, each attempt
	// (retries included); nil for stores without a remote API.
	calls map[string]*atomic.Int64
}

// newMetrics returns Metrics that also count API calls for the named
// operations; a call to any other operation counts under "other".
func newMetrics(callNames ...string) *Metrics {
	m := &Metrics{}
	if len(callNames) > 0 {
		m.calls = make(map[string]*atomic.Int64, len(callNames)+1)
		for _, n := range append(callNames, "other") {
			m.calls[n] = new(atomic.Int64)
		}
	}
	return m
}

// request counts one request of kind k that ended with err. ErrNotExist and
// ErrExists are answers, not failures, and do not count as errors; neither
// does a request the caller cancelled.
func (m *Metrics) request(k Kind, err error) {
	m.requests[k].Add(1)
	if err != nil && !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrExists) && !errors.Is(err, context.Canceled) {
		m.errors[k].Add(1)
	}
}

func (m *Metrics) read(n int)    { m.bytesRead.Add(int64(n)) }
func (m *Metrics) written(n int) { m.bytesWritten.Add(int64(n)) }

func (m *Metrics) call(op string) {
	c, ok := m.calls[op]
	if !ok {
		c = m.calls["other"]
	}
	if c != nil {
		c.Add(1)
	}
}

// MetricsSnapshot is a copy of a store's counters at one moment.
type MetricsSnapshot struct {
	// Requests and Errors count Store and Writer calls by kind ("stat",
	// "read", "list", "create", "commit", "abort", "delete"); every kind is
	// present. Errors leaves out ErrNotExist and ErrExists.
	Requests map[string]int64
	Errors   map[string]int64
	// BytesRead counts bytes returned by ReadAt; BytesWritten bytes accepted
	// by writers (including writes later aborted).
	BytesRead    int64
	BytesWritten int64
	// Calls counts a remote store's API calls by operation ("GetObject",
	// "UploadPart", ...), one per attempt, so retries show here and not in
	// Requests. It is nil for local and memory stores.
	Calls map[string]int64
}

// Snapshot copies the counters.
func (m *Metrics) Snapshot() MetricsSnapshot {
	s := MetricsSnapshot{
		Requests:     make(map[string]int64, numKinds),
		Errors:       make(map[string]int64, numKinds),
		BytesRead:    m.bytesRead.Load(),
		BytesWritten: m.bytesWritten.Load(),
	}
	for k := range numKinds {
		s.Requests[k.String()] = m.requests[k].Load()
		s.Errors[k.String()] = m.errors[k].Load()
	}
	if m.calls != nil {
		s.Calls = make(map[string]int64, len(m.calls))
		for n, c := range m.calls {
			s.Calls[n] = c.Load()
		}
	}
	return s
}

// MetricsOf returns the counters of s, or nil if s keeps none. Every store
// in this package keeps them; Cached returns those of the store it wraps.
func MetricsOf(s Store) *Metrics {
	if m, ok := s.(interface{ Metrics() *Metrics }); ok {
		return m.Metrics()
	}
	return nil
}
