package dataflow

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"

	"github.com/weirdata/weir/watermark"
)

// TimerService holds the event-time timers of one operator subtask, by key
// group. A timer is (key group, key, time in µs); registering the same
// (key, time) twice leaves one timer.
//
// Boundary: a timer at t fires when the watermark reaches it, W ≥ t — the
// same rule as a window [s, e) that fires when W ≥ e. Since W promises that
// no more on-time records with event time < W follow, a timer at t fires
// once every on-time record with event time < t has been processed; records
// at exactly t may still come.
//
// Timers fire in increasing time, ties broken by key group and then by key
// bytes, so firing order is deterministic and independent of the order of
// registration and of parallelism.
//
// Cost: a min-heap ordered by (time, key group, key) for firing, and a set
// per key group for dedup, deletion and per-key-group snapshots. Register,
// Delete and each firing are O(log n).
//
// Timers are part of the StateBackend's key-group snapshots when the
// service was obtained with StateBackend.Timers.
type TimerService struct {
	groups KeyGroupRange
	heap   timerHeap
	byKG   map[int]map[timerID]*timerEntry
}

type timerID struct {
	t   int64
	key string
}

type timerEntry struct {
	t     int64
	kg    int
	key   string
	index int // in the heap
}

// NewTimerService returns an empty timer service for the key groups groups.
func NewTimerService(groups KeyGroupRange) *TimerService {
	return &TimerService{groups: groups, byKG: map[int]map[timerID]*timerEntry{}}
}

// Len returns the number of timers.
func (s *TimerService) Len() int { return len(s.heap) }

// Earliest returns the time of the next timer to fire, and false if there is none.
func (s *TimerService) Earliest() (int64, bool) {
	if len(s.heap) == 0 {
		return 0, false
	}
	return s.heap[0].t, true
}

// Register adds a timer for key in key group kg at time t (µs). It reports
// false if that timer already existed.
func (s *TimerService) Register(kg int, key []byte, t int64) bool {
	if !s.groups.Contains(kg) {
		panic(fmt.Sprintf("dataflow: timer key group %d outside %s", kg, s.groups))
	}
	set := s.byKG[kg]
	if set == nil {
		set = map[timerID]*timerEntry{}
		s.byKG[kg] = set
	}
	if _, ok := set[timerID{t, string(key)}]; ok {
		return false
	}
	e := &timerEntry{t: t, kg: kg, key: string(key)}
	set[timerID{t, e.key}] = e
	heap.Push(&s.heap, e)
	return true
}

// Delete removes the timer of key in key group kg at time t, and reports
// whether there was one.
func (s *TimerService) Delete(kg int, key []byte, t int64) bool {
	set := s.byKG[kg]
	e, ok := set[timerID{t, string(key)}]
	if !ok {
		return false
	}
	s.remove(set, e)
	heap.Remove(&s.heap, e.index)
	return true
}

func (s *TimerService) remove(set map[timerID]*timerEntry, e *timerEntry) {
	delete(set, timerID{e.t, e.key})
	if len(set) == 0 {
		delete(s.byKG, e.kg)
	}
}

// Advance fires, in order, every timer at a time t ≤ w, calling fire with
// its key group, key and time. Each timer is removed before fire is
// called. fire may register and delete timers; those it registers at or
// before w fire in this same call (so a fire that always registers one at
// or before w never returns). The first error from fire stops Advance and
// is returned; timers not yet fired stay.
func (s *TimerService) Advance(w watermark.Time, fire func(kg int, key []byte, t int64) error) error {
	for len(s.heap) > 0 && s.heap[0].t <= int64(w) {
		e := heap.Pop(&s.heap).(*timerEntry)
		s.remove(s.byKG[e.kg], e)
		if err := fire(e.kg, []byte(e.key), e.t); err != nil {
			return err
		}
	}
	return nil
}

// ScanKeyGroup calls fn for every timer of key group kg in firing order
// (time, then key), until fn returns false. fn must not register or delete
// timers.
func (s *TimerService) ScanKeyGroup(kg int, fn func(key []byte, t int64) bool) {
	for _, e := range s.keyGroupTimers(kg) {
		if !fn([]byte(e.key), e.t) {
			return
		}
	}
}

func (s *TimerService) keyGroupTimers(kg int) []*timerEntry {
	set := s.byKG[kg]
	es := make([]*timerEntry, 0, len(set))
	for _, e := range set {
		es = append(es, e)
	}
	slices.SortFunc(es, compareTimers)
	return es
}

func (s *TimerService) clearKeyGroup(kg int) {
	set := s.byKG[kg]
	for _, e := range set {
		heap.Remove(&s.heap, e.index)
	}
	delete(s.byKG, kg)
}

func compareTimers(a, b *timerEntry) int {
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	if c := cmp.Compare(a.kg, b.kg); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// timerHeap is a container/heap of timers ordered by (time, key group, key)
// that keeps each entry's index, so Delete is O(log n).
type timerHeap []*timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return compareTimers(h[i], h[j]) < 0 }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	e := x.(*timerEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
