package query

import (
	"errors"
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
)

// Statement is one statement of a script.
type Statement struct {
	// Node is the parsed statement; nil for weir's own statements that
	// Postgres lacks (Describe).
	Node *pg.Node
	// Describe is the table named by DESCRIBE name (Postgres has no
	// DESCRIBE; weir accepts it as DuckDB and MySQL do).
	Describe string
	// Text is the whole script; Start and End delimit this statement in it.
	// Locations inside Node are byte offsets into Text (the whole script),
	// so errors point at the right line of a multi-statement cell.
	Text       string
	Start, End int
}

// SQL returns the statement's own text.
func (s Statement) SQL() string { return strings.TrimSpace(s.Text[s.Start:s.End]) }

// errorAt reports an error at loc, a location in the script (−1 for none).
func (s Statement) errorAt(loc int32, format string, args ...any) *Error {
	if loc < 0 {
		return &Error{Msg: fmt.Sprintf(format, args...)}
	}
	return errorAt(s.Text, int(loc), format, args...)
}

func (s Statement) unsupportedAt(loc int32, format string, args ...any) error {
	if loc < 0 {
		return unsupportedError{&Error{Msg: fmt.Sprintf(format+" is not supported", args...)}}
	}
	return unsupportedAt(s.Text, int(loc), format, args...)
}

// blankBefore returns text[:end] with every byte before start replaced by a
// space, newlines kept: parsing it gives locations (and line numbers) of the
// whole script while the parser sees only one statement.
func blankBefore(text string, start, end int) string {
	b := []byte(text[:end])
	for i := 0; i < start; i++ {
		if b[i] != '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// Parse splits a script into statements (on the scanner's semicolons, so
// that a ';' in a string or comment does not split) and parses each with the
// Postgres parser (libpg_query). Errors are *Error with the position of the
// problem in the script.
func Parse(text string) ([]Statement, error) {
	scan, err := scanSafely(text)
	if err != nil {
		return nil, parseError(text, 0, err)
	}
	var stmts []Statement
	start := 0
	var words []string // the statement's first identifier-like tokens
	flush := func(end int) error {
		if strings.TrimSpace(stripComments(text[start:end], scan, start)) == "" {
			return nil
		}
		st := Statement{Text: text, Start: start, End: end}
		if len(words) == 2 && (words[0] == "describe" || words[0] == "desc") {
			st.Describe = words[1]
			stmts = append(stmts, st)
			return nil
		}
		res, err := parseSafely(blankBefore(text, start, end))
		if err != nil {
			return parseError(text, 0, err)
		}
		if len(res.Stmts) != 1 {
			return errorAt(text, start, "expected one statement, found %d", len(res.Stmts))
		}
		st.Node = res.Stmts[0].Stmt
		stmts = append(stmts, st)
		return nil
	}
	for _, tok := range scan.Tokens {
		switch tok.Token {
		case pg.Token_ASCII_59: // ';'
			if err := flush(int(tok.Start)); err != nil {
				return nil, err
			}
			start, words = int(tok.End), nil
			continue
		case pg.Token_SQL_COMMENT, pg.Token_C_COMMENT:
			continue
		}
		w := text[tok.Start:tok.End]
		if strings.HasPrefix(w, `"`) {
			w = strings.ReplaceAll(strings.Trim(w, `"`), `""`, `"`)
		} else {
			w = strings.ToLower(w)
		}
		words = append(words, w)
	}
	if err := flush(len(text)); err != nil {
		return nil, err
	}
	return stmts, nil
}

// stripComments returns s (the text from base) without comment tokens.
func stripComments(s string, scan *pg.ScanResult, base int) string {
	var b strings.Builder
	last := 0
	for _, tok := range scan.Tokens {
		if tok.Token != pg.Token_SQL_COMMENT && tok.Token != pg.Token_C_COMMENT {
			continue
		}
		st, en := int(tok.Start)-base, int(tok.End)-base
		if st < last || en > len(s) || st < 0 {
			continue
		}
		b.WriteString(s[last:st])
		last = en
	}
	b.WriteString(s[last:])
	return b.String()
}

func parseError(text string, base int, err error) error {
	var pe *pgparser.Error
	if errors.As(err, &pe) {
		// Cursorpos is 1-based, in bytes, within the parsed text.
		return errorAt(text, base+max(pe.Cursorpos-1, 0), "%s", pe.Message)
	}
	return &Error{Msg: err.Error()}
}

// parseSafely and scanSafely turn a panic at the cgo boundary into an
// error: bad input must never take the process down.
func parseSafely(text string) (res *pg.ParseResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	return pg.Parse(text)
}

func scanSafely(text string) (res *pg.ScanResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("scanner failed: %v", r)
		}
	}()
	return pg.Scan(text)
}
