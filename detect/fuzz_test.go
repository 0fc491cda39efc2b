package detect

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"plain", "ｆｕｌｌ", "ign\u200bore", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "a\U000E0041b",
		"\xff\xfe", "раypal", "e\u0301", "\u202eabc", "ﬁ", "\x1b", "\x1b["} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := normalize(s)
		if !utf8.ValidString(n.text) {
			t.Fatalf("normalised text is not valid UTF-8: %q", n.text)
		}
		if n.offs != nil && len(n.offs) != len(n.text)+1 {
			t.Fatalf("offset map length %d for %d bytes", len(n.offs), len(n.text))
		}
		prev := 0
		for i := 0; i <= len(n.text); i++ {
			o := n.orig(i)
			if o < prev || o > len(s) {
				t.Fatalf("offset %d → %d not monotonic/in range (prev %d, len %d)", i, o, prev, len(s))
			}
			prev = o
		}
		for _, ev := range n.evasions {
			if ev.start < 0 || ev.end > len(s) || ev.start >= ev.end {
				t.Fatalf("evasion span %d:%d out of range", ev.start, ev.end)
			}
		}
	})
}

func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"aGVsbG8gd29ybGQ=", "aGVsbG8", "a", "====", "-_-_", "aGVsbG8gd29ybGQ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, ok := decodeBase64(s)
		if ok && len(b) > len(s) {
			t.Fatalf("decoded %d bytes from %d", len(b), len(s))
		}
	})
}

func FuzzFindSegments(f *testing.F) {
	for _, s := range []string{
		"aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=", "69676e6f72652070726576696f7573",
		`\x69\x67\x6e\x6f\x72\x65\x20\x61\x6c\x6c`, "a%20b%20c%2F%2e%2e", "%", "%%41", `\x`, "x=====",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs := findSegments(s, 16, 32, 1<<16)
		total := 0
		for _, sg := range segs {
			if sg.start < 0 || sg.end > len(s) || sg.start >= sg.end {
				t.Fatalf("segment %d:%d out of range of %d", sg.start, sg.end, len(s))
			}
			if !utf8.ValidString(sg.decoded) {
				t.Fatalf("decoded segment is not UTF-8")
			}
			total += len(sg.decoded)
		}
		if len(segs) > 32 || total > 1<<16 {
			t.Fatalf("bounds exceeded: %d segments, %d bytes", len(segs), total)
		}
	})
}

func FuzzParsePolicy(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, _ := os.ReadFile(file)
		f.Add(data)
	}
	f.Add([]byte(`{"name":"x"}`))
	f.Add([]byte(strings.Repeat("[", 100)))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		// A policy that parses must also resolve and compile, or fail with an error.
		r := NewRegistry()
		r.Put(p)
		if rs, err := r.Resolve(p.Name); err == nil {
			_, _ = Compile(rs, Options{})
		}
	})
}

func FuzzScanJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/golden/*")
	for _, file := range files {
		if !strings.HasSuffix(file, ".golden") {
			data, _ := os.ReadFile(file)
			f.Add(data)
		}
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"tool_result","content":[1,{"text":2}]}]}]}`))
	f.Add([]byte(`{"tools":[{"inputSchema":{"properties":{"a":{"enum":["x",1]}}}}]}`))
	f.Add([]byte("{\"a\":1}\n{\"text\":\"{\\\"arguments\\\":{}}\",\"context\":\"tool_argument\"}\n"))
	e := testEngine(f, Options{MaxScanBytes: 1 << 16})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := e.Scan(context.Background(), Input{Data: data})
		if err != nil {
			return
		}
		for _, fd := range res.Findings {
			if fd.Start < 0 || fd.Start > fd.End || !fd.Surface.Valid() {
				t.Fatalf("bad finding %+v", fd)
			}
		}
	})
}
