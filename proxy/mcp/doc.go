// Package mcp is the MCP relay: it serves MCP clients (streamable HTTP and
// the legacy HTTP+SSE transport), connects each client session to the MCP
// server (stdio, streamable HTTP, SSE or WebSocket) through the official
// go-sdk's raw transports, and relays JSON-RPC messages between them —
// refusing calls of tools that are not approved, filtering listings down to
// approved tools, and handing arguments and results to the gateway's
// policies. Unknown fields inside params and results pass through
// untouched. The tool registry itself (approval, pinning) is the gateway's,
// reached through Hooks.
package mcp
