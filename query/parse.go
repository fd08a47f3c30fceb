package query

import (
	"errors"
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
)

// Statement is one parsed statement of a script, with its own text.
type Statement struct {
	Node *pg.Node
	// Text is the whole script; Start and End delimit this statement in it.
	// Positions in Node (location fields) are byte offsets into Text.
	Text       string
	Start, End int
}

// SQL returns the statement's own text.
func (s Statement) SQL() string { return strings.TrimSpace(s.Text[s.Start:s.End]) }

// Parse splits a script into statements with the Postgres parser
// (libpg_query). Syntax errors are *Error with the position of the problem.
func Parse(text string) ([]Statement, error) {
	res, err := parseSafely(text)
	if err != nil {
		var pe *pgparser.Error
		if errors.As(err, &pe) {
			// Cursorpos is 1-based, in bytes.
			return nil, errorAt(text, max(pe.Cursorpos-1, 0), "%s", pe.Message)
		}
		return nil, &Error{Msg: err.Error()}
	}
	stmts := make([]Statement, 0, len(res.Stmts))
	for _, raw := range res.Stmts {
		start := int(raw.StmtLocation)
		end := len(text)
		if raw.StmtLen > 0 {
			end = start + int(raw.StmtLen)
		}
		stmts = append(stmts, Statement{Node: raw.Stmt, Text: text, Start: start, End: end})
	}
	return stmts, nil
}

// parseSafely calls the parser, turning a panic of the cgo boundary into an
// error: bad input must never take the process down.
func parseSafely(text string) (res *pg.ParseResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parser failed: %v", r)
		}
	}()
	return pg.Parse(text)
}
