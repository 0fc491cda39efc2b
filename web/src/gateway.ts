// Helpers shared by the gateway pages.
import { api, ApiError, type ProxyDetail } from './api'
import { confirmAction, toast } from './ui'

/** The base URL an SDK uses for a proxy mounted on this server. */
export function sdkBase(name: string, provider?: string, listenAddr?: string): string {
  let origin = window.location.origin
  if (listenAddr) {
    const i = listenAddr.lastIndexOf(':')
    let host = listenAddr.slice(0, i)
    if (!host || host === '0.0.0.0' || host === '[::]' || host === '::') host = window.location.hostname
    origin = window.location.protocol + '//' + host + listenAddr.slice(i)
  }
  const root = listenAddr ? origin : origin + '/p/' + name
  return provider === 'anthropic' ? root : root + '/v1'
}

/** The MCP (streamable HTTP) endpoint of a proxy, ending in a slash. */
export function mcpEndpoint(name: string, listenAddr?: string): string {
  const root = sdkBase(name, 'anthropic', listenAddr)
  return root + '/'
}

/** Starts, stops or restarts a proxy; returns the proxy, or null when it failed (a toast says why). */
export async function proxyAction(name: string, verb: 'start' | 'stop' | 'restart'): Promise<ProxyDetail | null> {
  if (verb === 'stop' && !(await confirmAction(`Stop ${name}?`, 'Clients get 503 until it is started again; requests in flight finish. The stopped state survives server restarts.', 'Stop proxy'))) return null
  try {
    const p = await api<ProxyDetail>('POST', `/proxies/${encodeURIComponent(name)}/${verb}`)
    toast(`${name}: ${p.status.state}${p.status.state === 'error' && p.status.reason ? ' — ' + p.status.reason : ''}`, p.status.state === 'error' ? 'error' : 'ok')
    return p
  } catch (e) {
    if (e instanceof ApiError) { toast(e.message, 'error'); return null }
    throw e
  }
}

/** Deletes a proxy after confirmation; true when it was deleted. */
export async function deleteProxy(name: string): Promise<boolean> {
  if (!(await confirmAction(`Delete proxy ${name}?`, `It stops at once and clients of /p/${name}/ get 404. Its request records stay. This cannot be undone.`, 'Delete proxy'))) return false
  try {
    await api('DELETE', '/proxies/' + encodeURIComponent(name))
    toast(`Deleted ${name}.`)
    return true
  } catch (e) {
    if (e instanceof ApiError) { toast(e.message, 'error'); return false }
    throw e
  }
}
