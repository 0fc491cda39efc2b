//go:build race

package main

// raceEnabled skips the whole-corpus accuracy test under the race detector,
// where scanning 5678 records takes longer than the test timeout.
const raceEnabled = true
