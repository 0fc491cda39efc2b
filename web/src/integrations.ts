// Form state of an integration: the kind's fields (GET /integrations/kinds)
// as strings and booleans for inputs, and back to the API's settings and
// secrets. Dotted field names are nested objects ("tls.ca_pem").
import type { ApiError, KindField } from './api'

export type FormValues = Record<string, string | boolean>

function getPath(o: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = o
  for (const part of dotted.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}

function setPath(o: Record<string, unknown>, dotted: string, v: unknown) {
  const parts = dotted.split('.')
  let cur = o
  for (const part of parts.slice(0, -1)) {
    if (!cur[part] || typeof cur[part] !== 'object') cur[part] = {}
    cur = cur[part] as Record<string, unknown>
  }
  const last = parts[parts.length - 1]!
  if (v === undefined) delete cur[last]
  else cur[last] = v
}

function pruneEmpty(o: Record<string, unknown>) {
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      pruneEmpty(v as Record<string, unknown>)
      if (!Object.keys(v).length) delete o[k]
    }
  }
}

/** The inputs' values of settings (secrets are never shown: empty). */
export function formValues(fields: KindField[], settings: Record<string, unknown>): FormValues {
  const out: FormValues = {}
  for (const f of fields) {
    if (f.secret) { out[f.name] = ''; continue }
    const v = getPath(settings, f.name)
    switch (f.type) {
      case 'bool': out[f.name] = v === true; break
      case 'duration': out[f.name] = typeof v === 'number' && v ? String(v / 1e9) : ''; break
      case 'int': out[f.name] = typeof v === 'number' && v ? String(v) : ''; break
      case 'list': out[f.name] = Array.isArray(v) ? v.join('\n') : ''; break
      case 'map': out[f.name] = v && typeof v === 'object' ? Object.entries(v as Record<string, string>).map(([k, x]) => `${k}: ${x}`).join('\n') : ''; break
      default: out[f.name] = typeof v === 'string' ? v : ''
    }
  }
  return out
}

/**
 * The settings object of the form, keeping settings the form does not know;
 * errors holds what cannot be converted, by field name.
 */
export function toSettings(fields: KindField[], values: FormValues, original: Record<string, unknown>): { settings: Record<string, unknown>; errors: Record<string, string> } {
  const settings = JSON.parse(JSON.stringify(original || {})) as Record<string, unknown>
  const errors: Record<string, string> = {}
  for (const f of fields) {
    if (f.secret) continue
    const raw = values[f.name]
    const s = typeof raw === 'string' ? raw.trim() : ''
    let v: unknown
    switch (f.type) {
      case 'bool': v = raw === true ? true : undefined; break
      case 'int':
        if (s && !/^-?\d+$/.test(s)) errors[f.name] = 'Enter a whole number.'
        v = s ? Number(s) : undefined
        break
      case 'duration':
        if (s && !(Number(s) >= 0)) errors[f.name] = 'Enter a number of seconds.'
        v = s ? Math.round(Number(s) * 1e9) : undefined
        break
      case 'list': v = s ? s.split(/[\n,]/).map((x) => x.trim()).filter(Boolean) : undefined; break
      case 'map': {
        const m: Record<string, string> = {}
        for (const line of s.split('\n').map((x) => x.trim()).filter(Boolean)) {
          const i = line.indexOf(':')
          if (i <= 0) { errors[f.name] = 'Write one "Name: value" per line.'; break }
          m[line.slice(0, i).trim()] = line.slice(i + 1).trim()
        }
        v = Object.keys(m).length ? m : undefined
        break
      }
      default: v = s || undefined
    }
    if (!v && f.required && f.type !== 'bool') errors[f.name] = errors[f.name] || 'Required.'
    setPath(settings, f.name, v)
  }
  pruneEmpty(settings)
  return { settings, errors }
}

/**
 * The API's field errors keyed as the form names its inputs: name, types,
 * min_severity, categories, settings.<field>, secrets.<field>.
 */
export function integrationErrors(e: ApiError): Record<string, string> {
  const out: Record<string, string> = {}
  for (const d of e.details) {
    const key = (d.field || d.location || '').replace(/^body\./, '').replace(/\[\d+\]/g, '')
    if (key && !out[key]) out[key] = d.message
  }
  return out
}

/** "12 s", "4 min", "2 h 5 min" from seconds. */
export function age(sec?: number): string {
  if (sec === undefined || sec === null) return '—'
  if (sec < 60) return Math.round(sec) + ' s'
  const m = Math.floor(sec / 60)
  if (m < 60) return m + ' min'
  const h = Math.floor(m / 60)
  if (h < 24) return `${h} h ${m % 60} min`
  return `${Math.floor(h / 24)} d ${h % 24} h`
}

/** A field name as a label: "tls.insecure_skip_verify" → "TLS: insecure skip verify". */
export function label(name: string): string {
  const words = (s: string) => s.replace(/_/g, ' ').replace(/\b(url|tls|ca|pem|api|id|hec)\b/gi, (w) => w.toUpperCase())
  const parts = name.split('.')
  const last = words(parts.pop()!)
  const text = last.charAt(0).toUpperCase() + last.slice(1)
  return parts.length ? parts.map(words).join(' ') + ': ' + text : text
}
