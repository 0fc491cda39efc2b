// Thin client for the admin API: JSON in and out, the CSRF header on unsafe
// requests, the API's error shape turned into ApiError.

export interface FieldError { field: string; location?: string; message: string }

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public details: FieldError[] = []) {
    super(message)
  }
  /** Messages by field name (the last path element of field or location). */
  fields(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const d of this.details) {
      const key = (d.field || d.location || '').split('.').pop() || ''
      if (key && !out[key]) out[key] = d.message
      // policies[0] is also reported under policies, for the field as a whole.
      const base = key.replace(/\[\d+\].*$/, '')
      if (base && base !== key && !out[base]) out[base] = d.message
    }
    return out
  }
}

type Hook = (e: ApiError) => void
const hooks: { unauthenticated?: Hook; passwordChange?: Hook } = {}

/** Routes the app to the login or change-password screen on 401 / 403 password_change_required. */
export function onAuthProblem(h: { unauthenticated: Hook; passwordChange: Hook }) {
  hooks.unauthenticated = h.unauthenticated
  hooks.passwordChange = h.passwordChange
}

function cookie(name: string): string {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === name) return decodeURIComponent(v.join('='))
  }
  return ''
}

export async function api<T = unknown>(method: string, path: string, body?: unknown, opts: { quiet?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = cookie('bulwark_csrf')
  let res: Response
  try {
    res = await fetch('/api/v1' + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiError(0, 'network', 'Bulwark is not reachable. Check that the server is running.')
  }
  if (res.status === 204) return undefined as T
  let data: unknown = null
  const text = await res.text()
  if (text) {
    try { data = JSON.parse(text) } catch { data = null }
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string; details?: FieldError[] } } | null)?.error
    const err = new ApiError(res.status, e?.code || 'http_' + res.status, e?.message || `request failed (${res.status})`, e?.details || [])
    if (!opts.quiet) {
      if (res.status === 401) hooks.unauthenticated?.(err)
      else if (res.status === 403 && err.code === 'password_change_required') hooks.passwordChange?.(err)
    }
    throw err
  }
  return data as T
}

// Types of the API objects the console shows.
export type Role = 'admin' | 'operator' | 'viewer'
export interface User {
  id: number; username: string; email: string; display_name: string; role: Role
  must_change_password: boolean; disabled: boolean; locked_until?: string; last_login_at?: string
  password_changed_at?: string; created_at: string; updated_at: string
}
export interface Me { user: User; auth_method: string; csrf_token?: string; expires_at?: string }
export interface APIToken {
  id: number; user_id: number; username?: string; name: string; prefix: string; created_at: string
  expires_at?: string; last_used_at?: string; revoked_at?: string; active: boolean
}
export interface AuditEntry {
  id: number; time: string; actor_id?: number; actor: string; action: string; resource_type?: string
  resource_id?: string; result: 'success' | 'failure' | 'denied'; source_ip?: string; user_agent?: string
  details?: Record<string, unknown>
}
export interface Settings {
  organization_name: string; audit_retention_days: number; request_retention_days: number; session_idle_minutes: number
  login_max_failures: number; login_lockout_minutes: number
}
export interface SeverityCounts { critical: number; high: number; medium: number; low: number }
export interface Counts {
  requests: number; blocked: number; alerts: number; alerts_by_severity: SeverityCounts
  logins_ok: number; logins_failed: number; events: number
}
export interface Dashboard {
  range: string; step_seconds: number; from: string; to: string; totals: Counts
  series: (Counts & { start: string })[]; recent_audit: AuditEntry[]
}
export interface SystemInfo {
  version: string; commit?: string; go_version: string; database_engine: string; started_at: string; uptime_seconds: number
}
export interface LiveEvent {
  id: string; time: string; type: string; action: string; severity: string; category?: string
  actor?: string; subject?: string; data?: Record<string, unknown>
}
export interface PolicySummary {
  name: string; version: string; description: string; builtin: boolean; read_only: boolean; extends: string[]
  rules: number; resolved_rules: number; updated_at?: string; updated_by?: string; error?: string
}
export interface PolicyRule {
  id: string; title: string; description: string; category: string; kind: string; severity: string; action: string
  protocols?: string[]; surfaces?: string[]; patterns?: string[]; keywords?: string[]; score?: number
  redact_label?: string; examples: { match: string[]; no_match: string[] }; disabled?: boolean; source: string
}
export interface PolicyDetail extends PolicySummary {
  document: Record<string, unknown>; ml: { enabled: boolean; threshold?: number }; resolved: PolicyRule[]
}
export interface PolicyFinding {
  rule_id: string; title: string; category: string; kind: string; severity: string; action: string; score: number
  surface: string; path?: string; start: number; end: number; evidence: string; description?: string
}
export interface PolicyTestResult {
  policies: string[]; findings: PolicyFinding[]; redacted_text?: string; blocked: boolean; max_severity?: string
  truncated: boolean; duration_us: number
}

