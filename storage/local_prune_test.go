package storage

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestLocalCommitRacesPrune commits objects under a directory while other
// objects there are deleted, which prunes the directories it empties: a
// commit must not fail because a parent vanished between two steps of
// creating its directory (a durable INSERT stages files while its
// checkpoint commits delete others).
func TestLocalCommitRacesPrune(t *testing.T) {
	l, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("a/b/c/%d-%d", g, i)
				if err := Put(ctx, l, key, []byte("x"), CreateOptions{}); err != nil {
					t.Errorf("put %s: %v", key, err)
					return
				}
				if err := l.Delete(ctx, key); err != nil {
					t.Errorf("delete %s: %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
