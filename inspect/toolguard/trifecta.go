package toolguard

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// Leg is one of the three capabilities of the lethal trifecta.
type Leg string

// The legs of the lethal trifecta.
const (
	LegPrivate   Leg = "private_data"      // reads data the user would not publish
	LegUntrusted Leg = "untrusted_content" // takes in text an attacker can write
	LegExfil     Leg = "exfiltration"      // can send data somewhere others can read it
)

// Risk is how one tool contributes to the trifecta.
type Risk struct {
	Private, Untrusted, Exfil bool
	// Why lists the reasons, like "exfiltration: sends e-mail or messages".
	Why []string
}

// Assessment is the trifecta check of a proxy's approved tools.
type Assessment struct {
	// Private, Untrusted and Exfil name the approved tools on each leg, sorted.
	Private, Untrusted, Exfil []string
	// Warning is set when all three legs are present: content from an
	// untrusted source can then instruct the model to read private data and
	// send it out, without any single tool being malicious.
	Warning bool
	Message string
	// Why holds the reasons per tool name.
	Why map[string][]string
}

// The keyword model. A tool's text is its name (split into words:
// read_file and readFile both become "read file"), title, annotation title
// and description, in lower case. Each signal is a regular expression over
// that text; most pair a verb with an object within one sentence ("get …
// messages"). Signals marked write describe an action that changes
// something and are ignored for a tool annotated readOnlyHint (unless it is
// also annotated destructiveHint, which contradicts it). The annotations
// add two signals of their own: openWorldHint means the tool deals with
// external entities (untrusted content) and, unless it is read-only, can
// change things out there (exfiltration).
//
// The model errs towards reporting: a warning asks an operator to look at a
// combination of tools, it blocks nothing.
const (
	gap       = `[^.!?;\n]{0,60}?` // within one sentence
	readVerbs = `(?:read|reads|reading|get|gets|list|lists|search|searches|query|queries|find|finds|view|views|retrieve|retrieves|download|downloads|export|exports|show|shows|look up|looks up|lookup|fetch|fetches|cat|browse|browses|access|accesses|inspect|inspects|print|prints|dump|dumps)`
	webVerbs  = `(?:fetch\w*|get|gets|retriev\w*|download\w*|read|reads|open\w*|load\w*|scrap\w*|crawl\w*|brows\w*|visit\w*|navigat\w*|extract\w*|request\w*)`
)

type signal struct {
	leg   Leg
	write bool
	why   string
	re    *regexp.Regexp
}

func sig(leg Leg, write bool, why, expr string) signal {
	return signal{leg, write, why, regexp.MustCompile(expr)}
}

