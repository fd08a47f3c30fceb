package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/weirdata/weir/notebooks"
)

// MaxNotebookBytes bounds the body of PUT /api/notebooks/{name}.
const MaxNotebookBytes = 4 << 20

// notebookList is GET /api/notebooks' answer.
type notebookList struct {
	Notebooks []notebooks.Info `json:"notebooks"`
}

func (s *Server) notebookStore(w http.ResponseWriter) (*notebooks.Store, bool) {
	if s.opts.Notebooks == nil {
		writeJSON(w, http.StatusNotFound, errorMessage("", errors.New("this server keeps no notebooks (no workspace)")))
		return nil, false
	}
	return s.opts.Notebooks, true
}

// notebookError answers a store error with its status: a bad name or an
// invalid notebook is the client's (400), a missing one 404, anything else
// the server's.
func notebookError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, notebooks.ErrBadName), errors.Is(err, notebooks.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, notebooks.ErrNotFound):
		code = http.StatusNotFound
	}
	writeJSON(w, code, errorMessage("", err))
}

func (s *Server) listNotebooks(w http.ResponseWriter, _ *http.Request) {
	st, ok := s.notebookStore(w)
	if !ok {
		return
	}
	l, err := st.List()
	if err != nil {
		notebookError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, notebookList{Notebooks: l})
}

func (s *Server) getNotebook(w http.ResponseWriter, r *http.Request) {
	st, ok := s.notebookStore(w)
	if !ok {
		return
	}
	nb, err := st.Get(r.PathValue("name"))
	if err != nil {
		notebookError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nb)
}

func (s *Server) putNotebook(w http.ResponseWriter, r *http.Request) {
	st, ok := s.notebookStore(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := notebooks.ValidName(name); err != nil {
		notebookError(w, err)
		return
	}
	var nb notebooks.Notebook
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxNotebookBytes))
	if err := dec.Decode(&nb); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorMessage("", fmt.Errorf("a notebook is at most %d bytes", MaxNotebookBytes)))
			return
		}
		writeJSON(w, http.StatusBadRequest, errorMessage("", fmt.Errorf("notebook: %w", err)))
		return
	}
	if dec.More() {
		writeJSON(w, http.StatusBadRequest, errorMessage("", errors.New("notebook: more than one JSON value in the body")))
		return
	}
	saved, err := st.Put(name, &nb)
	if err != nil {
		notebookError(w, err)
		return
	}
	s.log.Info("notebook saved", "notebook", name, "cells", len(saved.Cells))
	writeJSON(w, http.StatusOK, saved)
}

func (s *Server) deleteNotebook(w http.ResponseWriter, r *http.Request) {
	st, ok := s.notebookStore(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	if err := st.Delete(name); err != nil {
		notebookError(w, err)
		return
	}
	s.log.Info("notebook deleted", "notebook", name)
	w.WriteHeader(http.StatusNoContent)
}
