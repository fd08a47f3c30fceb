package query

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// String functions. Positions and lengths count characters (UTF-8 code
// points), not bytes, as in Postgres; || and concat accept any type and
// print it as CAST(x AS text) does.

// maxResultLength bounds the result of lpad, rpad and repeat (a million
// characters or bytes), which would otherwise let one row allocate without
// limit ("requested length too large"; Postgres allows up to 1 GB).
const maxResultLength = 1 << 20

func init() {
	t1 := func(name string, fn func(string) string) {
		register(name, &overload{params: []kind{kText}, ret: kText, eval: textMap1(fn)})
	}
	t1("lower", strings.ToLower)
	t1("upper", strings.ToUpper)
	t1("reverse", reverseString)
	t1("initcap", initcap)
	t1("md5", func(s string) string {
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	})
	register("length", &overload{params: []kind{kText}, ret: kInt32, eval: int32Map(func(k *kctx, i int) (int32, error) {
		return int32(utf8.RuneCountInString(k.str(0, i))), nil
	})})
	register("octet_length", &overload{params: []kind{kText}, ret: kInt32, eval: int32Map(func(k *kctx, i int) (int32, error) {
		return int32(len(k.str(0, i))), nil
	})})
	register("ascii", &overload{params: []kind{kText}, ret: kInt32, eval: int32Map(func(k *kctx, i int) (int32, error) {
		r, _ := utf8.DecodeRuneInString(k.str(0, i))
		if r == utf8.RuneError {
			return 0, nil
		}
		return r, nil
	})})
	register("chr", &overload{params: []kind{kInt32}, ret: kText, canFail: always, eval: textMap(func(k *kctx, i int) (string, error) {
		c := k.int32At(0, i)
		switch {
		case c == 0:
			return "", errors.New("null character not permitted")
		case c < 0 || c > unicode.MaxRune || c >= 0xD800 && c <= 0xDFFF:
			return "", fmt.Errorf("requested character too large for encoding: %d", c)
		}
		return string(rune(c)), nil
	})})
	register("strpos", &overload{params: []kind{kText, kText}, ret: kInt32, eval: int32Map(func(k *kctx, i int) (int32, error) {
		s, sub := k.str(0, i), k.str(1, i)
		j := strings.Index(s, sub)
		if j < 0 {
			return 0, nil
		}
		return int32(utf8.RuneCountInString(s[:j]) + 1), nil
	})})
	register("starts_with", &overload{params: []kind{kText, kText}, ret: kBool, eval: boolMap(func(k *kctx, i int) bool {
		return strings.HasPrefix(k.str(0, i), k.str(1, i))
	})})
	register("substr",
		&overload{params: []kind{kText, kInt32}, ret: kText, eval: textMap(func(k *kctx, i int) (string, error) {
			return substr(k.str(0, i), int64(k.int32At(1, i)), -1)
		})},
		&overload{params: []kind{kText, kInt32, kInt32}, ret: kText, canFail: always, eval: textMap(func(k *kctx, i int) (string, error) {
			n := int64(k.int32At(2, i))
			if n < 0 {
				return "", errNegativeSubstr
			}
			return substr(k.str(0, i), int64(k.int32At(1, i)), n)
		})},
	)
	register("left", &overload{params: []kind{kText, kInt32}, ret: kText, eval: textMap(func(k *kctx, i int) (string, error) {
		return leftChars(k.str(0, i), int(k.int32At(1, i))), nil
	})})
	register("right", &overload{params: []kind{kText, kInt32}, ret: kText, eval: textMap(func(k *kctx, i int) (string, error) {
		return rightChars(k.str(0, i), int(k.int32At(1, i))), nil
	})})
	for _, name := range []string{"btrim", "ltrim", "rtrim"} {
		left, right := name != "rtrim", name != "ltrim"
		register(name,
			&overload{params: []kind{kText}, ret: kText, eval: textMap(func(k *kctx, i int) (string, error) {
				return trimChars(k.str(0, i), " ", left, right), nil
			})},
			&overload{params: []kind{kText, kText}, ret: kText, eval: textMap(func(k *kctx, i int) (string, error) {
				return trimChars(k.str(0, i), k.str(1, i), left, right), nil
			})},
		)
	}
	aliases["trim"] = "btrim"
	register("replace", &overload{params: []kind{kText, kText, kText}, ret: kText, eval: textMap(func(k *kctx, i int) (string, error) {
		s, from := k.str(0, i), k.str(1, i)
		if from == "" {
			return s, nil
		}
		return strings.ReplaceAll(s, from, k.str(2, i)), nil
	})})
	register("translate", &overload{params: []kind{kText, kText, kText}, ret: kText, eval: textMap(func(k *kctx, i int) (string, error) {
		return translate(k.str(0, i), k.str(1, i), k.str(2, i)), nil
	})})
	register("split_part", &overload{params: []kind{kText, kText, kInt32}, ret: kText, canFail: always, eval: textMap(func(k *kctx, i int) (string, error) {
		return splitPart(k.str(0, i), k.str(1, i), int(k.int32At(2, i)))
	})})
	register("repeat", &overload{params: []kind{kText, kInt32}, ret: kText, canFail: always, eval: textMap(func(k *kctx, i int) (string, error) {
		s, n := k.str(0, i), int(k.int32At(1, i))
		if n <= 0 || s == "" {
			return "", nil
		}
		if len(s)*n > maxResultLength || len(s)*n/n != len(s) {
			return "", errRequestedLength
		}
		return strings.Repeat(s, n), nil
	})})
	for _, name := range []string{"lpad", "rpad"} {
		left := name == "lpad"
		register(name,
			&overload{params: []kind{kText, kInt32}, ret: kText, canFail: always, eval: textMap(func(k *kctx, i int) (string, error) {
				return pad(k.str(0, i), int(k.int32At(1, i)), " ", left)
			})},
			&overload{params: []kind{kText, kInt32, kText}, ret: kText, canFail: always, eval: textMap(func(k *kctx, i int) (string, error) {
				return pad(k.str(0, i), int(k.int32At(1, i)), k.str(2, i), left)
			})},
		)
	}
	register("||",
		&overload{params: []kind{kText, kText}, ret: kText, eval: concatKernel(false, true)},
		&overload{params: []kind{kText, kAny}, ret: kText, eval: concatKernel(false, true)},
		&overload{params: []kind{kAny, kText}, ret: kText, eval: concatKernel(false, true)},
	)
	register("concat", &overload{params: []kind{kAny}, variadic: true, ret: kText, lenient: true, eval: concatKernel(false, false)})
	register("concat_ws", &overload{params: []kind{kText, kAny}, variadic: true, ret: kText, lenient: true, eval: concatKernel(true, false)})
}

