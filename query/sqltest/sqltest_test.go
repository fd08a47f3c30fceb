package sqltest

import (
	"flag"
	"testing"

	"github.com/weirdata/weir/dataflow"
)

var pending = flag.Bool("sqltest.pending", false, "also run the scripts in pending/ (known bugs, features not built yet)")

// TestScripts runs the suite in testdata, every query in backfill and in
// live mode.
func TestScripts(t *testing.T) { Walk(t, "testdata") }

// TestScriptsFlushing runs the suite again with the combiners of
// local/global aggregations flushing whenever they hold more than one key,
// which must change no result.
func TestScriptsFlushing(t *testing.T) {
	old := dataflow.PartialResidentKeys
	dataflow.PartialResidentKeys = 1
	defer func() { dataflow.PartialResidentKeys = old }()
	Walk(t, "testdata")
}

// TestPending runs pending/: scripts whose expected output is right (as
// Postgres would answer) but that weir does not give yet. Each file's
// comment says why. When one passes, move it to testdata.
func TestPending(t *testing.T) {
	if !*pending {
		t.Skip("known bugs and features not built yet; run with -args -sqltest.pending")
	}
	Walk(t, "pending")
}
