package query

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// likeRegexp translates a LIKE pattern (backslash escape) to an anchored
// regular expression: the reference the matcher is checked against.
func likeRegexp(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	if fold {
		b.WriteString(`(?i)`)
	}
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\\':
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case '%':
			b.WriteString(`.*`)
		case '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func TestLikeMatcher(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	alphabet := []string{"a", "b", "c", "é", "%", "_", "\\"}
	textAlphabet := []string{"a", "b", "c", "é", "%", "_", "\\", "A"}
	for range 20000 {
		var p strings.Builder
		for range r.IntN(7) {
			c := alphabet[r.IntN(len(alphabet))]
			if c == "\\" {
				c += textAlphabet[r.IntN(len(textAlphabet))]
			}
			p.WriteString(c)
		}
		var s strings.Builder
		for range r.IntN(9) {
			s.WriteString(textAlphabet[r.IntN(len(textAlphabet))])
		}
		fold := r.IntN(4) == 0
		m, err := compileLike(p.String(), `\`, fold)
		if err != nil {
			t.Fatalf("compileLike(%q): %v", p.String(), err)
		}
		want := likeRegexp(p.String(), fold).MatchString(s.String())
		if got := m.match(s.String()); got != want {
			t.Fatalf("%q LIKE %q (fold %v) = %v, want %v", s.String(), p.String(), fold, got, want)
		}
	}
}

func TestLikeShapes(t *testing.T) {
	for pattern, want := range map[string]likeShape{
		"abc": likeExact, "abc%": likePrefix, "%abc": likeSuffix, "%abc%": likeContains, "%": likeAny,
		"%%": likeAny, "": likeExact, "a%c": likeGeneral, "a_c": likeGeneral, `a\%`: likeExact,
		`a\%%`: likePrefix, "%%abc%%": likeContains,
	} {
		m, err := compileLike(pattern, `\`, false)
		if err != nil || m.shape != want {
			t.Errorf("shape of %q = %v (%v), want %v", pattern, m.shape, err, want)
		}
	}
}
