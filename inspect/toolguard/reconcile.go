package toolguard

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// AutoApprover is the DecidedBy of a tool approved by a proxy's auto_approve.
const AutoApprover = "auto-approve"

// ChangeType says what happened to a tool in a listing.
type ChangeType string

// Change types.
const (
	ChangeAdded      ChangeType = "added"      // listed for the first time
	ChangeChanged    ChangeType = "changed"    // its definition differs from the last one seen
	ChangeRemoved    ChangeType = "removed"    // no longer listed
	ChangeReappeared ChangeType = "reappeared" // listed again after it was removed
)

// Options of Reconcile.
type Options struct {
	// AutoApprove approves and pins a tool seen for the first time unless
	// the scan reports a finding whose action is block.
	AutoApprove bool
	// Scan is the tool-poisoning scan of a canonical definition (see
	// NewScanner). It runs for new and changed definitions only; nil scans
	// nothing. An error stops the reconciliation (the relay fails closed).
	Scan func(def json.RawMessage) ([]bulwark.Finding, error)
	// LastSeenEvery, when positive, bumps the LastSeen of an otherwise
	// unchanged tool only when it is at least this old, so that a listing
	// on every client session does not rewrite every record. Zero bumps it
	// on every listing.
	LastSeenEvery time.Duration
}

// Change is one event of a reconciliation, for alerts and the audit trail.
type Change struct {
	Type ChangeType
	// Tool is the record as it is to be saved.
	Tool *bulwark.MCPTool
	// Diff is from the approved (pinned) definition to the new one, or from
	// the previous definition when the tool was never approved; "" when the
	// definition did not change (or is back to the approved one).
	Diff string
	// Findings of the scan of a new or changed definition.
	Findings []bulwark.Finding
}

// Result is what the relay saves and publishes after a listing.
type Result struct {
	// Create holds the tools seen for the first time.
	Create []*bulwark.MCPTool
	// Update holds the known tools whose record changed (LastSeen included),
	// as copies: the known records passed to Reconcile are not modified.
	Update []*bulwark.MCPTool
	// Events holds one change per tool that was added, changed, removed or
	// reappeared, in listing order, removed tools last.
	Events []Change
}

// Reconcile compares what an MCP server lists for one kind with the tools
// Bulwark knows of that proxy and kind (known records of other proxies or
// kinds are ignored) and returns the records to create and update and the
// events to publish.
//
//   - A tool seen for the first time is pending; with AutoApprove it is
//     approved and pinned at once unless its scan has a blocking finding.
//   - A tool whose definition differs from its pinned one while approved or
//     quarantined is quarantined, with a diff against the pinned definition.
//     A pending or denied tool whose definition changes keeps its status and
//     just gets the new definition and findings.
//   - A quarantined tool whose definition is back to the pinned one stays
//     quarantined until an operator approves it again: a server that flips
//     between definitions must not be able to heal itself, since it may have
//     served the changed definition to clients meanwhile, and may flip again
//     between two listings.
//   - A known tool missing from the listing is marked Removed (one "removed"
//     event); when it is listed again it is no longer Removed and compared
//     by hash as above ("reappeared", with a diff when it changed).
//
// A definition that Canonical rejects, two definitions with the same name
// in one listing (the client would see one of them, Bulwark may have
// approved the other), or a scan error is an error: the relay fails closed.
func Reconcile(proxy string, kind bulwark.ToolKind, listed []json.RawMessage, known []*bulwark.MCPTool,
	opts Options, now time.Time) (Result, error) {
	var res Result
	byName := make(map[string]*bulwark.MCPTool, len(known))
	for _, t := range known {
		if t == nil || t.Proxy != proxy || t.Kind != kind {
			continue
		}
		if byName[t.Name] != nil {
			return Result{}, fmt.Errorf("known %ss of proxy %q: %q appears twice", kind, proxy, t.Name)
		}
		byName[t.Name] = t
	}
	seen := make(map[string]bool, len(listed))
	for i, def := range listed {
		canon, name, err := Canonical(kind, def)
		if err != nil {
			return Result{}, fmt.Errorf("%s %d of the listing: %w", kind, i, err)
		}
		if seen[name] {
			return Result{}, fmt.Errorf("the server lists two %ss named %q", kind, name)
		}
		seen[name] = true
		hash := Hash(canon)
		old := byName[name]
		if old == nil {
			t, ev, err := added(proxy, kind, name, canon, hash, opts, now)
			if err != nil {
				return Result{}, err
			}
			res.Create = append(res.Create, t)
			res.Events = append(res.Events, ev)
			continue
		}
		t, ev, dirty, err := relisted(old, canon, hash, opts, now)
		if err != nil {
			return Result{}, err
		}
		if dirty {
			res.Update = append(res.Update, t)
		}
		if ev != nil {
			res.Events = append(res.Events, *ev)
		}
	}
	for _, t := range known {
		if t == nil || t.Proxy != proxy || t.Kind != kind || seen[t.Name] || t.Removed {
			continue
		}
		c := *t
		c.Removed = true
		res.Update = append(res.Update, &c)
		res.Events = append(res.Events, Change{Type: ChangeRemoved, Tool: &c})
	}
	return res, nil
}