// --- LLM gateway ---
export type ProxyState = 'running' | 'stopped' | 'error' | 'unknown'
export interface ProxyStatus { state: ProxyState; reason?: string; since?: string; addr?: string }
export interface ProxyStats {
  requests: number; blocked: number; errors: number; input_tokens: number; output_tokens: number
  cost_usd: number; p50_ms: number; p99_ms: number
}
export interface Proxy {
  id: number; name: string; description: string; type: 'llm' | 'mcp' | 'a2a'; provider?: '' | 'openai' | 'anthropic' | 'azure'
  upstream_url: string; listen_addr: string; policies: string[]; credential_set: boolean; tags: string[]
  enabled: boolean; auto_start: boolean; timeout_seconds: number; max_body_bytes: number; scan_responses: boolean
  mcp?: MCPInfo
  created_at: string; updated_at: string; updated_by?: string; status: ProxyStatus; stats: ProxyStats
}
export type MCPTransport = 'stdio' | 'streamable_http' | 'sse' | 'websocket'
/** An MCP proxy's server settings as the API shows them: env values are write-only. */
export interface MCPInfo {
  transport: MCPTransport; command?: string; args: string[]; env_names: string[]; dir?: string
  process_per_session: boolean; rescan_seconds: number; auto_approve: boolean
}
export type ToolStatus = 'pending' | 'approved' | 'quarantined' | 'denied'
export interface MCPTool {
  id: number; proxy: string; kind: 'tool' | 'prompt' | 'resource'; name: string; title?: string; description?: string
  status: ToolStatus; removed: boolean; callable: boolean; hash: string; pinned_hash: string; changed: boolean
  findings: PolicyFinding[]; groups: string[]; calls_per_minute: number; calls: number; blocked_calls: number
  first_seen: string; last_seen: string; decided_by?: string; decided_at?: string; updated_at: string
}
export interface MCPToolDetail extends MCPTool {
  definition: Record<string, unknown>; pinned_definition?: Record<string, unknown>; diff?: string
  risk?: { private_data: boolean; untrusted_content: boolean; exfiltration: boolean; why: string[] }
}
export interface MCPTrifecta {
  warning: boolean; message: string; private: string[]; untrusted: string[]; exfil: string[]; why: Record<string, string[]>
}
export interface MCPToolList {
  items: MCPTool[]; total: number
  counts: { pending: number; approved: number; quarantined: number; denied: number; removed: number }
  trifecta: MCPTrifecta
}
export interface RequestRecord {
  id: number; request_id: string; at: string; proxy: string; group_id?: number; group?: string; key_id?: number
  user?: string; model?: string; api?: string; path?: string; stream: boolean; status: number
  verdict: 'allow' | 'monitor' | 'redact' | 'block' | 'error' | 'deny'; rule_id?: string; findings: number
  input_tokens: number; output_tokens: number; cache_read_tokens: number; cache_write_tokens: number
  tokens_estimated: boolean; cost_usd: number; priced: boolean; latency_ms: number; upstream_ms: number; error?: string
}
export interface ProxyDetail extends Proxy { recent: RequestRecord[] }
export interface GroupBudget {
  budget_usd: number; spent_usd: number; reserved_usd: number; remaining_usd: number; utilization: number
  period_start: string; resets_at: string
}
export interface Group {
  id: number; name: string; description: string; proxies: string[]; requests_per_minute: number; tokens_per_minute: number
  budget_usd: number; budget_warn_percent: number; budget_action: 'block' | 'warn'; budget_reset_at?: string
  active_keys: number; created_at: string; updated_at: string; updated_by?: string; budget?: GroupBudget
}
export interface GatewayKey {
  id: number; group_id: number; name: string; prefix: string; user?: string; user_email?: string
  requests_per_minute: number; tokens_per_minute: number; expires_at?: string; revoked_at?: string
  last_used_at?: string; created_at: string; created_by?: string; active: boolean
}
export interface SystemPrompt {
  id: number; name: string; description: string; template: string; priority: number; proxies: string[]; groups: string[]
  enabled: boolean; created_at: string; updated_at: string; updated_by?: string
}
export interface UsageBucket {
  day: string; group: string; model: string; requests: number; blocked: number; input_tokens: number
  output_tokens: number; cached_tokens: number; cost_usd: number; unpriced: number
}
export interface UsageTotals {
  requests: number; blocked: number; input_tokens: number; output_tokens: number; cached_tokens: number
  tokens: number; cost_usd: number; unpriced_requests: number
}
export interface Usage { since: string; until: string; buckets: UsageBucket[]; totals: UsageTotals }
export interface RequestPage { items: RequestRecord[]; total: number; limit: number; offset: number }

