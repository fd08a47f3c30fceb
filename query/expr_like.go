package query

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// like is x [NOT] LIKE / ILIKE pattern [ESCAPE e]: % matches any sequence
// of characters, _ exactly one character, the escape character (default
// backslash; an empty ESCAPE string for none) makes the next one literal. ILIKE compares
// lower-cased. A constant pattern is compiled once at bind time, and the
// common shapes ('abc', 'abc%', '%abc', '%abc%') become plain string tests.
type like struct {
	arg, pattern Expr
	escape       Expr // nil: the default backslash
	ilike, not   bool
	m            *likeMatcher // compiled constant pattern, or nil
	src          src
}

var _ Structural = (*like)(nil)

var (
	errLikeEscapeEnd = errors.New("LIKE pattern must not end with escape character")
	errLikeEscape    = errors.New("invalid escape string")
)

func newLike(arg, pattern, escape Expr, ilike, not bool, s src) (*like, error) {
	l := &like{arg: arg, pattern: pattern, escape: escape, ilike: ilike, not: not, src: s}
	p, okP := pattern.(*Literal)
	okE := true
	esc := `\`
	if escape != nil {
		var e *Literal
		e, okE = escape.(*Literal)
		if okE && !e.IsNull() {
			esc = e.Value().(string)
		}
		if okE && e.IsNull() {
			return l, nil // NULL escape: every row is NULL
		}
	}
	if okP && okE && !p.IsNull() {
		m, err := compileLike(p.Value().(string), esc, ilike)
		if err != nil {
			return nil, err
		}
		l.m = m
	}
	return l, nil
}

func (l *like) Type() arrow.DataType { return typBool }

func (l *like) mayFail() bool { return l.m == nil }

func (l *like) Eval(rec arrow.RecordBatch) (arrow.Array, error) {
	n := int(rec.NumRows())
	es := []Expr{l.arg, l.pattern}
	if l.escape != nil {
		es = append(es, l.escape)
	}
	args, _, err := evalArgs(es, rec)
	if err != nil {
		return nil, err
	}
	valid, nulls, allNull := strictValidity(args, n)
	if allNull || n == 0 {
		return nullArray(typBool, n), nil
	}
	k := &kctx{args: args, n: n, valid: valid, nulls: nulls}
	s := stringsOf(args[0], n)
	hit := make([]byte, n)
	if l.m != nil {
		l.m.matchAll(s, hit)
	} else {
		// A pattern per row: compile each distinct one once.
		ps := stringsOf(args[1], n)
		var es strs
		if len(args) > 2 {
			es = stringsOf(args[2], n)
		}
		var lastP, lastE string
		var m *likeMatcher
		for i := range hit {
			if !k.isValid(i) {
				continue
			}
			p, e := ps.at(i), `\`
			if len(args) > 2 {
				e = es.at(i)
			}
			if m == nil || p != lastP || e != lastE {
				var err error
				if m, err = compileLike(p, e, l.ilike); err != nil {
					return nil, l.src.wrap(err)
				}
				lastP, lastE = strings.Clone(p), strings.Clone(e)
			}
			hit[i] = b2u(m.match(s.at(i)))
		}
	}
	if l.not {
		for i := range hit {
			hit[i] ^= 1
		}
	}
	out := make([]byte, bitutil.BytesForBits(int64(n)))
	packBools(hit, out)
	return boolOut(out, n, valid, nulls), nil
}

func (l *like) String() string {
	op := " LIKE "
	if l.ilike {
		op = " ILIKE "
	}
	if l.not {
		op = " NOT" + op
	}
	s := operand(l.arg) + op + operand(l.pattern)
	if l.escape != nil {
		s += " ESCAPE " + operand(l.escape)
	}
	return s
}

func (l *like) Children() []Expr {
	if l.escape != nil {
		return []Expr{l.arg, l.pattern, l.escape}
	}
	return []Expr{l.arg, l.pattern}
}

func (l *like) WithChildren(children []Expr) (Expr, error) {
	cp := *l
	cp.arg, cp.pattern = children[0], children[1]
	if len(children) > 2 {
		cp.escape = children[2]
	}
	if cp.m == nil { // the pattern may have become a constant (folding)
		if c, err := newLike(cp.arg, cp.pattern, cp.escape, cp.ilike, cp.not, cp.src); err == nil {
			cp.m = c.m
		}
	}
	return &cp, nil
}

func (l *like) SameOp(other Expr) bool {
	o, ok := other.(*like)
	return ok && o.ilike == l.ilike && o.not == l.not && (o.escape == nil) == (l.escape == nil)
}

// likeMatcher is a compiled pattern: the segments between its %s, each a
// list of literal runs and _ wildcards. segs[0] is anchored at the start of
// the string and the last segment at its end (both empty when the pattern
// starts or ends with %).
type likeMatcher struct {
	fold  bool
	segs  [][]likeItem
	shape likeShape
	lit   string // the literal of a plain shape
}

type likeShape uint8

const (
	likeGeneral  likeShape = iota
	likeExact              // 'abc'
	likePrefix             // 'abc%'
	likeSuffix             // '%abc'
	likeContains           // '%abc%'
	likeAny                // '%'
)

// likeItem is a literal string, or (lit == "") one _ wildcard.
type likeItem struct{ lit string }

func compileLike(pattern, escape string, fold bool) (*likeMatcher, error) {
	if utf8.RuneCountInString(escape) > 1 {
		return nil, errLikeEscape
	}
	esc := rune(-1)
	if escape != "" {
		esc, _ = utf8.DecodeRuneInString(escape)
	}
	if fold {
		pattern = strings.ToLower(pattern)
	}
	m := &likeMatcher{fold: fold}
	var seg []likeItem
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			seg = append(seg, likeItem{lit: lit.String()})
			lit.Reset()
		}
	}
	underscore := false
	for i := 0; i < len(pattern); {
		r, w := utf8.DecodeRuneInString(pattern[i:])
		i += w
		switch r {
		case esc:
			if i >= len(pattern) {
				return nil, errLikeEscapeEnd
			}
			r2, w2 := utf8.DecodeRuneInString(pattern[i:])
			i += w2
			lit.WriteRune(r2)
		case '%':
			flush()
			m.segs = append(m.segs, seg)
			seg = nil
		case '_':
			flush()
			seg = append(seg, likeItem{})
			underscore = true
		default:
			lit.WriteRune(r)
		}
	}
	flush()
	m.segs = append(m.segs, seg)
	if underscore {
		return m, nil
	}
	last := len(m.segs) - 1
	var plain []string
	for _, sg := range m.segs {
		if len(sg) > 0 {
			plain = append(plain, sg[0].lit)
		}
	}
	leading, trail := len(m.segs[0]) == 0, len(m.segs[last]) == 0
	switch {
	case last == 0:
		m.shape, m.lit = likeExact, strings.Join(plain, "")
	case len(plain) == 0:
		m.shape = likeAny
	case len(plain) > 1:
	case !leading && trail:
		m.shape, m.lit = likePrefix, plain[0]
	case leading && !trail:
		m.shape, m.lit = likeSuffix, plain[0]
	case leading && trail:
		m.shape, m.lit = likeContains, plain[0]
	}
	return m, nil
}

func (m *likeMatcher) matchAll(s strs, hit []byte) {
	if m.fold || s.m == 0 {
		for i := range hit {
			hit[i] = b2u(m.match(s.at(i)))
		}
		return
	}
	// Plain shapes straight on the value buffer, without a call per row.
	offs, data, lit := s.offs, s.data, m.lit
	switch m.shape {
	case likeExact:
		for i := range hit {
			o0, o1 := offs[i], offs[i+1]
			hit[i] = b2u(string(data[o0:o1]) == lit)
		}
	case likePrefix:
		for i := range hit {
			o0, o1 := offs[i], offs[i+1]
			hit[i] = b2u(int(o1-o0) >= len(lit) && string(data[o0:o0+int32(len(lit))]) == lit)
		}
	case likeSuffix:
		for i := range hit {
			o0, o1 := offs[i], offs[i+1]
			hit[i] = b2u(int(o1-o0) >= len(lit) && string(data[o1-int32(len(lit)):o1]) == lit)
		}
	case likeAny:
		for i := range hit {
			hit[i] = 1
		}
	default:
		for i := range hit {
			hit[i] = b2u(m.match(s.at(i)))
		}
	}
}

func (m *likeMatcher) match(s string) bool {
	if m.fold {
		s = strings.ToLower(s)
	}
	switch m.shape {
	case likeExact:
		return s == m.lit
	case likePrefix:
		return strings.HasPrefix(s, m.lit)
	case likeSuffix:
		return strings.HasSuffix(s, m.lit)
	case likeContains:
		return strings.Contains(s, m.lit)
	case likeAny:
		return true
	}
	return m.general(s)
}

// general matches segment by segment: the first anchored at the start,
// the last at the end, those between at their leftmost occurrence — greedy
// leftmost is correct for % because a later segment can only gain room.
func (m *likeMatcher) general(s string) bool {
	segs := m.segs
	end, ok := matchSegAt(s, segs[0])
	if !ok {
		return false
	}
	if len(segs) == 1 {
		return end == len(s)
	}
	pos := end
	last := len(segs) - 1
	start, ok := matchSegSuffix(s[pos:], segs[last])
	if !ok {
		return false
	}
	tail := pos + start
	for _, seg := range segs[1:last] {
		end, ok := findSeg(s[pos:tail], seg)
		if !ok {
			return false
		}
		pos += end
	}
	return true
}

// matchSegAt matches seg at the start of s and returns where it ends.
func matchSegAt(s string, seg []likeItem) (int, bool) {
	pos := 0
	for _, it := range seg {
		if it.lit == "" {
			if pos >= len(s) {
				return 0, false
			}
			_, w := utf8.DecodeRuneInString(s[pos:])
			pos += w
			continue
		}
		if !strings.HasPrefix(s[pos:], it.lit) {
			return 0, false
		}
		pos += len(it.lit)
	}
	return pos, true
}

// findSeg finds the leftmost match of seg in s and returns its end.
func findSeg(s string, seg []likeItem) (int, bool) {
	if len(seg) == 0 {
		return 0, true
	}
	for start := 0; start <= len(s); {
		if end, ok := matchSegAt(s[start:], seg); ok {
			return start + end, true
		}
		if start == len(s) {
			break
		}
		_, w := utf8.DecodeRuneInString(s[start:])
		start += w
	}
	return 0, false
}

// matchSegSuffix matches seg at the end of s and returns where it starts.
func matchSegSuffix(s string, seg []likeItem) (int, bool) {
	if len(seg) == 0 {
		return len(s), true
	}
	// Try start positions from the right: the segment's length in bytes
	// depends on the characters _ covers.
	for start := len(s); start >= 0; start-- {
		if start < len(s) && !utf8.RuneStart(s[start]) {
			continue
		}
		if end, ok := matchSegAt(s[start:], seg); ok && start+end == len(s) {
			return start, true
		}
	}
	return 0, false
}
