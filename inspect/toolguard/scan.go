package toolguard

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
)

// NewScanner returns the tool-poisoning scan of one definition with e, for
// Options.Scan. A tool definition is scanned as the single entry of an MCP
// tools/list result, so its title, description, annotation title and every
// description, title, default, const, enum and examples text of its input
// and output schemas are scanned on the tool_description surface. A prompt
// or resource definition (one without inputSchema but with arguments, uri
// or uriTemplate) has every string value scanned on that surface. Finding
// paths are relative to the definition, like description or
// inputSchema.properties.path.description.
func NewScanner(e *detect.Engine) func(def json.RawMessage) ([]bulwark.Finding, error) {
	return func(def json.RawMessage) ([]bulwark.Finding, error) {
		in := detect.Input{Protocol: bulwark.ProtocolMCP, Surface: bulwark.SurfaceToolDescription}
		const prefix = "tools[0]"
		wrapped := isTool(def)
		if wrapped {
			in.Format = detect.FormatMCPToolsList
			in.Data = make([]byte, 0, len(def)+12)
			in.Data = append(in.Data, `{"tools":[`...)
			in.Data = append(in.Data, def...)
			in.Data = append(in.Data, "]}"...)
		} else {
			in.Format = detect.FormatJSON
			in.Data = def
		}
		res, err := e.Scan(context.Background(), in)
		if err != nil {
			return nil, err
		}
		if wrapped {
			for i := range res.Findings {
				p := strings.TrimPrefix(res.Findings[i].Path, prefix)
				res.Findings[i].Path = strings.TrimPrefix(p, ".")
			}
		}
		return res.Findings, nil
	}
}

// isTool tells a tool definition from a prompt or resource one.
func isTool(def json.RawMessage) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(def, &probe) != nil {
		return true
	}
	has := func(k string) bool { _, ok := probe[k]; return ok }
	return has("inputSchema") || !has("arguments") && !has("uri") && !has("uriTemplate")
}

// ScanInstructions scans the instructions an MCP server returns from
// initialize, which clients add to the model's context like a tool
// description, on the tool_description surface. Finding paths start with
// "instructions".
func ScanInstructions(e *detect.Engine, instructions string) ([]bulwark.Finding, error) {
	res, err := e.ScanText(context.Background(), instructions, bulwark.ProtocolMCP, bulwark.SurfaceToolDescription)
	if err != nil {
		return nil, err
	}
	for i := range res.Findings {
		switch p := res.Findings[i].Path; {
		case p == "":
			res.Findings[i].Path = "instructions"
		case strings.HasPrefix(p, "["):
			res.Findings[i].Path = "instructions" + p
		default:
			res.Findings[i].Path = "instructions." + p
		}
	}
	return res.Findings, nil
}
