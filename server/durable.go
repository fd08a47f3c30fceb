package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/weirdata/weir/dataflow"
	"github.com/weirdata/weir/query"
	"github.com/weirdata/weir/storage"
)

// Durable jobs (docs/api.md, "Durable jobs").
//
// A live run that asks to be durable, and every live INSERT INTO, runs as a
// query.Durable job: it checkpoints to WORKSPACE/checkpoints/NAME/ and
// keeps running when its viewers leave. The server records it as
//
//	WORKSPACE/jobs/NAME.json   {"name","sql","mode","from","to","created"}
//
// written atomically before the job starts, and starts every recorded job
// again when it starts (RestoreJobs); query.Durable resumes each from its
// latest checkpoint. The record goes when the job is forgotten: DELETE
// /api/jobs/{id}, a run to its end (a bounded live source), or a new job
// that fails before it produced anything (its SQL cannot run: kept, it
// would fail at every start). A shutdown keeps it, and so does a restored
// job that fails: it is listed failed, with its error, at every start
// until it is deleted.
//
// The records are kept apart from the checkpoints (rather than reading
// the job.json query.Durable writes next to them) because a record exists
// from the moment the job is asked for, before its query is compiled, and
// a job that never checkpointed must be restored too.

// jobRecordsPrefix is where the records live in the workspace.
const jobRecordsPrefix = "jobs/"

