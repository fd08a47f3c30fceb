package nexmark

import (
	"math/bits"
	"strconv"
	"sync"
)

// String content follows PersonGenerator and nexmark-flink's BidGenerator.
var (
	firstNames  = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames   = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	usStates    = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities    = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	hotChannels = [...]string{"Google", "Facebook", "Baidu", "Apple"}
)

// strTable is a list of strings stored in one buffer, for copying without
// indirection.
type strTable struct {
	data   []byte
	off    []int32 // len = n+1
	maxLen int
}

func (t *strTable) add(s string) {
	if t.off == nil {
		t.off = []int32{0}
	}
	t.data = append(t.data, s...)
	t.off = append(t.off, int32(len(t.data)))
	t.maxLen = max(t.maxLen, len(s))
}

func (t *strTable) get(i int64) []byte { return t.data[t.off[i]:t.off[i+1]] }

func (t *strTable) len() int64 { return int64(len(t.off) - 1) }

// textLen is the size of the random-text buffers; random strings are slices
// of them at random offsets.
const textLen = 1 << 16

type tableSet struct {
	names    strTable // "First Last", all len(firstNames)·len(lastNames) pairs
	cities   strTable
	states   strTable
	channels strTable // hot channels first, then "channel-0" … "channel-9999"
	urls     strTable // parallel to channels
	letters  []byte   // textLen random lowercase letters (extra padding)
	text     []byte   // textLen random lowercase letters and, 1 in 13, spaces
}

// tables is built once per process from a fixed internal seed, so the
// string tables are the same for every Config.Seed and every run.
var tables = sync.OnceValue(func() *tableSet {
	t := &tableSet{}
	r := rng{s: 0x6e65786d61726b} // "nexmark"
	for _, f := range firstNames {
		for _, l := range lastNames {
			t.names.add(f + " " + l)
		}
	}
	for _, c := range usCities {
		t.cities.add(c)
	}
	for _, s := range usStates {
		t.states.add(s)
	}
	t.letters = make([]byte, textLen)
	t.text = make([]byte, textLen)
	for i := range t.letters {
		t.letters[i] = byte('a' + r.intn(26))
		if r.intn(13) == 0 {
			t.text[i] = ' '
		} else {
			t.text[i] = byte('a' + r.intn(26))
		}
	}
	for _, c := range hotChannels {
		t.channels.add(c)
		t.urls.add(baseURL(&r))
	}
	for i := range numChannels {
		t.channels.add("channel-" + strconv.Itoa(i))
		u := baseURL(&r)
		if r.intn(10) > 0 {
			// Java: Math.abs(Integer.reverse(channelNumber)).
			rev := int64(int32(bits.Reverse32(uint32(i))))
			u += "&channel_id=" + strconv.FormatInt(max(rev, -rev), 10)
		}
		t.urls.add(u)
	}
	return t
})

// baseURL is nexmark-flink's BidGenerator.getBaseUrl.
func baseURL(r *rng) string {
	b := []byte("https://www.nexmark.com/")
	for range 3 {
		b = appendRandomString(b, r, 5, '_')
		b = append(b, '/')
	}
	return string(append(b, "item.htm?query=1"...))
}

// appendRandomString is StringsGenerator.nextString(random, maxLength,
// special), one random draw per character. The hot paths use [randText].
func appendRandomString(b []byte, r *rng, maxLength int64, special byte) []byte {
	n := minStringLength + r.intn(maxLength-minStringLength)
	start := len(b)
	for range n {
		if r.intn(13) == 0 {
			b = append(b, special)
		} else {
			b = append(b, byte('a'+r.intn(26)))
		}
	}
	// trim
	s := b[start:]
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return append(b[:start], s...)
}