/** The message of an error for display. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message
  return String(e)
}

// --- Alerts ---
export type AlertSeverity = 'critical' | 'high' | 'medium' | 'low' | 'info'
export type AlertStatus = 'new' | 'acknowledged' | 'in_progress' | 'resolved' | 'false_positive'
export interface AlertNote { at: string; by: string; text: string }
export interface Alert {
  id: string; time: string; severity: AlertSeverity; category: string; title: string; description: string
  action: '' | 'block' | 'monitor' | 'redact'; user: string; user_email: string; group: string; source_ip: string
  proxy: string; target: string; policy: string; rule_id: string; evidence: string; status: AlertStatus
  status_by?: string; status_at?: string; notes?: AlertNote[]
}
export interface AlertPage { items: Alert[]; total: number; limit: number; offset: number }
export const ALERT_SEVERITIES: AlertSeverity[] = ['critical', 'high', 'medium', 'low', 'info']
export const ALERT_STATUSES: AlertStatus[] = ['new', 'acknowledged', 'in_progress', 'resolved', 'false_positive']
export const OPEN_STATUSES: AlertStatus[] = ['new', 'acknowledged', 'in_progress']
export const ALERT_CATEGORIES = ['Guardrails', 'Policy Violations', 'Canary Tokens', 'MCP Tool Changes', 'Tool Security',
  'Traffic Analysis', 'Content Security', 'Other']
export const STATUS_LABEL: Record<AlertStatus, string> = {
  new: 'new', acknowledged: 'acknowledged', in_progress: 'in progress', resolved: 'resolved', false_positive: 'false positive',
}
/** The moves the workflow allows from a status (see docs/api.md, Alerts). */
export function nextStatuses(s: AlertStatus): AlertStatus[] {
  switch (s) {
    case 'new': return ['acknowledged', 'in_progress', 'resolved', 'false_positive']
    case 'acknowledged': return ['in_progress', 'resolved', 'false_positive']
    case 'in_progress': return ['resolved', 'false_positive']
    case 'resolved': return ['in_progress', 'false_positive']
    case 'false_positive': return ['in_progress', 'resolved']
  }
}

// --- Integrations ---
export type FieldType = 'string' | 'text' | 'int' | 'bool' | 'list' | 'map' | 'duration'
export interface KindField { name: string; type: FieldType; secret?: boolean; required?: boolean; options?: string[]; help?: string }
export interface KindInfo { kind: string; fields: KindField[] }
export interface Integration {
  id: number; name: string; kind: string; enabled: boolean; types: string[]; min_severity?: string; categories: string[]
  settings: Record<string, unknown>; secrets_set: string[]; created_at: string; updated_at: string; updated_by?: string; error?: string
}
export type IntegrationState = 'healthy' | 'degraded' | 'failed' | 'stopped' | 'unknown'
export interface IntegrationHealth {
  id: number; name: string; enabled: boolean; state: IntegrationState; since?: string; sent: number; failed: number
  retried: number; dead_lettered: number; queue_depth: number; oldest_pending_seconds?: number; last_success?: string
  last_error?: string; last_error_at?: string; error?: string
}
export interface IntegrationTestResult { ok: boolean; error?: string; permanent?: boolean; status?: number; duration_ms: number }
export type DeliveryStatus = 'pending' | 'delivered' | 'dead'
export interface Delivery {
  id: number; event_id: string; event_time: string; type: string; action: string; severity: string; subject: string
  status: DeliveryStatus; attempts: number; last_error?: string; next_attempt?: string; created_at: string; updated_at: string
}
export interface DeliveryPage { items: Delivery[]; total: number; limit: number; offset: number }
export const EVENT_TYPES: { id: string; label: string }[] = [
  { id: 'alert', label: 'Security alerts' }, { id: 'proxy_status', label: 'Proxy status' }, { id: 'auth', label: 'Sign-ins' },
  { id: 'config', label: 'Configuration changes' }, { id: 'system', label: 'System' }, { id: 'integration_health', label: 'Integration health' },
]
