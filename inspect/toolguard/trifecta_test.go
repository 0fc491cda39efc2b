package toolguard

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// server loads testdata/servers/<name>.json (a tools/list result) as
// approved tools, optionally leaving out some names.
func server(t *testing.T, name string, without ...string) []*bulwark.MCPTool {
	t.Helper()
	data, err := os.ReadFile("testdata/servers/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Tools []json.RawMessage }
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatal(err)
	}
	r, err := Reconcile(name, bulwark.KindTool, list.Tools, nil, Options{AutoApprove: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var tools []*bulwark.MCPTool
	for _, tl := range r.Create {
		if !contains(without, tl.Name) {
			tools = append(tools, tl)
		}
	}
	return tools
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestClassifyRealServers(t *testing.T) {
	// P: private data, U: untrusted content, E: exfiltration.
	want := map[string]map[string]string{
		"filesystem": {
			"read_text_file": "P", "read_multiple_files": "P", "list_directory": "P", "search_files": "P", "get_file_info": "P",
			"write_file": "", "edit_file": "", "create_directory": "", "move_file": "",
		},
		"fetch": {"fetch": "UE"},
		"github": {
			"get_file_contents": "P", "search_repositories": "P", "list_issues": "PU", "get_issue": "PU",
			"create_pull_request": "E", "add_issue_comment": "E", "create_or_update_file": "E", "push_files": "E", "create_gist": "E",
		},
		"slack": {
			"slack_list_channels": "P", "slack_post_message": "E", "slack_reply_to_thread": "E", "slack_add_reaction": "",
			"slack_get_channel_history": "PU", "slack_get_thread_replies": "PU", "slack_get_users": "",
		},
		"email": {
			"send_email": "E", "draft_email": "", "read_email": "PU", "search_emails": "PU", "modify_email": "",
			// A false positive the model accepts: "list email" reads like listing e-mail.
			"list_email_labels": "PU",
		},
		"benign": {
			"add": "", "echo": "", "get_current_time": "", "convert_time": "", "get_forecast": "", "sequentialthinking": "",
			"longRunningOperation": "", "git_status": "", "git_create_branch": "", "git_commit": "",
		},
	}
	for srv, tools := range want {
		got := map[string]bool{}
		for _, tl := range server(t, srv) {
			got[tl.Name] = true
			exp, ok := tools[tl.Name]
			if !ok {
				t.Errorf("%s: no expectation for %s", srv, tl.Name)
				continue
			}
			if legs := legs(Classify(tl.Definition)); legs != exp {
				t.Errorf("%s/%s: legs %q, want %q (%v)", srv, tl.Name, legs, exp, Classify(tl.Definition).Why)
			}
		}
		if len(got) != len(tools) {
			t.Errorf("%s: %d tools, %d expectations", srv, len(got), len(tools))
		}
	}
}

func legs(r Risk) string {
	s := ""
	if r.Private {
		s += "P"
	}
	if r.Untrusted {
		s += "U"
	}
	if r.Exfil {
		s += "E"
	}
	return s
}

func TestClassifyAnnotations(t *testing.T) {
	for _, tc := range []struct {
		def  string
		want string
	}{
		{`{"name":"get_forecast","description":"Get weather forecast for a location."}`, ""},
		{`{"name":"get_forecast","description":"Get weather forecast for a location.","annotations":{"openWorldHint":true,"readOnlyHint":true}}`, "U"},
		{`{"name":"file_report","description":"Files a report.","annotations":{"openWorldHint":true}}`, "UE"},
		{`{"name":"file_report","description":"Files a report.","annotations":{"openWorldHint":false,"readOnlyHint":false}}`, ""},
		// readOnlyHint silences write signals…
		{`{"name":"send_report","description":"Sends the daily report.","annotations":{"readOnlyHint":true}}`, ""},
		{`{"name":"send_report","description":"Sends the daily report."}`, "E"},
		// …unless destructiveHint contradicts it…
		{`{"name":"send_report","description":"Sends the daily report.","annotations":{"readOnlyHint":true,"destructiveHint":true}}`, "E"},
		// …and never requests to URLs, which read-only tools can make too.
		{`{"name":"fetch","description":"Fetches a URL.","annotations":{"readOnlyHint":true}}`, "UE"},
		// Names in camelCase and kebab-case are split into words.
		{`{"name":"readFile","description":"Returns contents."}`, "P"},
		{`{"name":"post-message","description":"Slack."}`, "E"},
		{`{"name":"webSearch","description":"Returns the top results."}`, "U"},
		{`{"name":"query","description":"Run a read-only SQL query against the database."}`, "P"},
		{`{"name":"printEnv","description":"Prints all environment variables, helpful for debugging."}`, "P"},
		{`{"name":"get_secret","description":"Get a secret from the vault."}`, "P"},
		{`{"name":"list_events","description":"List calendar events for a day."}`, "P"},
		{`{"name":"browser_navigate","description":"Navigate to a URL."}`, "UE"},
		{`{"name":"call_webhook","description":"Calls a webhook with a JSON body."}`, "E"},
		{`{"name":"http_request","description":"Make an HTTP request to any URL."}`, "UE"},
		// Negatives that share words with the signals.
		{`{"name":"validate","description":"Checks the input and returns error messages for invalid fields."}`, ""},
		{`{"name":"format_code","description":"Formats the code you give it."}`, ""},
		{`{"name":"calc","description":"Evaluates an arithmetic expression."}`, ""},
		{`not json`, ""},
	} {
		if got := legs(Classify(json.RawMessage(tc.def))); got != tc.want {
			t.Errorf("%s: legs %q, want %q (%v)", tc.def, got, tc.want, Classify(json.RawMessage(tc.def)).Why)
		}
	}
}

func TestTrifecta(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tools   []*bulwark.MCPTool
		warning bool
		msg     string
	}{
		{"filesystem alone", server(t, "filesystem"), false, "No lethal trifecta: no approved tool takes in untrusted content, or can send data out."},
		{"fetch alone", server(t, "fetch"), false, "No lethal trifecta: no approved tool reads private data."},
		{"filesystem and fetch", append(server(t, "filesystem"), server(t, "fetch")...), true,
			"Lethal trifecta: the approved tools can read private data (get_file_info, list_directory, read_multiple_files, read_text_file, search_files), " +
				"take in untrusted content (fetch) and send data out (fetch)."},
		{"github alone", server(t, "github"), true, "read private data (get_file_contents, get_issue, list_issues, search_repositories)"},
		{"github read-only", server(t, "github", "create_pull_request", "add_issue_comment", "create_or_update_file", "push_files", "create_gist"), false, "can send data out."},
		{"slack", server(t, "slack"), true, "send data out (slack_post_message, slack_reply_to_thread)"},
		{"e-mail", server(t, "email"), true, "take in untrusted content (list_email_labels, read_email, search_emails)"},
		{"e-mail without send", server(t, "email", "send_email"), false, "no approved tool can send data out."},
		{"benign", server(t, "benign"), false, "no approved tool reads private data, or takes in untrusted content, or can send data out."},
		{"nothing", nil, false, "no approved tool reads private data"},
		{"many names", append(append(server(t, "filesystem"), server(t, "github")...), server(t, "fetch")...), true, "and 4 more), take in"},
	} {
		a := Trifecta(tc.tools)
		if a.Warning != tc.warning || !strings.Contains(a.Message, tc.msg) {
			t.Errorf("%s: warning %v, message %q; want %v, %q", tc.name, a.Warning, a.Message, tc.warning, tc.msg)
		}
	}
}

func TestTrifectaOnlyCountsCallableTools(t *testing.T) {
	tools := append(server(t, "filesystem"), server(t, "fetch")...)
	for _, tl := range tools {
		if tl.Name == "fetch" {
			tl.Status = bulwark.ToolPending
		}
	}
	if a := Trifecta(tools); a.Warning || len(a.Untrusted) != 0 {
		t.Fatalf("pending fetch counted: %+v", a)
	}
	for _, tl := range tools {
		if tl.Name == "fetch" {
			Approve(tl, "x", time.Now())
			tl.Removed = true
		}
	}
	if a := Trifecta(tools); a.Warning {
		t.Fatal("removed fetch counted")
	}
	// Prompts and resources are not tools.
	p := &bulwark.MCPTool{Kind: bulwark.KindPrompt, Name: "fetch", Definition: json.RawMessage(`{"name":"fetch","description":"Fetches a URL"}`),
		Status: bulwark.ToolApproved, Hash: "h", PinnedHash: "h"}
	if a := Trifecta(append(tools, p)); a.Warning {
		t.Fatal("a prompt counted as a tool")
	}
	a := Trifecta(server(t, "fetch"))
	if len(a.Why["fetch"]) != 2 || !strings.HasPrefix(a.Why["fetch"][0], "untrusted_content: ") {
		t.Fatalf("why %v", a.Why)
	}
}