// str is row i of text argument j (broadcasting a constant).
func (k *kctx) str(j, i int) string {
	return stringsOf(k.args[j], k.n).at(i)
}

// int32At is row i of integer argument j.
func (k *kctx) int32At(j, i int) int32 {
	return valuesOf[int32](k.args[j])[i&k.m(j)]
}

// textMap builds a text result row by row (NULL rows skipped).
func textMap(fn func(k *kctx, i int) (string, error)) kernel {
	return func(k *kctx) (arrow.Array, error) {
		b := newStrBuilder(k.n, 16*k.n)
		for i := 0; i < k.n; i++ {
			if !k.isValid(i) {
				b.end()
				continue
			}
			s, err := fn(k, i)
			if err != nil {
				return nil, err
			}
			b.add(s)
		}
		return b.finish(k.valid, k.nulls)
	}
}

// textMap1 applies a text function of one argument.
func textMap1(fn func(string) string) kernel {
	return func(k *kctx) (arrow.Array, error) {
		src := stringsOf(k.args[0], k.n)
		b := newStrBuilder(k.n, len(src.data))
		for i := 0; i < k.n; i++ {
			if !k.isValid(i) {
				b.end()
				continue
			}
			b.add(fn(src.at(i)))
		}
		return b.finish(k.valid, k.nulls)
	}
}

