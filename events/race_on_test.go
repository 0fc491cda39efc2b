//go:build race

package events

// raceEnabled scales the SQLite chaos test down under the race detector,
// where the pure-Go SQLite driver is about ten times slower.
const raceEnabled = true