var signals = []signal{
	// Private data.
	sig(LegPrivate, false, "reads files or directories",
		`\b`+readVerbs+`\b`+gap+`\b(?:files?|director(?:y|ies)|folders?|documents?|docs|drive|notes?|spreadsheets?)\b`),
	sig(LegPrivate, false, "reads a database",
		`\b(?:sql|databases?|postgres\w*|mysql|sqlite|mongo\w*|redis|bigquery|snowflake|elasticsearch)\b`),
	sig(LegPrivate, false, "reads e-mail, messages or chats",
		`\b`+readVerbs+`\b`+gap+`\b(?:emails?|inbox|mailbox|mail|messages?|dms?|direct messages?|chats?|channels?|conversations?|threads?|channel history)\b`),
	sig(LegPrivate, false, "reads secrets or credentials",
		`\b`+readVerbs+`\b`+gap+`\b(?:secrets?|passwords?|credentials?|api keys?|tokens?|vault|keychain|environment variables?|env vars?)\b`),
	sig(LegPrivate, false, "reads calendars or contacts",
		`\b`+readVerbs+`\b`+gap+`\b(?:calendars?|events?|meetings?|appointments?|contacts?|address book)\b`),
	sig(LegPrivate, false, "reads repositories or source code",
		`\b`+readVerbs+`\b`+gap+`\b(?:repos?|repositor(?:y|ies)|source code|code|commits?|branches|file contents)\b`),
	sig(LegPrivate, false, "reads customer records or tickets",
		`\b`+readVerbs+`\b`+gap+`\b(?:customers?|records?|tickets?|orders?|invoices?|crm)\b`),

	// Untrusted content.
	sig(LegUntrusted, false, "fetches web pages or URLs",
		`\b`+webVerbs+`\b`+gap+`\b(?:urls?|web ?pages?|websites?|web|internet|html|links?|https?)\b`),
	sig(LegUntrusted, false, "searches the web",
		`\b(?:web|internet|google|bing|brave|duckduckgo|tavily|exa) search\b|\bsearch(?:es|ing)? (?:the )?(?:web|internet|online)\b|\bsearch results\b`),
	sig(LegUntrusted, false, "drives a browser",
		`\bbrowser\b|\bnavigate\b|\bweb ?pages?\b|\bscrap(?:e|es|ing)\b|\bcrawl\w*`),
	sig(LegUntrusted, false, "reads issues, comments, e-mail or messages others wrote",
		`\b`+readVerbs+`\b`+gap+`\b(?:issues?|comments?|pull requests?|prs|emails?|inbox|mailbox|mail|messages?|dms?|tweets?|posts|reviews?|tickets?|discussions?|threads?|replies|feeds?|rss|channel history)\b`),

	// Exfiltration.
	sig(LegExfil, true, "sends e-mail or messages",
		`\b(?:send|sends|sending|reply to|replies to|replying to|forward|forwards|forwarding|dm)\b`),
	sig(LegExfil, true, "posts or publishes content",
		`\b(?:post|posts|posting)\b`+gap+`\b(?:messages?|comments?|replies|reply|updates?|content|tweets?|status|channels?|slack|webhooks?)\b|\b(?:publish\w*|upload\w*|tweet|tweets|share|shares|sharing)\b`),
	sig(LegExfil, false, "makes HTTP requests to URLs it is given",
		`\b(?:fetch\w*|request\w*|brows\w*|navigat\w*|visit\w*|load\w*|open\w*|download\w*|scrap\w*|crawl\w*)\b`+gap+`\b(?:urls?|web ?pages?|websites?|links?)\b|\bhttp (?:requests?|calls?|post|put)\b|\b(?:post|put|patch) requests?\b|\bwebhooks?\b|\b(?:arbitrary|any) urls?\b|\b(?:calls?|invokes?) (?:an? |any )?(?:external |remote |rest |http )?(?:apis?|endpoints?)\b`),
	sig(LegExfil, true, "writes to an external service (issues, pull requests, comments, gists, pages)",
		`\b(?:create\w*|open|opens|add|adds|adding|submit\w*|update\w*|push\w*|comment\w*|write\w*|edit\w*|merge\w*)\b`+gap+`\b(?:pull requests?|prs?|issues?|comments?|gists?|reviews?|tweets?|pages?|wiki|discussions?|releases?|tickets?)\b`),
	sig(LegExfil, true, "writes to a remote repository",
		`\b(?:create\w*|update\w*|push\w*|commit\w*|fork\w*|upload\w*|write\w*)\b`+gap+`\b(?:repositor(?:y|ies)|repos?|github|gitlab|bitbucket|remote)\b`),
}

// neutral phrases are removed before matching: they contain a signal's
// words without meaning it.
var neutral = strings.NewReplacer(
	"error messages", "errors", "error message", "error",
	"status messages", "status", "commit messages", "commit notes", "commit message", "commit note",
	"e-mail", "email", "e-mails", "emails",
)

var camel = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// maxClassifyText bounds the description text the model reads.
const maxClassifyText = 8 << 10

type toolText struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Annotations struct {
		Title           string `json:"title"`
		ReadOnlyHint    *bool  `json:"readOnlyHint"`
		DestructiveHint *bool  `json:"destructiveHint"`
		OpenWorldHint   *bool  `json:"openWorldHint"`
	} `json:"annotations"`
}

