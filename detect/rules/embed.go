// Package rules embeds Bulwark's built-in policy templates: every *.json
// file in this directory is one policy (see docs/policy.schema.json).
package rules

import "embed"

// FS holds the built-in policies. It embeds the whole directory (rather
// than *.json) so the package builds even before any policy exists; the
// loader reads only the *.json files at its root.
//
//go:embed *
var FS embed.FS
