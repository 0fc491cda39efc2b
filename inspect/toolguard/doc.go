// Package toolguard is the pure logic of MCP tool approval: it turns the
// tools, prompts and resources an MCP server lists into canonical, hashed
// definitions, reconciles each listing with what Bulwark already knows
// (new tools wait for an operator, approved tools are pinned by their hash,
// a changed definition — a rug pull — is quarantined with a diff against
// the approved one, vanished and returning tools are tracked), decides
// which tools a client group may see and call, scans definitions for tool
// poisoning with a detect.Engine, and warns about the "lethal trifecta" of
// approved tools that together read private data, take in untrusted
// content and can send data out.
//
// It owns no I/O: no network, no storage, no clock. The MCP relay lists a
// server's capabilities, calls Reconcile with the stored records, saves
// what Reconcile says to create and update, and publishes its events.
package toolguard