// Classify places one tool definition on the legs of the trifecta with the
// keyword model above.
func Classify(def json.RawMessage) Risk {
	var t toolText
	_ = json.Unmarshal(def, &t) // a partial or odd definition is still classified by what decoded
	name := camel.ReplaceAllString(t.Name, "$1 $2")
	name = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' || r == '/' || r == ':' {
			return ' '
		}
		return r
	}, name)
	desc := t.Description
	if len(desc) > maxClassifyText {
		desc = desc[:maxClassifyText]
	}
	text := strings.ToLower(strings.Join([]string{name, t.Title, t.Annotations.Title, desc}, ".\n"))
	text = neutral.Replace(text)

	ann := t.Annotations
	readOnly := isTrue(ann.ReadOnlyHint) && !isTrue(ann.DestructiveHint)
	var r Risk
	mark := func(leg Leg, why string) {
		switch leg {
		case LegPrivate:
			r.Private = true
		case LegUntrusted:
			r.Untrusted = true
		case LegExfil:
			r.Exfil = true
		}
		r.Why = append(r.Why, string(leg)+": "+why)
	}
	for _, s := range signals {
		if s.write && readOnly {
			continue
		}
		if s.re.MatchString(text) {
			mark(s.leg, s.why)
		}
	}
	if isTrue(ann.OpenWorldHint) {
		mark(LegUntrusted, "annotated openWorldHint: deals with external entities")
		if !isTrue(ann.ReadOnlyHint) {
			mark(LegExfil, "annotated openWorldHint and not readOnlyHint: changes things outside")
		}
	}
	return r
}

func isTrue(b *bool) bool { return b != nil && *b }

// Trifecta checks the callable tools (approved, listed, pinned definition;
// prompts and resources are not tools and are skipped) for the lethal
// trifecta: private data, untrusted content and a way out. Pass the tools
// a client can use together: those of one proxy, or of every proxy an
// agent is configured with.
func Trifecta(tools []*bulwark.MCPTool) Assessment {
	a := Assessment{Why: map[string][]string{}}
	for _, t := range tools {
		if t == nil || t.Kind != bulwark.KindTool && t.Kind != "" || !t.Callable() {
			continue
		}
		r := Classify(t.Definition)
		if r.Private {
			a.Private = append(a.Private, t.Name)
		}
		if r.Untrusted {
			a.Untrusted = append(a.Untrusted, t.Name)
		}
		if r.Exfil {
			a.Exfil = append(a.Exfil, t.Name)
		}
		if len(r.Why) > 0 {
			a.Why[t.Name] = r.Why
		}
	}
	for _, l := range [][]string{a.Private, a.Untrusted, a.Exfil} {
		slices.Sort(l)
	}
	a.Warning = len(a.Private) > 0 && len(a.Untrusted) > 0 && len(a.Exfil) > 0
	if a.Warning {
		a.Message = fmt.Sprintf("Lethal trifecta: the approved tools can read private data (%s), take in untrusted content (%s) "+
			"and send data out (%s). Text from an untrusted source can instruct the model to read private data and send it out. "+
			"Deny, or restrict by group, the tools of at least one of these.",
			names(a.Private), names(a.Untrusted), names(a.Exfil))
		return a
	}
	var missing []string
	if len(a.Private) == 0 {
		missing = append(missing, "reads private data")
	}
	if len(a.Untrusted) == 0 {
		missing = append(missing, "takes in untrusted content")
	}
	if len(a.Exfil) == 0 {
		missing = append(missing, "can send data out")
	}
	a.Message = "No lethal trifecta: no approved tool " + strings.Join(missing, ", or ") + "."
	return a
}

// names lists up to five names and how many more there are.
func names(list []string) string {
	const show = 5
	if len(list) <= show {
		return strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(list[:show], ", "), len(list)-show)
}
