package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden scans each input under testdata/golden with the test policy
// and compares the findings with the .golden file next to it.
func TestGolden(t *testing.T) {
	e := testEngine(t, Options{Classifier: fixedClassifier{0.99}})
	inputs, _ := filepath.Glob("testdata/golden/*")
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Scan(context.Background(), Input{Data: data})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(res, "", "  ")
			got = append(got, '\n')
			golden := in + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("findings differ from %s:\n%s", golden, got)
			}
			// Every span must lie inside the field text: spot-check that
			// offsets are sane for plain-text inputs.
			if strings.HasSuffix(in, ".txt") {
				for _, f := range res.Findings {
					if f.Start < 0 || f.End > len(data) || f.Start >= f.End {
						t.Errorf("%s: span %d:%d out of range", f.RuleID, f.Start, f.End)
					}
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no golden inputs")
	}
}
