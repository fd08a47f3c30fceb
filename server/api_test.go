package server

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirdata/weir/notebooks"
)

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

func TestNotebookCRUD(t *testing.T) {
	ws := t.TempDir()
	st, err := notebooks.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	_, ts := newTestServer(t, Options{Notebooks: st})
	u := ts.URL + "/api/notebooks"
	var list notebookList
	if code := do(t, "GET", u, "", &list); code != 200 || list.Notebooks == nil || len(list.Notebooks) != 0 {
		t.Fatalf("empty list: %d %+v", code, list)
	}
	body := `{"title":"Mine","cells":[{"id":"q","kind":"sql","source":"SELECT 1","mode":"backfill","chart":{"type":"bar","x":"a","y":["b"]},"collapsed":true}]}`
	var nb map[string]any
	if code := do(t, "PUT", u+"/mine", body, &nb); code != 200 || nb["name"] != "mine" || nb["modified"] == "" {
		t.Fatalf("put: %d %v", code, nb)
	}
	if code := do(t, "GET", u+"/mine", "", &nb); code != 200 || nb["title"] != "Mine" {
		t.Fatalf("get: %d %v", code, nb)
	}
	cell := nb["cells"].([]any)[0].(map[string]any)
	if cell["collapsed"] != true || cell["chart"].(map[string]any)["type"] != "bar" {
		t.Fatalf("cell %v", cell)
	}
	if code := do(t, "GET", u, "", &list); code != 200 || len(list.Notebooks) != 1 || list.Notebooks[0].Title != "Mine" {
		t.Fatalf("list: %d %+v", code, list)
	}
	var em serverMessage
	if code := do(t, "PUT", u+"/bad", `{"cells":[{"kind":"sql","mode":"sometimes"}]}`, &em); code != 400 || em.Type != "error" || !strings.Contains(em.Message, `mode "sometimes"`) {
		t.Fatalf("invalid notebook: %d %+v", code, em)
	}
	if code := do(t, "PUT", u+"/bad", `{"cells":`, &em); code != 400 {
		t.Fatalf("malformed JSON: %d %+v", code, em)
	}
	if code := do(t, "PUT", u+"/big", `{"title":"`+strings.Repeat("x", MaxNotebookBytes)+`"}`, &em); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize notebook: %d %+v", code, em)
	}
	if code := do(t, "DELETE", u+"/mine", "", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code := do(t, "GET", u+"/mine", "", &em); code != 404 || em.Type != "error" {
		t.Fatalf("get deleted: %d %+v", code, em)
	}
	if code := do(t, "DELETE", u+"/mine", "", &em); code != 404 {
		t.Fatalf("delete twice: %d", code)
	}
}

func TestNotebookTraversalRefused(t *testing.T) {
	ws := t.TempDir()
	st, err := notebooks.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	_, ts := newTestServer(t, Options{Notebooks: st})
	if err := os.WriteFile(filepath.Join(ws, "secret.json"), []byte(`{"title":"secret","cells":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"..%2Fsecret", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", ".demos", "UPPER", "a%5Cb", "a%00b"} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			var em serverMessage
			code := do(t, method, ts.URL+"/api/notebooks/"+name, `{"title":"x","cells":[]}`, &em)
			if code != http.StatusBadRequest || !strings.Contains(em.Message, "bad notebook name") {
				t.Errorf("%s %s: %d %+v", method, name, code, em)
			}
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "secret.json")); !strings.Contains(string(b), "secret") {
		t.Fatal("a file outside the notebook directory was changed")
	}
	if _, err := os.Stat(filepath.Join(ws, "secret.json")); err != nil {
		t.Fatal(err)
	}
}

func TestAPITables(t *testing.T) {
	_, ts := newTestServer(t, Options{})
	var em serverMessage
	if code := do(t, "POST", ts.URL+"/api/query", `{"sql":"CREATE VIEW hot AS SELECT auction, price FROM bids WHERE price > 1000"}`, &em); code != 200 {
		t.Fatalf("create view: %d %+v", code, em)
	}
	var tl tableList
	if code := do(t, "GET", ts.URL+"/api/tables", "", &tl); code != 200 {
		t.Fatalf("tables: %d", code)
	}
	names := []string{}
	for _, ti := range tl.Tables {
		names = append(names, ti.Name)
	}
	if strings.Join(names, ",") != "bids,hot,live_bids" {
		t.Fatalf("tables %v", names)
	}
	bids, hot := tl.Tables[0], tl.Tables[1]
	if bids.EventTime != "date_time" || !strings.HasPrefix(bids.Live, "nexmark://bids") || bids.View || bids.Error != "" {
		t.Fatalf("bids %+v", bids)
	}
	cols := map[string]string{}
	for _, c := range bids.Columns {
		cols[c.Name] = c.Type
	}
	if cols["auction"] != "bigint" || cols["date_time"] != "timestamp" || len(bids.Columns) < 5 {
		t.Fatalf("bids columns %+v", bids.Columns)
	}
	if !hot.View || len(hot.Columns) != 2 || hot.Columns[0].Name != "auction" || !strings.Contains(hot.SQL, "price > 1000") {
		t.Fatalf("view %+v", hot)
	}
}
