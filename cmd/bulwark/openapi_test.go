package main

import (
	"bytes"
	"os"
	"testing"
)

// docs/openapi.json is the published API description; it must match the code.
func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	want, err := openAPIDocument()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/openapi.json is stale: run `make generate` and commit the result")
	}
}
