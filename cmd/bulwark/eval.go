package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// corpusRecord is one row of a labelled evaluation corpus.
type corpusRecord struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Label    string `json:"label"`
	Category string `json:"category"`
	Context  string `json:"context"`
	Source   string `json:"source"`
}

// readCorpus reads JSONL records; blank lines are skipped and a bad line is
// an error naming its line number.
func readCorpus(path string) ([]corpusRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []corpusRecord
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var r corpusRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if r.Label != "attack" && r.Label != "benign" {
			return nil, fmt.Errorf("%s:%d: label must be attack or benign, got %q", path, line, r.Label)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}
