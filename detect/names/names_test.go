package names

import (
	"strings"
	"testing"
)

func found(text string) map[string]Kind {
	out := map[string]Kind{}
	for _, e := range Find(text) {
		out[text[e.Start:e.End]] = e.Kind
	}
	return out
}

func TestFind(t *testing.T) {
	cases := []struct {
		text string
		want map[string]Kind
	}{
		{"Follow up with Colleen Wiley in 2 months.", map[string]Kind{"Colleen Wiley": Person}},
		{"I'm so jealous! said Honoré to James", map[string]Kind{"Honoré": Person, "James": Person}},
		{"It was a done thing between him and Sumaya's kid.", map[string]Kind{"Sumaya": Person}},
		{"I would like to remove my kid Mali from the will.", map[string]Kind{"Mali": Person}},
		{"Jakobine, can I please speak to your boss?", map[string]Kind{"Jakobine": Person}},
		{"We moved here from Küsnacht", map[string]Kind{"Küsnacht": Location}},
		{"we returned to Blaketown by helicopter.", map[string]Kind{"Blaketown": Location}},
		{"I grew up in Aliso Viejo.", map[string]Kind{"Aliso Viejo": Location}},
		{"I work for Geoscape", map[string]Kind{"Geoscape": Organization}},
		{"Hubbard-Thomas invested heavily.", map[string]Kind{"Hubbard-Thomas": Organization}},
		{"She studied at the University of Zafferana Etnea.", map[string]Kind{"University of Zafferana Etnea": Organization}},
		{"They hired Areavibes Inc today.", map[string]Kind{"Areavibes Inc": Organization}},
	}
	for _, c := range cases {
		got := found(c.text)
		for s, k := range c.want {
			if got[s] != k {
				t.Errorf("%q: want %s %q, got %v", c.text, k, s, got)
			}
		}
	}
}

func TestFindIgnoresOrdinaryText(t *testing.T) {
	for _, text := range []string{
		"Will the build pass on Monday?",
		"Please review the pull request by Friday.",
		"SELECT name FROM Students JOIN Courses GROUP BY name",
		"Additionally, can you check the logs?",
		"Install it in Docker and run the tests in Python.",
		"The value is stored in Redis.",
		"I work for hours on this project.",
		"Switch the disk to Read-Only mode.",
		"func main() { fmt.Println(\"Hello, World\") }",
		"",
	} {
		if got := Find(text); len(got) > 0 {
			t.Errorf("%q: unexpected %v", text, found(text))
		}
	}
}

func TestSpansAreOrderedAndDisjoint(t *testing.T) {
	text := strings.Repeat("Megan Payne met Dustin Rivas in Ann Arbor; I work for Geoscape. ", 50)
	ents := Find(text)
	if len(ents) < 100 {
		t.Fatalf("found %d entities", len(ents))
	}
	for i, e := range ents {
		if e.Start >= e.End || e.End > len(text) || i > 0 && e.Start < ents[i-1].End {
			t.Fatalf("bad span %d: %+v (previous %+v)", i, e, ents[max(i-1, 0)])
		}
	}
}

func TestDictionaryLoaded(t *testing.T) {
	Load()
	if len(dict) < 40000 {
		t.Fatalf("dictionary has %d entries", len(dict))
	}
	if dict["megan"]&fGiven == 0 || dict["garcia"]&fSurname == 0 || dict["küsnacht"]&fPlace == 0 {
		t.Fatal("expected entries missing")
	}
}

func BenchmarkFind4KiB(b *testing.B) {
	for _, c := range []struct{ name, text string }{
		{"names", strings.Repeat("Please summarise the report that Megan Payne sent from Ann Arbor yesterday, and check the numbers. ", 45)[:4096]},
		{"clean", strings.Repeat("Could you help me plan a three-day trip to Lisbon in early May? I like museums, seafood and walking tours, and I would prefer to stay somewhere quiet near the river. ", 30)[:4096]},
	} {
		b.Run(c.name, func(b *testing.B) {
			Load()
			b.SetBytes(int64(len(c.text)))
			b.ReportAllocs()
			for b.Loop() {
				Find(c.text)
			}
		})
	}
}
