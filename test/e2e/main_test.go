// Package e2e holds end-to-end tests that build the real bulwark binary
// once and run it as a subprocess against real components: a temporary data
// directory (SQLite), a fresh PostgreSQL database when
// BULWARK_TEST_POSTGRES_URL is set, real TCP listeners, TLS and signals.
//
// Set BULWARK_E2E_RACE=1 to build the binary with the race detector too
// (slow the first time: every dependency is rebuilt with -race).
package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bin is the path of the bulwark binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	tmp, err := os.MkdirTemp("", "bulwark-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bin = filepath.Join(tmp, "bulwark")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	args := []string{"build", "-o", bin}
	if os.Getenv("BULWARK_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/bulwark")
	start := time.Now()
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %s: %v\n%s", strings.Join(args, " "), err, out.String())
		return 1
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", bin, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// moduleRoot walks up from the working directory (the package directory
// under go test) to the directory holding this module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/bulwarkhq/bulwark\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root of github.com/bulwarkhq/bulwark not found above the working directory")
		}
		dir = parent
	}
}

// baseEnv is the test process environment without any BULWARK_* variable,
// so a developer's own configuration cannot leak into a test, plus extra.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULWARK_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// newDataDir returns a data directory path that does not exist yet, so the
// test sees bulwark create it.
func newDataDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "data")
}
