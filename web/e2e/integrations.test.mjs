// Browser tests of Settings → Integrations: the real `bulwark serve` binary
// on a temp port and a webhook receiver started here (plain node:http, its
// answer switchable between 204 and 400), driven through Debian chromium
// with playwright-core. An integration is created through the form (a
// field error from the API first), tested, delivers, dead-letters while the
// receiver refuses, and is retried from the page; the audit log filters by
// integration.
// Run with `make test-browser` (or `npm run test:browser` in web/).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { freePort, waiter, screenshotter, apiSession } from './harness.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '..', '..')
const artifacts = path.join(here, 'artifacts')
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const ADMIN_PW = 'e2e integrations horse battery staple'
const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

let tmp, proc, base, firstPassword, browser, receiver, receiverURL
let serverLog = ''
// The receiver's answer and what it accepted.
let answer = 204
const received = []


const waitFor = waiter(() => serverLog)

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'bulwark-e2e-integrations-'))
  mkdirSync(artifacts, { recursive: true })
  const bin = path.join(tmp, 'bulwark')
  execFileSync('go', ['build', '-o', bin, './cmd/bulwark'], { cwd: repo, stdio: 'inherit' })

  // A Standard Webhooks receiver: signed POSTs only.
  receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d) => { body += d })
    req.on('end', () => {
      if (req.method !== 'POST' || !req.headers['webhook-signature'] || !req.headers['webhook-id']) {
        res.writeHead(401).end('unsigned')
        return
      }
      if (answer < 300) received.push(JSON.parse(body))
      res.writeHead(answer, { 'Content-Type': 'text/plain' }).end(answer < 300 ? '' : 'bad request: schema mismatch')
    })
  })
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r))
  receiverURL = `http://127.0.0.1:${receiver.address().port}/hook`

  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  proc = spawn(bin, ['serve', '--data-dir', path.join(tmp, 'data'), '--listen', `127.0.0.1:${port}`], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout.on('data', (d) => { out += d })
  proc.stderr.on('data', (d) => { serverLog += d })
  firstPassword = await waitFor(async () => out.match(/\|\s+password: (\S+)\s+\|/)?.[1], 'the first-admin password')
  await waitFor(async () => (await fetch(base + '/readyz')).ok, 'readyz')
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
})

