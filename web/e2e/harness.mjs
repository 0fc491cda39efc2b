// Helpers the browser tests share: free ports, polling, pages that collect
// console errors, screenshots and an API session. Not a test file itself
// (node --test runs *.test.mjs only).
import { createServer } from 'node:net'
import path from 'node:path'

// freePort returns a TCP port free on 127.0.0.1 right now.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) })
  })
}

// waiter returns waitFor(fn, what, ms): polls fn until it returns a truthy
// value, or fails after ms with the tail of log() (the server's output).
export function waiter(log, pollMs = 150) {
  return async function waitFor(fn, what, ms = 20000) {
    const end = Date.now() + ms
    for (;;) {
      const v = await fn().catch(() => undefined)
      if (v) return v
      if (Date.now() > end) throw new Error('timed out waiting for ' + what + '\n' + log().slice(-3000))
      await new Promise((r) => setTimeout(r, pollMs))
    }
  }
}

// openPage opens a page in a new context; problems collects console errors
// (other than 4xx answers the tests cause on purpose) and page errors.
export async function openPage(browser, opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts })
  const page = await ctx.newPage()
  const problems = []
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text()) })
  page.on('pageerror', (e) => problems.push(String(e)))
  return { ctx, page, problems }
}

// screenshotter returns shot(page, name): a full-page PNG in dir.
export const screenshotter = (dir) => (page, name) => page.screenshot({ path: path.join(dir, name + '.png'), fullPage: true })

// apiSession logs in to the admin API at base and returns
// (method, path, body) → {status, body} with the session cookie and CSRF token.
export async function apiSession(base, username, password) {
  const r = await fetch(base + '/api/v1/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }),
  })
  const cookies = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
  const csrf = (await r.json()).csrf_token
  return async (method, p, body) => {
    const res = await fetch(base + '/api/v1' + p, {
      method, body: body && JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', Cookie: cookies, 'X-CSRF-Token': csrf },
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null }
  }
}