func int32Map(fn func(k *kctx, i int) (int32, error)) kernel {
	return func(k *kctx) (arrow.Array, error) {
		out := make([]int32, k.n)
		for i := range out {
			if !k.isValid(i) {
				continue
			}
			v, err := fn(k, i)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return fixedOut(typInt32, out, k.valid, k.nulls), nil
	}
}

func boolMap(fn func(k *kctx, i int) bool) kernel {
	return func(k *kctx) (arrow.Array, error) {
		out := make([]byte, bitutil.BytesForBits(int64(k.n)))
		for i := 0; i < k.n; i++ {
			if k.isValid(i) && fn(k, i) {
				bitutil.SetBit(out, i)
			}
		}
		return boolOut(out, k.n, k.valid, k.nulls), nil
	}
}

func reverseString(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// initcap upper-cases the first letter of each run of letters and digits
// and lower-cases the rest.
func initcap(s string) string {
	var b strings.Builder
	inWord := false
	for _, r := range s {
		alnum := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case alnum && !inWord:
			b.WriteRune(unicode.ToUpper(r))
		case alnum:
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		inWord = alnum
	}
	return b.String()
}

// substr is Postgres' substring(s FROM start FOR n) (n < 0: to the end):
// characters start .. start+n-1, 1-based, clipped to the string.
func substr(s string, start, n int64) (string, error) {
	end := int64(1) << 62
	if n >= 0 {
		end = start + n // exclusive
		if end < start {
			end = int64(1) << 62
		}
	}
	if start < 1 {
		start = 1
	}
	if end <= start {
		return "", nil
	}
	pos := int64(1)
	from, to := len(s), len(s)
	for i := range s {
		if pos == start {
			from = i
		}
		if pos == end {
			to = i
			break
		}
		pos++
	}
	if from > to {
		return "", nil
	}
	return s[from:to], nil
}

// leftChars is left(s, n): the first n characters, or all but the last -n.
func leftChars(s string, n int) string {
	count := utf8.RuneCountInString(s)
	if n < 0 {
		n = max(count+n, 0)
	}
	return prefixChars(s, n)
}

// rightChars is right(s, n): the last n characters, or all but the first -n.
func rightChars(s string, n int) string {
	count := utf8.RuneCountInString(s)
	if n < 0 {
		n = max(count+n, 0)
	}
	if n >= count {
		return s
	}
	skip := count - n
	for i := range s {
		if skip == 0 {
			return s[i:]
		}
		skip--
	}
	return ""
}

func prefixChars(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func trimChars(s, chars string, left, right bool) string {
	if chars == "" {
		return s
	}
	if left {
		s = strings.TrimLeft(s, chars)
	}
	if right {
		s = strings.TrimRight(s, chars)
	}
	return s
}

func translate(s, from, to string) string {
	fr, tr := []rune(from), []rune(to)
	var b strings.Builder
	for _, r := range s {
		idx := -1
		for j, f := range fr {
			if f == r {
				idx = j
				break
			}
		}
		switch {
		case idx < 0:
			b.WriteRune(r)
		case idx < len(tr):
			b.WriteRune(tr[idx])
		}
	}
	return b.String()
}

// splitPart is split_part(s, delim, n): field n (from the end when n < 0).
func splitPart(s, delim string, n int) (string, error) {
	if n == 0 {
		return "", errFieldPosZero
	}
	var fields []string
	if delim == "" {
		fields = []string{s}
		if s == "" {
			fields = nil
		}
	} else {
		fields = strings.Split(s, delim)
		if s == "" {
			fields = nil
		}
	}
	if n < 0 {
		n = len(fields) + n + 1
		if n <= 0 {
			return "", nil
		}
	}
	if n > len(fields) {
		return "", nil
	}
	return fields[n-1], nil
}

// pad is lpad/rpad: s filled with fill (repeated) to n characters, or cut
// to n.
func pad(s string, n int, fill string, left bool) (string, error) {
	if n <= 0 {
		return "", nil
	}
	if n > maxResultLength {
		return "", errRequestedLength
	}
	count := utf8.RuneCountInString(s)
	if count >= n {
		return prefixChars(s, n), nil
	}
	if fill == "" {
		return s, nil
	}
	need := n - count
	fr := []rune(fill)
	var p strings.Builder
	for i := 0; i < need; i++ {
		p.WriteRune(fr[i%len(fr)])
	}
	if left {
		return p.String() + s, nil
	}
	return s + p.String(), nil
}

// concatKernel is || (strict), concat (NULLs skipped) and concat_ws (the
// first argument separates the non-NULL others; a NULL separator gives
// NULL). Non-text arguments are printed as text first.
func concatKernel(ws, strict bool) kernel {
	return func(k *kctx) (arrow.Array, error) {
		texts := make([]arrow.Array, len(k.args))
		for j, a := range k.args {
			t, err := asText(a)
			if err != nil {
				return nil, err
			}
			texts[j] = t
		}
		parts := make([]strs, len(texts))
		valids := make([][]byte, len(texts))
		for j, t := range texts {
			parts[j] = stringsOf(t, k.n)
			valids[j], _ = validCopy(t, k.n)
		}
		isValid := func(j, i int) bool { return valids[j] == nil || bitutil.BitIsSet(valids[j], i) }
		b := newStrBuilder(k.n, 32*k.n)
		var outValid []byte
		nulls := 0
		if strict {
			outValid, nulls = k.valid, k.nulls
		}
		first := 0
		if ws {
			first = 1
			outValid, nulls = validCopy(texts[0], k.n)
		}
		for i := 0; i < k.n; i++ {
			if (strict || ws) && outValid != nil && !bitutil.BitIsSet(outValid, i) {
				b.end()
				continue
			}
			sep := ""
			if ws {
				sep = parts[0].at(i)
			}
			wrote := false
			for j := first; j < len(parts); j++ {
				if !isValid(j, i) {
					continue
				}
				if wrote {
					b.data = append(b.data, sep...)
				}
				b.data = append(b.data, parts[j].bytes(i)...)
				wrote = true
			}
			b.end()
		}
		return b.finish(outValid, nulls)
	}
}

// asText converts an argument of any weir type to text.
func asText(a arrow.Array) (arrow.Array, error) {
	from := kindOf(a.DataType())
	if from == kText {
		return a, nil
	}
	if from == kNull {
		return nullArray(typText, a.Len()), nil
	}
	kern := castKernel(from, kText, 0)
	if kern == nil {
		return nil, fmt.Errorf("cannot print type %s as text", TypeName(a.DataType()))
	}
	valid, nulls := validCopy(a, a.Len())
	return kern(&kctx{args: []arrow.Array{a}, n: a.Len(), valid: valid, nulls: nulls})
}
