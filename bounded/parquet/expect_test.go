package parquet

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestExpectedCSV compares the files of parquet-testing that come with an
// *_expect.csv with it, value by value. A bare empty field is NULL; quoted
// fields are strings.
func TestExpectedCSV(t *testing.T) {
	csvs, _ := filepath.Glob(filepath.Join(testingDir, "data", "*_expect.csv"))
	if len(csvs) == 0 {
		t.Skip("no *_expect.csv files")
	}
	for _, csvPath := range csvs {
		name := strings.TrimSuffix(filepath.Base(csvPath), "_expect.csv") + ".parquet"
		t.Run(name, func(t *testing.T) {
			header, rows := readExpectCSV(t, csvPath)
			st, _ := loadDir(t, filepath.Join(testingDir, "data"), name)
			src, err := New(context.Background(), st, st.infos(t, name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := readSource(t, src)
			if err != nil {
				t.Fatal(err)
			}
			fields := src.Schema().Fields()
			if len(fields) != len(header) {
				t.Fatalf("%d columns, the CSV has %d", len(fields), len(header))
			}
			for c, f := range fields {
				got := columnValues(t, recs, f.Name)
				if len(got) != len(rows) {
					t.Fatalf("column %q: %d rows, the CSV has %d", f.Name, len(got), len(rows))
				}
				for i, row := range rows {
					want := row[c]
					if u, err := strconv.Unquote(want); err == nil && !strings.HasPrefix(got[i], `"`) {
						want = u // a number in quotes
					}
					if got[i] != want {
						t.Fatalf("column %q row %d: got %s, want %s", f.Name, i, got[i], want)
					}
				}
			}
		})
	}
}

// readExpectCSV parses a CSV file, rendering each field as render does: a
// bare empty field is NULL, a quoted one a Go-quoted string, anything else
// as it stands.
func readExpectCSV(t *testing.T, path string) (header []string, rows [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		var fields []string
		for len(line) >= 0 {
			if strings.HasPrefix(line, `"`) {
				var b strings.Builder
				i := 1
				for i < len(line) {
					if line[i] == '"' {
						if i+1 < len(line) && line[i+1] == '"' {
							b.WriteByte('"')
							i += 2
							continue
						}
						break
					}
					b.WriteByte(line[i])
					i++
				}
				fields = append(fields, strconv.Quote(b.String()))
				line = line[min(i+1, len(line)):]
			} else {
				j := strings.IndexByte(line, ',')
				if j < 0 {
					j = len(line)
				}
				v := line[:j]
				if v == "" {
					v = "NULL"
				}
				fields = append(fields, v)
				line = line[j:]
			}
			if !strings.HasPrefix(line, ",") {
				break
			}
			line = line[1:]
		}
		if first {
			header, first = fields, false
			continue
		}
		rows = append(rows, fields)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return header, rows
}
