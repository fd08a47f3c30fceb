package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/weirdata/weir/query"
)

// defaultWorkspace is $WEIR_WORKSPACE, else ~/.weir.
func defaultWorkspace() (string, error) {
	if ws := os.Getenv("WEIR_WORKSPACE"); ws != "" {
		return ws, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no workspace: set --workspace or WEIR_WORKSPACE (%w)", err)
	}
	return filepath.Join(home, ".weir"), nil
}

// openEngine opens the SQL engine of a workspace: its catalog under
// catalog/, and the table providers.
func openEngine(_ context.Context, workspace string) (*query.Engine, error) {
	if workspace == "" {
		var err error
		if workspace, err = defaultWorkspace(); err != nil {
			return nil, err
		}
	}
	cat, err := query.OpenCatalog(filepath.Join(workspace, "catalog"))
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", workspace, err)
	}
	return query.NewEngine(cat), nil
}
