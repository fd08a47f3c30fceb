// Package archtest checks that weir's packages import each other only in the
// directions ARCHITECTURE.md allows.
//
// The rules are a table in code (rules) and the same table in ARCHITECTURE.md;
// a test keeps the two equal, so the document cannot drift from what is
// enforced. Only production imports are checked: _test.go files may import
// anything, so that end-to-end tests can sit next to the code they exercise.
// The alternative, a linter rule (depguard), was rejected because it lists
// denials per file glob; an allow-list keyed by package reads like the
// architecture and fails for a package nobody has placed yet.
package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// rules maps a package path prefix, relative to the module root, to the
// prefixes its packages may import. A package may always import itself and
// the packages below it. The longest matching prefix applies; a package that
// no prefix matches is an error, so a new top-level directory has to be
// placed in ARCHITECTURE.md first. Prefixes match whole path elements:
// "dataflow" matches "dataflow" and "dataflow/exchange", not "dataflowx".
var rules = map[string][]string{
	"cmd":       {"server", "query", "dataflow", "watermark", "bounded", "unbounded", "storage", "notebooks", "ui", "bench", "internal"},
	"server":    {"query", "dataflow", "watermark", "bounded", "unbounded", "storage", "notebooks", "ui", "internal"},
	"bench":     {"query", "dataflow", "watermark", "bounded", "unbounded", "storage", "internal"},
	"query":     {"dataflow", "watermark", "bounded", "unbounded", "storage", "internal"},
	"notebooks": {"storage", "internal"},
	"ui":        {"internal"},
	"bounded":   {"dataflow", "watermark", "storage", "internal"},
	"unbounded": {"dataflow", "watermark", "storage", "internal"},
	"storage":   {"dataflow", "watermark", "internal"},
	"dataflow":  {"watermark", "internal"},
	"watermark": {"internal"},
	"internal":  {},
}

// listedPackage holds the fields of "go list -json" that the check reads.
type listedPackage struct {
	ImportPath string
	Imports    []string
}

// TestImports runs "go list" over the whole module and checks every package's
// direct imports of other weir packages against rules.
func TestImports(t *testing.T) {
	root := moduleRoot(t)
	modPath := strings.TrimSpace(goCmd(t, root, "list", "-m"))
	// -e: a package that does not build is the compiler's business; its
	// imports are still listed and still checked here.
	out := goCmd(t, root, "list", "-e", "-json=ImportPath,Imports", "./...")
	pkgs, err := decodePackages(strings.NewReader(out))
	if err != nil {
		t.Fatalf("decoding go list output: %v", err)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	for _, v := range check(modPath, rules, pkgs) {
		t.Error(v)
	}
}

// TestRulesMatchArchitectureDoc keeps rules and the table in ARCHITECTURE.md
// equal.
func TestRulesMatchArchitectureDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(moduleRoot(t), "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseDocTable(doc)
	if err != nil {
		t.Fatalf("ARCHITECTURE.md: %v", err)
	}
	want := normalize(rules)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the import table in ARCHITECTURE.md differs from rules in archtest_test.go\ndoc:   %v\nrules: %v", got, want)
	}
}

