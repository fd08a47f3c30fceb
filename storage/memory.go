package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Memory is an object store in process memory, for tests and for mem://
// URLs. Objects are copied in on Write and out on ReadAt, so neither side
// can change the other's bytes.
type Memory struct {
	name    string
	metrics *Metrics

	mu      sync.RWMutex
	objects map[string]memObject
	version int64 // last ETag handed out; ETags never repeat within a store
}

type memObject struct {
	data []byte // never modified once stored
	info ObjectInfo
}

var _ Store = (*Memory)(nil)

var anonMemory atomic.Int64

// NewMemory returns an empty memory store of its own, named "mem://anon-N/"
// in messages.
func NewMemory() *Memory {
	return newMemory(fmt.Sprintf("anon-%d", anonMemory.Add(1)))
}

func newMemory(name string) *Memory {
	return &Memory{name: name, objects: make(map[string]memObject), metrics: newMetrics()}
}

var (
	namedMu     sync.Mutex
	namedMemory = map[string]*Memory{}
)

// NamedMemory returns the process-wide memory store with the given name,
// creating it on first use; mem://name/ URLs open it. Named stores live
// until the process ends (or DropMemory).
func NamedMemory(name string) *Memory {
	namedMu.Lock()
	defer namedMu.Unlock()
	m, ok := namedMemory[name]
	if !ok {
		m = newMemory(name)
		namedMemory[name] = m
	}
	return m
}

// DropMemory forgets the named memory store, so the next NamedMemory (or
// mem:// URL) with that name starts empty. Stores already handed out keep
// working.
func DropMemory(name string) {
	namedMu.Lock()
	defer namedMu.Unlock()
	delete(namedMemory, name)
}

// String returns "mem://name/".
func (m *Memory) String() string { return "mem://" + m.name + "/" }

// Metrics returns the store's counters.
func (m *Memory) Metrics() *Metrics { return m.metrics }

// Stat implements Store.
func (m *Memory) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	defer func() { m.metrics.request(KindStat, err) }()
	o, err := m.get(ctx, key)
	if err != nil {
		return ObjectInfo{}, objectError(m, "stat", key, err)
	}
	return o.info, nil
}

func (m *Memory) get(ctx context.Context, key string) (memObject, error) {
	if err := ValidKey(key); err != nil {
		return memObject{}, err
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, err
	}
	m.mu.RLock()
	o, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return memObject{}, ErrNotExist
	}
	return o, nil
}

// ReadAt implements Store.
func (m *Memory) ReadAt(ctx context.Context, key string, p []byte, off int64) (n int, err error) {
	defer func() {
		m.metrics.request(KindRead, err)
		m.metrics.read(n)
	}()
	if off < 0 {
		return 0, objectError(m, "read", key, errNegativeOffset)
	}
	o, err := m.get(ctx, key)
	if err != nil {
		return 0, objectError(m, "read", key, err)
	}
	if off >= int64(len(o.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n = copy(p, o.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string) (infos []ObjectInfo, err error) {
	defer func() { m.metrics.request(KindList, err) }()
	if err := ctx.Err(); err != nil {
		return nil, objectError(m, "list", prefix, err)
	}
	if err := validPrefix(prefix); err != nil {
		return nil, objectError(m, "list", prefix, err)
	}
	m.mu.RLock()
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, o.info)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return infos, nil
}

// Create implements Store.
func (m *Memory) Create(ctx context.Context, key string, opts CreateOptions) (w Writer, err error) {
	defer func() { m.metrics.request(KindCreate, err) }()
	if err := ValidKey(key); err != nil {
		return nil, objectError(m, "create", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, objectError(m, "create", key, err)
	}
	return &memWriter{m: m, ctx: ctx, key: key, opts: opts}, nil
}

type memWriter struct {
	m               *Memory
	ctx             context.Context
	key             string
	opts            CreateOptions
	buf             bytes.Buffer
	done, committed bool
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, objectError(w.m, "write", w.key, errClosed)
	}
	if err := w.ctx.Err(); err != nil {
		return 0, objectError(w.m, "write", w.key, err)
	}
	w.m.metrics.written(len(p))
	return w.buf.Write(p)
}

func (w *memWriter) Commit(ctx context.Context) (err error) {
	defer func() { w.m.metrics.request(KindCommit, err) }()
	if w.done {
		return objectError(w.m, "commit", w.key, errClosed)
	}
	w.done = true
	if err := w.ctx.Err(); err != nil {
		return objectError(w.m, "commit", w.key, err)
	}
	if err := ctx.Err(); err != nil {
		return objectError(w.m, "commit", w.key, err)
	}
	data := w.buf.Bytes()
	w.buf = bytes.Buffer{}
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[w.key]; ok && w.opts.IfAbsent {
		return objectError(m, "commit", w.key, ErrExists)
	}
	m.version++
	m.objects[w.key] = memObject{data: data, info: ObjectInfo{
		Key:     w.key,
		Size:    int64(len(data)),
		ModTime: time.Now(),
		ETag:    fmt.Sprintf("m%d", m.version),
	}}
	w.committed = true
	return nil
}

func (w *memWriter) Abort(context.Context) error {
	if w.committed || w.done {
		return nil
	}
	w.m.metrics.request(KindAbort, nil)
	w.done = true
	w.buf = bytes.Buffer{}
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) (err error) {
	defer func() { m.metrics.request(KindDelete, err) }()
	if err := ValidKey(key); err != nil {
		return objectError(m, "delete", key, err)
	}
	if err := ctx.Err(); err != nil {
		return objectError(m, "delete", key, err)
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}
