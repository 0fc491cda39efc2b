// One EventSource on /api/v1/live shared by every page. The browser sends
// the session cookie (same origin); a broken stream is reopened with
// exponential backoff, and listeners learn about reconnects so they can
// reload what they may have missed.
import { reactive } from 'vue'
import type { LiveEvent } from './api'

type Listener = (ev: LiveEvent) => void
type ReconnectListener = () => void

export const liveState = reactive({ connected: false })

const listeners = new Set<Listener>()
const reconnectListeners = new Set<ReconnectListener>()
let es: EventSource | null = null
let timer: number | undefined
let delay = 1000
let wanted = false
let everOpened = false

function open() {
  if (!wanted || es) return
  const src = new EventSource('/api/v1/live')
  es = src
  src.onopen = () => {
    liveState.connected = true
    delay = 1000
    if (everOpened) reconnectListeners.forEach((f) => f())
    everOpened = true
  }
  src.onmessage = (m) => {
    let ev: LiveEvent
    try { ev = JSON.parse(m.data) } catch { return }
    listeners.forEach((f) => f(ev))
  }
  src.onerror = () => {
    // The browser retries by itself unless the server answered with an
    // error status; closing and reopening covers both cases with backoff.
    liveState.connected = false
    src.close()
    es = null
    if (!wanted) return
    window.clearTimeout(timer)
    timer = window.setTimeout(open, delay)
    delay = Math.min(delay * 2, 30000)
  }
}

export function startLive() {
  wanted = true
  open()
}

export function stopLive() {
  wanted = false
  window.clearTimeout(timer)
  es?.close()
  es = null
  everOpened = false
  liveState.connected = false
}

/** Calls f for every live event until the returned function is called. */
export function onLive(f: Listener, onReconnect?: ReconnectListener): () => void {
  listeners.add(f)
  if (onReconnect) reconnectListeners.add(onReconnect)
  return () => {
    listeners.delete(f)
    if (onReconnect) reconnectListeners.delete(onReconnect)
  }
}
