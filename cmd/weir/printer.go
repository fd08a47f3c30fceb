package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
)

// printer writes statement results for "weir query". A backfill prints each
// statement's final rows (its changelog folded); a live run prints the
// changelog as it arrives, each row with its op (+ insert, - retract).
type printer struct {
	w      *bufio.Writer
	format string
	live   bool

	schema *arrow.Schema
	// table format, backfill: rows kept until Done to align columns.
	rows [][]string
	ops  []string
	csv  *csv.Writer
}

var _ query.Sink = (*printer)(nil)

func newPrinter(w io.Writer, format string, live bool) *printer {
	return &printer{w: bufio.NewWriter(w), format: format, live: live}
}

func (p *printer) Schema(_ int, s *arrow.Schema) error {
	p.schema, p.rows, p.ops = s, nil, nil
	switch p.format {
	case "csv":
		p.csv = csv.NewWriter(p.w)
		header := fieldNames(s)
		if p.live {
			header = append([]string{"op"}, header...)
		}
		return p.csv.Write(header)
	case "table":
		if p.live {
			return p.writeLine(append([]string{"op"}, fieldNames(s)...), nil)
		}
	}
	return nil
}

func fieldNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

func (p *printer) Rows(_ int, b dataflow.Batch) error {
	for r := 0; r < b.Len(); r++ {
		op := b.Op(r).String()
		switch p.format {
		case "jsonl":
			obj := make(map[string]any, b.Rec.NumCols()+1)
			if p.live {
				obj["op"] = op
			}
			for c := 0; c < int(b.Rec.NumCols()); c++ {
				obj[p.schema.Field(c).Name] = query.JSONValue(b.Rec.Column(c), r)
			}
			line, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			if _, err := p.w.Write(append(line, '\n')); err != nil {
				return err
			}
		case "csv":
			rec := cells(b.Rec, r)
			if p.live {
				rec = append([]string{op}, rec...)
			}
			if err := p.csv.Write(rec); err != nil {
				return err
			}
		default:
			if p.live {
				if err := p.writeLine(append([]string{op}, cells(b.Rec, r)...), nil); err != nil {
					return err
				}
				continue
			}
			p.rows, p.ops = append(p.rows, cells(b.Rec, r)), append(p.ops, op)
		}
	}
	if p.live {
		if p.csv != nil {
			p.csv.Flush()
		}
		return p.w.Flush()
	}
	return nil
}

func (p *printer) Progress(int, query.Progress) error { return nil }

func (p *printer) Done(_ int, d query.Done) error {
	if d.Message != "" {
		_, err := fmt.Fprintln(p.w, d.Message)
		return err
	}
	if p.csv != nil {
		p.csv.Flush()
		p.csv = nil
	}
	if p.format == "table" && !p.live {
		rows := fold(p.rows, p.ops)
		if err := p.table(fieldNames(p.schema), rows); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(p.w, "(%d row%s)\n", len(rows), plural(len(rows))); err != nil {
			return err
		}
	}
	return p.w.Flush()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (p *printer) flush() error {
	if p.csv != nil {
		p.csv.Flush()
	}
	return p.w.Flush()
}

// fold applies retractions: each "-" removes one earlier equal "+" row.
func fold(rows [][]string, ops []string) [][]string {
	live := make([]bool, len(rows))
	byKey := map[string][]int{}
	for i, r := range rows {
		k := strings.Join(r, "\x00")
		if ops[i] == "-" {
			if idx := byKey[k]; len(idx) > 0 {
				live[idx[len(idx)-1]] = false
				byKey[k] = idx[:len(idx)-1]
			}
			continue
		}
		live[i] = true
		byKey[k] = append(byKey[k], i)
	}
	var out [][]string
	for i, r := range rows {
		if live[i] {
			out = append(out, r)
		}
	}
	return out
}

// table prints rows aligned under a header, as psql does.
func (p *printer) table(header []string, rows [][]string) error {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	if err := p.writeLine(header, widths); err != nil {
		return err
	}
	seps := make([]string, len(widths))
	for i, w := range widths {
		seps[i] = strings.Repeat("-", w)
	}
	if _, err := fmt.Fprintln(p.w, strings.Join(seps, "-+-")); err != nil {
		return err
	}
	for _, r := range rows {
		if err := p.writeLine(r, widths); err != nil {
			return err
		}
	}
	return nil
}

func (p *printer) writeLine(cells []string, widths []int) error {
	parts := make([]string, len(cells))
	for i, c := range cells {
		if widths != nil {
			c += strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
		}
		parts[i] = c
	}
	_, err := fmt.Fprintln(p.w, strings.TrimRight(strings.Join(parts, " | "), " "))
	return err
}

// cells renders row r as text: the JSON rendering of each value (so the
// command line and the websocket agree), NULL as an empty cell.
func cells(rec arrow.RecordBatch, r int) []string {
	out := make([]string, rec.NumCols())
	for c := range out {
		switch v := query.JSONValue(rec.Column(c), r).(type) {
		case nil:
		case string:
			out[c] = v
		default:
			out[c] = fmt.Sprint(v)
		}
	}
	return out
}
