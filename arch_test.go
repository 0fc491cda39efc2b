package bulwark_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/bulwarkhq/bulwark"

type pkg struct {
	ImportPath string
	Name       string
	Imports    []string
	Deps       []string
}

// TestArchitecture enforces the package edges of ARCHITECTURE.md, so the
// layering does not erode one convenient import at a time.
func TestArchitecture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	rel := func(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }
	under := func(p, dir string) bool { r := rel(p); return r == dir || strings.HasPrefix(r, dir+"/") }
	internal := func(path string) bool { return strings.HasPrefix(path, module) }
	stdlib := func(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

	for _, p := range pkgs {
		if p.Name == "util" || p.Name == "utils" || p.Name == "common" || p.Name == "helpers" {
			t.Errorf("%s: no package named %s; name packages for what they own", p.ImportPath, p.Name)
		}
		switch {
		case p.ImportPath == module:
			for _, imp := range p.Imports {
				if !stdlib(imp) {
					t.Errorf("root package imports %s; it may import the standard library only", imp)
				}
			}
		case under(p.ImportPath, "detect") || under(p.ImportPath, "inspect"):
			for _, d := range p.Deps {
				if d == "net/http" || under(d, "store") && internal(d) {
					t.Errorf("%s depends on %s; detection and inspection stay free of HTTP and storage", p.ImportPath, d)
				}
			}
		case under(p.ImportPath, "events/sink"):
			for _, imp := range p.Imports {
				if internal(imp) && imp != module && imp != module+"/events" && imp != module+"/events/sink/wire" && imp != module+"/events/sink/format" && imp != module+"/events/sink/cef" {
					t.Errorf("%s imports %s; sinks may import only events, events/sink/wire, events/sink/format, events/sink/cef and the root package", p.ImportPath, imp)
				}
			}
		}
		if under(p.ImportPath, "api") {
			for _, imp := range p.Imports {
				if under(imp, "store") && internal(imp) {
					t.Errorf("%s imports %s; the API reaches storage through its own interfaces", p.ImportPath, imp)
				}
			}
		}
		if !under(p.ImportPath, "cmd") && !strings.Contains(p.ImportPath, "/test/") && !strings.HasSuffix(p.ImportPath, "test") {
			for _, imp := range p.Imports {
				if under(imp, "cmd") && internal(imp) {
					t.Errorf("%s imports the command package %s", p.ImportPath, imp)
				}
			}
		}
	}
}
