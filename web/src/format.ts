export function dateTime(s?: string): string {
  if (!s) return '—'
  const d = new Date(s)
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

export function ago(s?: string): string {
  if (!s) return 'never'
  const sec = Math.round((Date.now() - new Date(s).getTime()) / 1000)
  if (sec < 45) return 'just now'
  if (sec < 3600) return `${Math.round(sec / 60)} min ago`
  if (sec < 86400) return `${Math.round(sec / 3600)} h ago`
  return `${Math.round(sec / 86400)} d ago`
}

export function duration(sec: number): string {
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60)
  if (d) return `${d} d ${h} h`
  if (h) return `${h} h ${m} min`
  return `${m} min`
}

export function num(n: number): string {
  return n.toLocaleString()
}

/** US dollars: cents for amounts of a dollar and more, more digits below. */
export function usd(n: number | undefined): string {
  const v = n || 0
  if (v === 0) return '$0.00'
  if (Math.abs(v) >= 1) return '$' + v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })
  if (Math.abs(v) >= 0.01) return '$' + v.toFixed(2)
  return '$' + v.toPrecision(2).replace(/0+$/, '')
}

/** Milliseconds as "12 ms" or "1.4 s". */
export function ms(n: number | undefined): string {
  const v = n || 0
  if (v >= 1000) return (v / 1000).toFixed(1) + ' s'
  if (v >= 10) return Math.round(v) + ' ms'
  return (Math.round(v * 10) / 10) + ' ms'
}

/** Large counts as 1.2k, 3.4M. */
export function compact(n: number | undefined): string {
  const v = n || 0
  if (Math.abs(v) < 10000) return v.toLocaleString()
  return v.toLocaleString(undefined, { notation: 'compact', maximumFractionDigits: 1 })
}

/** A date without the time. */
export function day(s?: string): string {
  if (!s) return '—'
  return new Date(s).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
}
