package watermark

// Tracker combines the watermarks of several inputs into one: the minimum
// over inputs that are not idle, never moving backwards. An input that ended
// holds MaxTime; the combination reaches MaxTime only once every input ended
// (ended inputs alone, next to idle ones, leave it where it was). It is used
// by sources (over their splits) and by every operator input gate (over its
// channels).
type Tracker struct {
	wms  []Time
	idle []bool
	out  Time
}

// NewTracker returns a tracker over n inputs, all at MinTime and active.
func NewTracker(n int) *Tracker {
	t := &Tracker{wms: make([]Time, n), idle: make([]bool, n), out: MinTime}
	for i := range t.wms {
		t.wms[i] = MinTime
	}
	return t
}

// Len returns the number of inputs.
func (t *Tracker) Len() int { return len(t.wms) }

// Current returns the combined watermark.
func (t *Tracker) Current() Time { return t.out }

// Input returns input i's own watermark.
func (t *Tracker) Input(i int) Time { return t.wms[i] }

// Update records input i's watermark w (a lower w than before is ignored, so
// each input is monotonic too) and marks the input active. It returns the
// combined watermark and whether it advanced.
func (t *Tracker) Update(i int, w Time) (Time, bool) {
	if w > t.wms[i] {
		t.wms[i] = w
	}
	t.idle[i] = false
	return t.recompute()
}

// SetActive marks input i as delivering again without changing its watermark.
func (t *Tracker) SetActive(i int) { t.idle[i] = false }

// SetIdle leaves input i out of the minimum until it is updated again. It
// returns the combined watermark and whether it advanced.
func (t *Tracker) SetIdle(i int) (Time, bool) {
	t.idle[i] = true
	return t.recompute()
}

// Idle reports whether input i is idle.
func (t *Tracker) Idle(i int) bool { return t.idle[i] }

// AllIdle reports whether every input that has not ended is idle (and at
// least one is): the combination is then idle itself.
func (t *Tracker) AllIdle() bool {
	any := false
	for i, w := range t.wms {
		if w == MaxTime {
			continue
		}
		if !t.idle[i] {
			return false
		}
		any = true
	}
	return any
}

func (t *Tracker) recompute() (Time, bool) {
	min := MaxTime
	active, ended := false, 0
	for i, w := range t.wms {
		switch {
		case w == MaxTime:
			ended++
		case !t.idle[i]:
			active = true
			if w < min {
				min = w
			}
		}
	}
	// Ended inputs count as +inf, but they cannot make the combination
	// active on their own: with every other input idle, their minimum (+inf)
	// would promise that the idle inputs ended too, and operators would fire
	// and drop every window while those inputs may still deliver records.
	// The combination is idle then, and holds its watermark.
	allEnded := ended > 0 && ended == len(t.wms)
	if !active && !allEnded || min <= t.out {
		return t.out, false
	}
	t.out = min
	return min, true
}
