package dataflow

// SetResidentKeysForTest makes every spillable group aggregate opened from
// now on spill past n keys, whatever its state backend (0: as configured),
// and returns a function that undoes it. Tests that use it must not run in
// parallel with others that open group aggregates.
func SetResidentKeysForTest(n int) (undo func()) {
	old := testHookResidentKeys
	testHookResidentKeys = n
	return func() { testHookResidentKeys = old }
}
