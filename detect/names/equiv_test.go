package names

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
)

var equivSeeds = []string{
	"Follow up with Colleen Wiley in 2 months.",
	"I'm so jealous! said Honoré to James",
	"It was a done thing between him and Sumaya's kid.",
	"It was a done thing between him and Sumaya’s kid, and Ölaf’s friend.",
	"Jakobine, can I please speak to your boss?",
	"We moved here from Küsnacht. ÉTIENNE-LOUIS met İsmail in Zürich",
	"we returned to Blaketown by helicopter.",
	"I grew up in Aliso Viejo. My colleague Megan's boss said so.",
	"I work for Geoscape, a year at Acme-Corp and joined Hubbard-Thomas.",
	"She studied at the University of Zafferana Etnea.",
	"They hired Areavibes Inc today. abc123 Def456 ghi-JKL o'Brien O'Brien's",
	"my wife, Anna, said: \"Bob Smith is here\" • Lara Croft * # Mali",
	"SELECT name FROM Students JOIN Courses GROUP BY name; NASA AIRPORTS",
	"\xff\xfeMegan\xc3 Payne-\xe2\x80\x99s 1Anna 2 Ⱥlex and ǅemal",
	"Could you help me plan a three-day trip to Lisbon in early May? I like museums, seafood and walking tours.",
}

func checkEquiv(t *testing.T, text string) {
	t.Helper()
	got, want := Find(text), refFind(text)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got  %v\n want %v", text, got, want)
	}
}

func TestFindMatchesReference(t *testing.T) {
	for _, s := range equivSeeds {
		checkEquiv(t, s)
		checkEquiv(t, strings.Repeat(s+" ", 20))
	}
	// BULWARK_EQUIV_CORPUS: a JSONL file with a "text" field per line
	// (the evaluation corpus), every text of which must give the same
	// entities.
	path := os.Getenv("BULWARK_EQUIV_CORPUS")
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	n := 0
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		for _, v := range rec {
			if s, ok := v.(string); ok {
				checkEquiv(t, s)
				n++
			}
		}
	}
	t.Logf("%d texts", n)
}

func FuzzFindMatchesReference(f *testing.F) {
	for _, s := range equivSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkEquiv(t, text)
	})
}

// TestFindConcurrent: the pooled tokenizer buffers are not shared between
// concurrent scans.
func TestFindConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := strings.Repeat(equivSeeds[(g+i)%len(equivSeeds)]+" ", 1+i%7)
				if got, want := Find(s), refFind(s); !reflect.DeepEqual(got, want) {
					t.Errorf("%q: got %v, want %v", s, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
