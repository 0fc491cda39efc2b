// Package nodepkg gives tests real Node.js components (MCP servers and
// SDKs, an SMTP server) installed from the npm registry at exact versions,
// once per directory and process. Without node or npm, or when the
// registry cannot be reached, the calling test is skipped — or failed when
// the environment variable CI is "true", so CI never passes by skipping.
package nodepkg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package is an npm package pinned to an exact version.
type Package struct{ Name, Version string }

type install struct {
	once sync.Once
	err  error
}

var installs sync.Map // directory → *install

// Dir returns a directory whose node_modules holds pkgs at exactly their
// versions, installing what is missing with npm. The directory is $env when
// set, else $TMPDIR/<name>; it is reused across runs.
func Dir(t testing.TB, env, name string, pkgs ...Package) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), name)
	}
	v, _ := installs.LoadOrStore(dir, &install{})
	in := v.(*install)
	in.once.Do(func() { in.err = Install(dir, pkgs...) })
	if in.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node packages unavailable: %v", in.err)
		}
		t.Skipf("skipping: node packages unavailable: %v", in.err)
	}
	return dir
}

// Install installs into dir the packages whose installed version differs
// from the pinned one.
func Install(dir string, pkgs ...Package) error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not installed")
	}
	var missing []string
	for _, p := range pkgs {
		if Version(dir, p.Name) != p.Version {
			missing = append(missing, p.Name+"@"+p.Version)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("npm is not installed")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := append([]string{"install", "--prefix", dir, "--no-audit", "--no-fund", "--save-exact"}, missing...)
	if out, err := exec.CommandContext(ctx, npm, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("npm install %s (registry unreachable?): %w\n%s", strings.Join(missing, " "), err, out)
	}
	for _, p := range pkgs {
		if v := Version(dir, p.Name); v != p.Version {
			return fmt.Errorf("npm installed %s version %q, want %s", p.Name, v, p.Version)
		}
	}
	return nil
}

// Version is the version of package name installed in dir ("" if none).
func Version(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(name), "package.json"))
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Version
}