func scan(opts Options, name string, canon json.RawMessage) ([]bulwark.Finding, error) {
	if opts.Scan == nil {
		return nil, nil
	}
	f, err := opts.Scan(canon)
	if err != nil {
		return nil, fmt.Errorf("scanning %q: %w", name, err)
	}
	return f, nil
}

func added(proxy string, kind bulwark.ToolKind, name string, canon json.RawMessage, hash string,
	opts Options, now time.Time) (*bulwark.MCPTool, Change, error) {
	findings, err := scan(opts, name, canon)
	if err != nil {
		return nil, Change{}, err
	}
	t := &bulwark.MCPTool{
		Proxy: proxy, Kind: kind, Name: name,
		Definition: canon, Hash: hash, Status: bulwark.ToolPending,
		Findings: findings, FirstSeen: now, LastSeen: now,
	}
	if opts.AutoApprove && !blocks(findings) {
		Approve(t, AutoApprover, now)
	}
	return t, Change{Type: ChangeAdded, Tool: t, Findings: findings}, nil
}

// relisted updates a copy of a known tool that is in the listing.
func relisted(old *bulwark.MCPTool, canon json.RawMessage, hash string, opts Options,
	now time.Time) (t *bulwark.MCPTool, ev *Change, dirty bool, err error) {
	c := *old
	t = &c
	if opts.LastSeenEvery <= 0 || now.Sub(t.LastSeen) >= opts.LastSeenEvery {
		t.LastSeen = now
		dirty = true
	}
	var typ ChangeType
	if t.Removed {
		t.Removed = false
		typ, dirty = ChangeReappeared, true
	}
	var diff string
	var findings []bulwark.Finding
	if hash != t.Hash {
		if findings, err = scan(opts, t.Name, canon); err != nil {
			return nil, nil, false, err
		}
		base := t.Definition
		if t.PinnedHash != "" {
			base = t.PinnedDefinition
		}
		if hash != t.PinnedHash || t.PinnedHash == "" {
			diff = Diff(base, canon)
		}
		t.Definition, t.Hash, t.Findings = canon, hash, findings
		dirty = true
		if typ == "" {
			typ = ChangeChanged
		}
	}
	// An approved tool is only callable with its pinned definition: any
	// other quarantines it, whether it changed now or was stored that way.
	if t.Status == bulwark.ToolApproved && t.Hash != t.PinnedHash {
		t.Status = bulwark.ToolQuarantined
		dirty = true
		if typ == "" {
			typ = ChangeChanged
			diff = Diff(t.PinnedDefinition, t.Definition)
		}
	}
	if typ != "" {
		ev = &Change{Type: typ, Tool: t, Diff: diff, Findings: findings}
	}
	return t, ev, dirty, nil
}

func blocks(findings []bulwark.Finding) bool {
	for _, f := range findings {
		if f.Action == bulwark.ActionBlock {
			return true
		}
	}
	return false
}

// Approve pins the tool's current definition and approves it.
func Approve(t *bulwark.MCPTool, by string, now time.Time) {
	t.PinnedDefinition = t.Definition
	t.PinnedHash = t.Hash
	t.Status = bulwark.ToolApproved
	decided(t, by, now)
}

// Deny refuses the tool. Its pinned definition, if any, is kept for the
// record; a later Approve pins the definition current then.
func Deny(t *bulwark.MCPTool, by string, now time.Time) {
	t.Status = bulwark.ToolDenied
	decided(t, by, now)
}

func decided(t *bulwark.MCPTool, by string, now time.Time) {
	t.DecidedBy = by
	at := now
	t.DecidedAt = &at
}

// Filter returns the names of the tools a client of group may see and
// call: approved, listed, with the pinned definition, and allowed for the
// group. Pass the tools of one proxy and one kind.
func Filter(tools []*bulwark.MCPTool, group string) map[string]bool {
	names := make(map[string]bool, len(tools))
	for _, t := range tools {
		if t != nil && t.Callable() && t.AllowsGroup(group) {
			names[t.Name] = true
		}
	}
	return names
}
