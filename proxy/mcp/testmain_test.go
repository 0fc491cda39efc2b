package mcp

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them (a
// connection's reader, a stderr logger, a supervisor).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
