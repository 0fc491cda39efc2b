package llm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var jsonSeeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e+3`, `-12.25E-2`, `"x"`, ` {"a" : [1, 2 ,{"b":null}] } `,
	`{"a":1,"a":2}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `tru`, `truex`, `nul`, `{"a"}`, `{"a":}`, `{1:2}`,
	`"\u00e9\ud83d\ude00\ud800\udc00x\ud800\u0041\udc00"`, `"\/\b\f\n\r\t\"\\"`, `"\x"`, `"\u12"`, "\"a\x01\"", "\"\xff\xfe\"",
	"\"\xed\xa0\x80\"", `{"\u0061":1,"a":2}`, `{"é":1,"\u00e9":2}`, "{\"\xff\":1,\"\xfe\":2}", `[[[[[[]]]]]]`, `{} {}`, `1 2`,
	"\ufeff{}", "{\"a\":\"b\"}\n", `[1,2,3`, `"abc`, `{"a":"b"`, "", " ", `{"a":[{"b":{"c":[true,false,null,-1.0e10]}}]}`,
	`"\u002"`, `"\uD834\uDD1E"`, `"\uDD1E\uD834"`, `"\ud800\u"`, `[01]`, `[-01]`, `[1e5,1E+5,1e-5]`, `{"k":-}`,
}

// FuzzParseJSONMatchesTokens checks the single-pass parser against the
// encoding/json token stream it replaces: the same documents accepted,
// with the same trees.
func FuzzParseJSONMatchesTokens(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)))
	f.Add([]byte(strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)))
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := parseFast(data)
		want, err := parseJSONTokens(data)
		if ok != (err == nil) {
			t.Fatalf("single-pass parser accepts: %v, token decoder: %v\n%q", ok, err, data)
		}
		if ok && !reflect.DeepEqual(fast, want) {
			t.Fatalf("trees differ for %q", data)
		}
	})
}

func TestParseJSONDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := parseJSON([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	if _, err := parseJSON([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper than 64 levels") {
		t.Fatalf("got %v", err)
	}
}
