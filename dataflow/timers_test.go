package dataflow

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weirdata/weir/watermark"
)

type fired struct {
	kg  int
	key string
	t   int64
}

func (f fired) String() string { return fmt.Sprintf("%d/%s@%d", f.kg, f.key, f.t) }

func advance(t *testing.T, s *TimerService, w watermark.Time) string {
	t.Helper()
	var out []string
	if err := s.Advance(w, func(kg int, key []byte, tm int64) error {
		out = append(out, fired{kg, string(key), tm}.String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

func TestTimersOrderDedupBoundary(t *testing.T) {
	s := NewTimerService(KeyGroupRange{Start: 0, End: 8})
	// Registered out of order; ties on time are broken by key group, then key.
	s.Register(3, []byte("b"), 20)
	s.Register(1, []byte("z"), 20)
	s.Register(3, []byte("a"), 20)
	s.Register(5, []byte("a"), 10)
	if !s.Register(2, []byte("x"), 30) || s.Register(2, []byte("x"), 30) {
		t.Error("Register does not report duplicates")
	}
	s.Register(2, []byte("x"), 31) // same key, other time: a second timer
	if s.Len() != 6 {
		t.Fatalf("Len = %d, want 6", s.Len())
	}
	if e, ok := s.Earliest(); !ok || e != 10 {
		t.Errorf("Earliest = %d, %v", e, ok)
	}
	// Boundary: a timer at t fires when W ≥ t.
	if got := advance(t, s, 9); got != "" {
		t.Errorf("W=9 fired %s", got)
	}
	if got := advance(t, s, 10); got != "5/a@10" {
		t.Errorf("W=10 fired %q, want 5/a@10", got)
	}
	if got := advance(t, s, 29); got != "1/z@20 3/a@20 3/b@20" {
		t.Errorf("W=29 fired %q", got)
	}
	if !s.Delete(2, []byte("x"), 31) || s.Delete(2, []byte("x"), 31) || s.Delete(2, []byte("nope"), 30) {
		t.Error("Delete reports wrongly")
	}
	if got := advance(t, s, watermark.MaxTime); got != "2/x@30" {
		t.Errorf("W=max fired %q", got)
	}
	if s.Len() != 0 {
		t.Errorf("Len after firing all = %d", s.Len())
	}
	if _, ok := s.Earliest(); ok {
		t.Error("Earliest on an empty service")
	}
}

func TestTimersRegisterWhileFiring(t *testing.T) {
	s := NewTimerService(KeyGroupRange{Start: 0, End: 1})
	s.Register(0, []byte("k"), 1)
	var got []int64
	err := s.Advance(10, func(kg int, key []byte, tm int64) error {
		got = append(got, tm)
		// A chain: every firing registers the next one, 4 later.
		s.Register(kg, key, tm+4)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{1, 5, 9}) {
		t.Errorf("fired %v, want [1 5 9]: timers registered at or before W fire in the same Advance", got)
	}
	if e, _ := s.Earliest(); s.Len() != 1 || e != 13 {
		t.Errorf("left %d timers, earliest %d; want the one at 13", s.Len(), e)
	}

	boom := errors.New("boom")
	s.Register(0, []byte("k"), 14)
	n := 0
	err = s.Advance(20, func(int, []byte, int64) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 || s.Len() != 1 {
		t.Errorf("error: err=%v calls=%d left=%d; want boom, 1, 1", err, n, s.Len())
	}
}

func TestTimersAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	s := NewTimerService(KeyGroupRange{Start: 0, End: 16})
	ref := map[fired]bool{}
	w := int64(0)
	for step := range 20_000 {
		f := fired{kg: rng.IntN(16), key: fmt.Sprint(rng.IntN(20)), t: w + rng.Int64N(200)}
		switch rng.IntN(10) {
		case 0, 1, 2:
			if s.Delete(f.kg, []byte(f.key), f.t) != ref[f] {
				t.Fatalf("step %d: Delete(%v) disagrees", step, f)
			}
			delete(ref, f)
		case 3:
			w += rng.Int64N(50)
			var want []fired
			for r := range ref {
				if r.t <= w {
					want = append(want, r)
					delete(ref, r)
				}
			}
			slices.SortFunc(want, func(a, b fired) int {
				return compareTimers(&timerEntry{t: a.t, kg: a.kg, key: a.key}, &timerEntry{t: b.t, kg: b.kg, key: b.key})
			})
			var wantS []string
			for _, r := range want {
				wantS = append(wantS, r.String())
			}
			if got := advance(t, s, watermark.Time(w)); got != strings.Join(wantS, " ") {
				t.Fatalf("step %d: Advance(%d) fired\n%s\nwant\n%s", step, w, got, strings.Join(wantS, " "))
			}
		default:
			if s.Register(f.kg, []byte(f.key), f.t) == ref[f] {
				t.Fatalf("step %d: Register(%v) disagrees on duplicates", step, f)
			}
			ref[f] = true
		}
		if s.Len() != len(ref) {
			t.Fatalf("step %d: Len = %d, want %d", step, s.Len(), len(ref))
		}
	}
}

func TestTimersInBackendSnapshot(t *testing.T) {
	src := NewStateBackend(KeyGroupRange{Start: 0, End: 4})
	ts := src.Timers("op")
	ts.Register(1, []byte("b"), 5)
	ts.Register(1, []byte("a"), 5)
	ts.Register(1, []byte("a"), -3)
	ts.Register(2, []byte("c"), 1)
	if got := src.GroupsWithState(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("GroupsWithState = %v", got)
	}
	dst := NewStateBackend(KeyGroupRange{Start: 1, End: 2})
	if err := dst.RestoreKeyGroup(1, strings.NewReader(string(snapshot(t, src, 1)))); err != nil {
		t.Fatal(err)
	}
	// Only key group 1's timers moved, and they fire in order.
	if got := advance(t, dst.Timers("op"), watermark.MaxTime); got != "1/a@-3 1/a@5 1/b@5" {
		t.Errorf("restored timers fired %q", got)
	}
}