// jobRecord is WORKSPACE/jobs/NAME.json.
type jobRecord struct {
	Name    string    `json:"name"`
	SQL     string    `json:"sql"`
	Mode    string    `json:"mode"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	Created time.Time `json:"created"`
}

// durableStores are the workspace's durable-job records, checkpoints and
// savepoints: blob stores under prefixes of the workspace's object store
// (storage.Checkpoints is that: Put is atomic, List sorted), laid out as
// weir query --job lays them out, and the lock files they share with it.
type durableStores struct {
	records     dataflow.CheckpointStore
	checkpoints dataflow.CheckpointStore
	savepoints  dataflow.CheckpointStore
	// locks keeps a job from running twice at once, also in two processes
	// (a weir query --job NAME, a second weir serve on the workspace).
	locks query.JobLocker
}

// savepointsPrefix is where durable jobs' savepoints go, as with weir query.
const savepointsPrefix = "savepoints/"

func openDurableStores(workspace string) (*durableStores, error) {
	local, err := storage.NewLocal(workspace)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", workspace, err)
	}
	return &durableStores{records: storage.NewCheckpoints(local, jobRecordsPrefix), checkpoints: storage.NewCheckpoints(local, ""),
		savepoints: storage.NewCheckpoints(local, savepointsPrefix), locks: query.FileLocker{Dir: filepath.Join(workspace, "locks")}}, nil
}

func (d *durableStores) put(ctx context.Context, r jobRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := d.records.Put(ctx, r.Name+".json", append(b, '\n')); err != nil {
		return fmt.Errorf("durable job %q: record it in %s: %w", r.Name, d.records, err)
	}
	return nil
}

// forget removes a job's record, then its checkpoints (query.Durable's
// job.json first, as its own discard does, so that an interrupted forget
// leaves checkpoints that nothing restores blindly).
func (d *durableStores) forget(ctx context.Context, name string) error {
	if err := d.records.Delete(ctx, name+".json"); err != nil {
		return fmt.Errorf("durable job %q: forget its record: %w", name, err)
	}
	names, err := d.checkpoints.List(ctx, name+"/")
	if err != nil {
		return fmt.Errorf("durable job %q: forget its checkpoints: %w", name, err)
	}
	for _, first := range []bool{true, false} {
		for _, n := range names {
			if (n == name+"/job.json") != first {
				continue
			}
			if err := d.checkpoints.Delete(ctx, n); err != nil {
				return fmt.Errorf("durable job %q: forget its checkpoints: %w", name, err)
			}
		}
	}
	return nil
}

// recorded reads every record. A record that cannot be read is returned
// with its error (and the name its file gives it).
func (d *durableStores) recorded(ctx context.Context) ([]jobRecord, []error, error) {
	names, err := d.records.List(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("durable jobs in %s: %w", d.records, err)
	}
	var recs []jobRecord
	var errs []error
	for _, n := range names {
		name, ok := strings.CutSuffix(n, ".json")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		recs = append(recs, jobRecord{Name: name})
		errs = append(errs, nil)
		i := len(recs) - 1
		raw, err := d.records.Get(ctx, n)
		if err != nil {
			errs[i] = fmt.Errorf("durable job %q: %w", name, err)
			continue
		}
		var r jobRecord
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			errs[i] = fmt.Errorf("durable job %q: unreadable record %s%s: %w", name, d.records, n, err)
			continue
		}
		if r.Name != name || r.SQL == "" {
			errs[i] = fmt.Errorf("durable job %q: record %s%s names job %q with sql %q", name, d.records, n, r.Name, truncate(r.SQL, 40))
			continue
		}
		recs[i] = r
	}
	return recs, errs, nil
}

// defaultJobName names a durable job that its run did not name: the same
// SQL from the same time is the same job, across restarts and viewers.
func defaultJobName(sql, from string) string {
	h := sha256.Sum256([]byte(strings.Join(strings.Fields(sql), " ") + "\x00" + from))
	return "live-" + hex.EncodeToString(h[:6])
}

// durableSpec is what a run asks of a durable job.
type durableSpec struct {
	name     string
	restored bool
	created  time.Time
}

// checkDurableRun refuses what cannot run as a durable server job before
// anything is recorded: no workspace, a backfill, a script of several
// statements, a statement other than SELECT and INSERT, a bad name.
func (s *Server) checkDurableRun(sql string, opts query.RunOptions, name string) error {
	if s.durable == nil {
		return errors.New("durable runs need a workspace: this server has none (weir serve --workspace)")
	}
	if opts.Mode != query.Live {
		return errors.New("a durable run is a live run (mode live): a backfill ends by itself")
	}
	if name != "" {
		if err := query.CheckJobName(name); err != nil {
			return err
		}
	}
	stmts, err := query.Parse(sql)
	if err != nil {
		return err
	}
	if len(stmts) != 1 {
		return fmt.Errorf("a durable job runs one statement; the cell has %d", len(stmts))
	}
	if n := stmts[0].Node; n == nil || (n.GetSelectStmt() == nil && n.GetInsertStmt() == nil) {
		return errors.New("a durable job runs a SELECT or an INSERT INTO")
	}
	return nil
}

// isInsert reports whether sql is one INSERT statement: a live INSERT is
// always durable, since its exactly-once output commits on checkpoints.
func isInsert(sql string) bool {
	stmts, err := query.Parse(sql)
	return err == nil && len(stmts) == 1 && stmts[0].Node != nil && stmts[0].Node.GetInsertStmt() != nil
}

// RestoreJobs starts every durable job recorded in the workspace again;
// each resumes from its latest checkpoint. A job that cannot be restored
// (an unreadable record; its SQL no longer runs, say its table was
// dropped) is listed by /api/jobs as failed with its error, and its record
// is kept until DELETE /api/jobs/{id} forgets it. RestoreJobs returns how
// many jobs it started, and an error only when the records cannot be
// listed. Call it once, before or while serving.
func (s *Server) RestoreJobs(ctx context.Context) (int, error) {
	if s.durable == nil {
		return 0, nil
	}
	recs, errs, err := s.durable.recorded(ctx)
	if err != nil {
		return 0, err
	}
	started := 0
	for i, rec := range recs {
		if errs[i] != nil {
			s.log.Warn("durable job not restored", "name", rec.Name, "error", errs[i].Error())
			s.jobs.failedRestore(rec, errs[i])
			continue
		}
		opts, err := s.runOptions(rec.Mode, rec.From, rec.To)
		if err == nil && opts.Mode != query.Live {
			err = fmt.Errorf("mode %q: a durable job is live", rec.Mode)
		}
		if err != nil {
			err = fmt.Errorf("durable job %q: %w", rec.Name, err)
			s.log.Warn("durable job not restored", "name", rec.Name, "error", err.Error())
			s.jobs.failedRestore(rec, err)
			continue
		}
		j, err := s.jobs.startDurable(nil, rec.SQL, opts, rec.Mode, rec.From, rec.To, durableSpec{name: rec.Name, restored: true, created: rec.Created})
		if err != nil {
			s.log.Warn("durable job not restored", "name", rec.Name, "error", err.Error())
			s.jobs.failedRestore(rec, err)
			continue
		}
		s.log.Info("restoring durable job", "name", rec.Name, "job", j.id, "sql", truncate(rec.SQL, 200))
		started++
	}
	return started, nil
}