// TestCheck shows that check finds violations: it is the reason TestImports
// can fail.
func TestCheck(t *testing.T) {
	const mod = "example.com/weir"
	p := func(path string, imports ...string) listedPackage {
		return listedPackage{ImportPath: path, Imports: imports}
	}
	tests := []struct {
		name string
		pkgs []listedPackage
		want []string
	}{
		{
			name: "allowed imports",
			pkgs: []listedPackage{
				p(mod+"/cmd/weir", mod+"/server", mod+"/bench", "flag"),
				p(mod+"/server", mod+"/query", mod+"/notebooks"),
				p(mod+"/query", mod+"/dataflow", mod+"/bounded/parquet"),
				p(mod+"/dataflow", mod+"/watermark", mod+"/internal/columnar", "github.com/apache/arrow-go/v18/arrow"),
				p(mod+"/dataflow/exchange", mod+"/dataflow"),
				p(mod+"/bounded/parquet", mod+"/storage", mod+"/dataflow"),
				p(mod+"/watermark", mod+"/internal/columnar"),
				p(mod+"/internal/columnar", mod+"/internal/bits"),
			},
			want: nil,
		},
		{
			name: "dataflow imports query",
			pkgs: []listedPackage{p(mod+"/dataflow", mod+"/watermark", mod+"/query")},
			want: []string{mod + "/dataflow imports " + mod + "/query: dataflow may import only dataflow, watermark, internal"},
		},
		{
			name: "dataflow subpackage imports a concrete source",
			pkgs: []listedPackage{p(mod+"/dataflow/runtime", mod+"/unbounded/nexmark")},
			want: []string{mod + "/dataflow/runtime imports " + mod + "/unbounded/nexmark: dataflow may import only dataflow, watermark, internal"},
		},
		{
			name: "watermark imports dataflow",
			pkgs: []listedPackage{p(mod+"/watermark", mod+"/dataflow")},
			want: []string{mod + "/watermark imports " + mod + "/dataflow: watermark may import only watermark, internal"},
		},
		{
			name: "internal imports outside internal",
			pkgs: []listedPackage{p(mod+"/internal/columnar", mod+"/storage")},
			want: []string{mod + "/internal/columnar imports " + mod + "/storage: internal may import only internal"},
		},
		{
			name: "prefix matches whole path elements",
			pkgs: []listedPackage{p(mod+"/watermark", mod+"/internalx")},
			want: []string{mod + "/watermark imports " + mod + "/internalx: watermark may import only watermark, internal"},
		},
		{
			name: "package without a rule",
			pkgs: []listedPackage{p(mod + "/dataflowx"), p(mod)},
			want: []string{
				mod + "/dataflowx: no import rule; place it in ARCHITECTURE.md and in rules",
				mod + ": no import rule; place it in ARCHITECTURE.md and in rules",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(mod, rules, tt.pkgs)
			if !slices.Equal(got, tt.want) {
				t.Errorf("check() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestParseDocTable(t *testing.T) {
	doc := "intro\n" + docBegin + "\n| package | may import |\n| --- | --- |\n" +
		"| `dataflow/` | `watermark/`, `internal/` |\n| `internal/` | nothing else |\n" + docEnd + "\n"
	got, err := parseDocTable([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"dataflow": {"internal", "watermark"}, "internal": {}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseDocTable() = %v, want %v", got, want)
	}
	if _, err := parseDocTable([]byte("no table here")); err == nil {
		t.Error("parseDocTable without markers: want an error")
	}
}

// check returns one message per import that rules forbid, in the order of
// pkgs and their imports. Imports from outside the module are ignored.
func check(modPath string, rules map[string][]string, pkgs []listedPackage) []string {
	var violations []string
	for _, pkg := range pkgs {
		rel, ok := relPath(modPath, pkg.ImportPath)
		if !ok {
			continue
		}
		prefix, found := ruleFor(rules, rel)
		if !found {
			violations = append(violations, fmt.Sprintf("%s: no import rule; place it in ARCHITECTURE.md and in rules", pkg.ImportPath))
			continue
		}
		allowed := append([]string{prefix}, rules[prefix]...)
		for _, imp := range pkg.Imports {
			irel, ok := relPath(modPath, imp)
			if !ok {
				continue
			}
			if !slices.ContainsFunc(allowed, func(a string) bool { return under(irel, a) }) {
				violations = append(violations, fmt.Sprintf("%s imports %s: %s may import only %s",
					pkg.ImportPath, imp, prefix, strings.Join(allowed, ", ")))
			}
		}
	}
	return violations
}

// relPath returns importPath relative to the module, with "" for the module
// root, and false for a package outside the module.
func relPath(modPath, importPath string) (string, bool) {
	if importPath == modPath {
		return "", true
	}
	rel, ok := strings.CutPrefix(importPath, modPath+"/")
	return rel, ok
}

// ruleFor returns the longest prefix in rules that rel is under.
func ruleFor(rules map[string][]string, rel string) (string, bool) {
	best, found := "", false
	for prefix := range rules {
		if under(rel, prefix) && (!found || len(prefix) > len(best)) {
			best, found = prefix, true
		}
	}
	return best, found
}

// under reports whether path is prefix or below it, by whole path elements.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func decodePackages(r io.Reader) ([]listedPackage, error) {
	var pkgs []listedPackage
	dec := json.NewDecoder(r)
	for {
		var p listedPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			return pkgs, nil
		}
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

// The import table in ARCHITECTURE.md sits between these markers.
const (
	docBegin = "<!-- archtest:begin -->"
	docEnd   = "<!-- archtest:end -->"
)

// parseDocTable reads the Markdown table between docBegin and docEnd: each
// row names a package in its first cell and the packages it may import in its
// second, each in backquotes ("`dataflow/`"); trailing slashes are dropped.
func parseDocTable(doc []byte) (map[string][]string, error) {
	_, rest, ok := bytes.Cut(doc, []byte(docBegin))
	if !ok {
		return nil, fmt.Errorf("marker %s not found", docBegin)
	}
	table, _, ok := bytes.Cut(rest, []byte(docEnd))
	if !ok {
		return nil, fmt.Errorf("marker %s not found", docEnd)
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		cells := strings.Split(strings.TrimSpace(sc.Text()), "|")
		if len(cells) < 4 { // "", package, may import, ...
			continue
		}
		names := backquoted(cells[1])
		if len(names) != 1 {
			continue // header and separator rows
		}
		if _, dup := got[names[0]]; dup {
			return nil, fmt.Errorf("package %s listed twice", names[0])
		}
		imports := backquoted(cells[2])
		sort.Strings(imports)
		got[names[0]] = imports
	}
	if len(got) == 0 {
		return nil, errors.New("no rows in the import table")
	}
	return got, sc.Err()
}

// backquoted returns the `quoted` words of s without trailing slashes.
func backquoted(s string) []string {
	parts := strings.Split(s, "`")
	names := []string{}
	for i := 1; i < len(parts); i += 2 {
		names = append(names, strings.TrimSuffix(parts[i], "/"))
	}
	return names
}

func normalize(rules map[string][]string) map[string][]string {
	out := make(map[string][]string, len(rules))
	for k, v := range rules {
		v = slices.Clone(v)
		sort.Strings(v)
		if v == nil {
			v = []string{}
		}
		out[k] = v
	}
	return out
}

// moduleRoot returns the directory of the main module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	gomod := strings.TrimSpace(goCmd(t, ".", "env", "GOMOD"))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q: not inside a module", gomod)
	}
	return filepath.Dir(gomod)
}

// goCmd runs the go command in dir and returns its standard output.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, &stderr)
	}
	return string(out)
}
