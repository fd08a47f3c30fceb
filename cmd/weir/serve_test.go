package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// weir serve refuses a checkpoint interval that is not positive before it
// touches the workspace.
func TestServeRefusesBadCheckpointInterval(t *testing.T) {
	for _, v := range []string{"0s", "-1s"} {
		var stderr bytes.Buffer
		err := runServe(context.Background(), []string{"--workspace", t.TempDir(), "--checkpoint-interval", v}, &bytes.Buffer{}, &stderr)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "--checkpoint-interval must be positive") {
			t.Errorf("--checkpoint-interval %s: %v, %q", v, err, stderr.String())
		}
	}
}

// TestServeRefusesBadStateBackend: an unknown --state-backend is a usage
// error before anything starts.
func TestServeRefusesBadStateBackend(t *testing.T) {
	var stderr bytes.Buffer
	err := runServe(context.Background(), []string{"--workspace", t.TempDir(), "--state-backend", "rocksdb"}, &bytes.Buffer{}, &stderr)
	if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "--state-backend") {
		t.Errorf("--state-backend rocksdb: %v, %q", err, stderr.String())
	}
}