after(async () => {
  await browser?.close()
  if (proc && proc.exitCode === null) {
    proc.kill('SIGTERM')
    await new Promise((r) => proc.once('exit', r))
  }
  await new Promise((r) => (receiver ? receiver.close(r) : r()))
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

const shot = screenshotter(artifacts)

// An admin session outside the browser: (method, path, body) → {status, body}.
const apiLogin = (username, password) => apiSession(base, username, password)

test('admin: add a webhook integration, test it, see it deliver, dead-letter and retry', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await ctx.newPage()
  const problems = []
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text()) })
  page.on('pageerror', (e) => problems.push(String(e)))

  await page.goto(base + '/login')
  await page.fill('#username', 'admin')
  await page.fill('#password', firstPassword)
  await page.click('button[type=submit]')
  await page.waitForURL(/\/change-password/)
  await page.fill('#current_password', firstPassword)
  await page.fill('#new_password', ADMIN_PW)
  await page.fill('#repeat', ADMIN_PW)
  await page.click('button[type=submit]')
  await page.waitForURL(base + '/')
  const admin = await apiLogin('admin', ADMIN_PW)

  // Settings → Integrations, empty at first.
  await page.click('nav >> text=Settings')
  await page.waitForURL(/\/settings$/)
  await page.click('[data-test=integrations-tab]')
  await page.waitForURL(/\/settings\/integrations/)
  await page.locator('[data-test=integrations-empty]').waitFor()

  // Add: the form follows the kind's fields.
  await page.click('[data-test=add-integration]')
  const draft = page.locator('[data-test=integration-new]')
  await draft.waitFor()
  await draft.locator('[data-test=integration-kind]').selectOption('webhook')
  await draft.locator('[data-field=url]').waitFor()
  await draft.locator('[data-test=integration-name]').fill('soc-hook')
  // Every event type is on by default.
  for (const t of ['alert', 'config', 'system']) assert.ok(await draft.locator(`[data-type=${t}]`).isChecked(), t + ' is on by default')

  // The API's field error shows under its field: an ftp URL.
  await draft.locator('[data-field=url]').fill('ftp://example.com/hook')
  await draft.locator('[data-secret=secrets]').fill(WHSEC)
  await draft.locator('[data-test=integration-save]').click()
  const urlField = draft.locator('.field', { has: page.locator('[data-field=url]') })
  await urlField.locator('.field-error', { hasText: 'http' }).waitFor()
  assert.equal(await draft.locator('[data-field=url]').getAttribute('aria-invalid'), 'true')
  await shot(page, 'integrations-01-field-error')

  await draft.locator('[data-field=url]').fill(receiverURL)
  await draft.locator('[data-test=integration-save]').click()
  const card = page.locator('[data-test=integration-soc-hook]')
  await card.locator('[data-test=integration-counters]').waitFor()
  // The secret is write-only: its state, never its value.
  await card.locator('[data-test=secret-state-secrets]', { hasText: 'set' }).waitFor()
  assert.equal(await card.locator('[data-secret=secrets]').inputValue(), '')
  assert.ok(!(await page.content()).includes(WHSEC.slice(6)), 'the secret is not in the page')
  const listed = await admin('GET', '/integrations')
  assert.equal(listed.body.items[0].kind, 'webhook')
  assert.ok(!JSON.stringify(listed.body).includes(WHSEC.slice(6)))

  // Test connection: the receiver gets the test event, the page says so.
  await card.locator('[data-test=integration-test]').click()
  await card.locator('[data-test=test-result]', { hasText: 'Test event delivered' }).waitFor()
  await waitFor(async () => received.some((e) => JSON.stringify(e).includes('integration.test')), 'the test event at the receiver')

  // The test is audited (a config event), routed to the integration and
  // delivered through the queue: health and a delivered row.
  await card.locator('[data-test=integration-state]', { hasText: 'Healthy' }).waitFor({ timeout: 20000 })
  await card.locator('[data-test=deliveries] tr[data-status=delivered]').first().waitFor({ timeout: 20000 })
  await waitFor(async () => Number(await card.locator('[data-test=counter-sent]').innerText()) >= 1, 'the sent counter')
  await shot(page, 'integrations-02-healthy')

  // The receiver refuses (400): the next event is a dead letter.
  answer = 400
  let r = await admin('PATCH', '/settings', { organization_name: 'E2E Integrations Org' })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  const deadRows = card.locator('[data-test=dead-letters] tbody tr')
  await deadRows.first().waitFor({ timeout: 20000 })
  assert.match(await deadRows.first().innerText(), /400/)
  await card.locator('[data-test=integration-state]', { hasText: 'Failed' }).waitFor({ timeout: 20000 })
  await card.locator('[data-test=last-error]', { hasText: '400' }).waitFor()
  await shot(page, 'integrations-03-dead-letter')

  // The health change to failed is an event too (integration_health),
  // routed to the same refusing receiver: a second dead letter.
  await waitFor(async () => (await deadRows.count()) >= 2, 'the health event dead-lettered too')

  // The receiver is fixed; Retry sends one dead letter again, Retry all the rest.
  answer = 204
  await new Promise((r) => setTimeout(r, 2000)) // deliveries already under way finish
  const before = received.length
  const n = await deadRows.count()
  await card.locator('[data-test=retry-one]').last().click()
  await waitFor(async () => (await deadRows.count()) === n - 1, 'one dead letter retried')
  await waitFor(async () => received.slice(before).some((e) => JSON.stringify(e).includes('settings.update')), 'the retried event at the receiver')
  await card.locator('[data-test=retry-all]').click()
  await waitFor(async () => (await deadRows.count()) === 0, 'every dead letter retried')
  await waitFor(async () => received.length >= before + n, 'every retried event at the receiver')
  // A failure keeps the integration degraded for a while; it is no longer failed.
  await card.locator('[data-test=integration-state]', { hasText: /Healthy|Degraded/ }).waitFor({ timeout: 20000 })
  await card.locator('[data-test=deliveries] tr[data-status=delivered]', { hasText: 'settings.update' }).waitFor()
  await shot(page, 'integrations-04-retried')

  // Disable from the header switch.
  await card.locator('[data-test=integration-enabled]').uncheck()
  await card.locator('[data-test=integration-state]', { hasText: 'Disabled' }).waitFor()
  r = await admin('GET', '/integrations')
  assert.equal(r.body.items[0].enabled, false)

  // The audit log filters by integration: create, test, retry, update.
  await page.click('nav >> text=Audit log')
  await page.waitForURL(/\/audit/)
  await page.selectOption('[data-test=audit-resource]', 'integration')
  await page.click('form.filters-audit button[type=submit]')
  await page.waitForURL(/resource_type=integration/)
  await waitFor(async () => (await page.locator('[data-test=audit-table] tbody tr[data-action="integration.retry"]').count()) === 2, 'both retries in the audit log')
  const actions = await page.locator('[data-test=audit-table] tbody tr').evaluateAll((rows) => rows.map((x) => x.getAttribute('data-action')))
  for (const a of ['integration.create', 'integration.test', 'integration.retry', 'integration.update']) assert.ok(actions.includes(a), a + ' in ' + actions)
  assert.ok(actions.every((a) => a.startsWith('integration.')), 'only integration entries: ' + actions)
  await shot(page, 'integrations-05-audit')

  assert.deepEqual(problems, [])
  await ctx.close()
})

test('keyboard: the accordion opens and closes from the keyboard', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await ctx.newPage()
  await page.goto(base + '/login')
  await page.fill('#username', 'admin')
  await page.fill('#password', ADMIN_PW)
  await page.click('button[type=submit]')
  await page.waitForURL(base + '/')
  await page.goto(base + '/settings/integrations')
  const toggle = page.locator('[data-test=integration-soc-hook] .integ-toggle')
  await toggle.waitFor()
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false')
  await toggle.focus()
  await page.keyboard.press('Enter')
  await page.locator('[data-test=integration-soc-hook] [data-test=integration-counters]').waitFor()
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true')
  await page.keyboard.press('Space')
  await waitFor(async () => (await toggle.getAttribute('aria-expanded')) === 'false', 'the card closed')
  await ctx.close()
})
