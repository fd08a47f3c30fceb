package notebooks

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Dir is the workspace directory that holds the notebooks.
const Dir = "notebooks"

// MaxFileBytes bounds a notebook file that Get reads (a larger one is
// refused rather than read into memory).
const MaxFileBytes = 16 << 20

var (
	// ErrNotFound is returned for a notebook that does not exist.
	ErrNotFound = errors.New("notebook not found")
	// ErrBadName is returned for a name that is not a notebook name.
	ErrBadName = errors.New("bad notebook name")
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName checks a notebook name: lower-case letters, digits, '_' and
// '-', at most 64, not starting with '_' or '-'. So a name is always one
// plain file name: "../x", "a/b" and ".hidden" are refused.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit", ErrBadName, name)
	}
	return nil
}

// Info describes a stored notebook in a listing.
type Info struct {
	Name     string `json:"name"`
	Title    string `json:"title"`
	Modified string `json:"modified"`
	// Error is set when the file cannot be read as a notebook.
	Error string `json:"error,omitempty"`
}

// Store keeps notebooks as NAME.json files in one directory. Every access
// goes through an os.Root, so even a name that slipped past ValidName could
// not reach outside the directory (no "..", no symlink escapes). Writes are
// atomic: a temporary file in the same directory, synced, then renamed
// over the notebook, so a reader or a crash sees the old or the new file,
// never half of one.
type Store struct {
	dir  string
	root *os.Root
	mu   sync.Mutex // serializes writes (Put, Delete, demos)
}

// Open opens (creating it if needed) the notebook directory of a
// workspace: WORKSPACE/notebooks.
func Open(workspace string) (*Store, error) {
	dir := filepath.Join(workspace, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("notebooks: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("notebooks: %w", err)
	}
	return &Store{dir: dir, root: root}, nil
}

// Dir returns the directory the store keeps its files in.
func (s *Store) Dir() string { return s.dir }

// Close releases the directory.
func (s *Store) Close() error { return s.root.Close() }

func fileOf(name string) string { return name + ".json" }

// List returns the stored notebooks sorted by name. A file that is not a
// valid notebook is listed with its Error set.
func (s *Store) List() ([]Info, error) {
	f, err := s.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("notebooks: %w", err)
	}
	entries, err := f.ReadDir(-1)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("notebooks: %w", err)
	}
	out := []Info{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !e.Type().IsRegular() || ValidName(name) != nil {
			continue // temporary files, the demo marker, anything else
		}
		info := Info{Name: name}
		nb, err := s.Get(name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted meanwhile
			}
			info.Error = err.Error()
			if fi, err := e.Info(); err == nil {
				info.Modified = fi.ModTime().UTC().Format(time.RFC3339)
			}
		} else {
			info.Title, info.Modified = nb.Title, nb.Modified
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get reads a notebook, with its Name and Modified filled.
func (s *Store) Get(name string) (*Notebook, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	f, err := s.root.Open(fileOf(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("notebook %q: %w", name, err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("notebook %q: %w", name, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("notebook %q: %w", name, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("notebook %q: the file is larger than %d bytes", name, MaxFileBytes)
	}
	var nb Notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		return nil, fmt.Errorf("notebook %q (%s): %w", name, filepath.Join(s.dir, fileOf(name)), err)
	}
	if nb.Cells == nil {
		nb.Cells = []Cell{}
	}
	nb.Name, nb.Modified = name, fi.ModTime().UTC().Format(time.RFC3339)
	return &nb, nil
}

// Put creates or replaces a notebook (after Normalize) and returns it as
// stored, with Name and Modified filled.
func (s *Store) Put(name string, nb *Notebook) (*Notebook, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.write(name, nb); err != nil {
		return nil, err
	}
	return s.Get(name)
}

// Delete removes a notebook.
func (s *Store) Delete(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.root.Remove(fileOf(name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("notebook %q: %w", name, err)
	}
	return nil
}

// write stores nb under name atomically; s.mu is held.
func (s *Store) write(name string, nb *Notebook) error {
	c := *nb
	c.Name, c.Modified = "", ""
	if err := c.Normalize(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("notebook %q: %w", name, err)
	}
	if len(b) > MaxFileBytes {
		return fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxFileBytes)
	}
	return s.writeFile(fileOf(name), append(b, '\n'))
}

// writeFile replaces file by data atomically (temp file, sync, rename).
func (s *Store) writeFile(file string, data []byte) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := ".tmp-" + hex.EncodeToString(rnd[:]) + "-" + file
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("notebooks: %w", err)
	}
	_, err = io.Copy(f, bytes.NewReader(data))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, file)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return fmt.Errorf("notebooks: writing %s: %w", file, err)
	}
	if d, err := s.root.Open("."); err == nil {
		_ = d.Sync() // make the rename durable; not every OS can sync a directory
		_ = d.Close()
	}
	return nil
}
