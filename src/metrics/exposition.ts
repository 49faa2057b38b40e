/**
 * Reading the Prometheus text exposition format back — what `synthq status` and the dashboard
 * do with the processes' /metrics — and the figures derived from it.
 *
 * Only samples are needed (comments and TYPE lines are skipped). A small parser rather than a
 * package: the one on npm (parse-prometheus-text-format 1.1.1) merges the series of a labelled
 * histogram into one and loses their labels. Format:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/

function parseLabels (body: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 0
  while (i < body.length) {
    const eq = body.indexOf('=', i)
    if (eq < 0) break
    const name = body.slice(i, eq).trim().replace(/^,/, '').trim()
    if (body[eq + 1] !== '"') break
    let value = ''
    let j = eq + 2
    for (; j < body.length && body[j] !== '"'; j++) {
      if (body[j] === '\\' && j + 1 < body.length) {
        const c = body[++j]
        value += c === 'n' ? '\n' : c
      } else value += body[j]
    }
    labels[name] = value
    i = j + 1
    while (i < body.length && (body[i] === ',' || body[i] === ' ')) i++
  }
  return labels
}

export function parseExposition (text: string): Sample[] {
  const out: Sample[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (!m) continue
    const v = m[4]!
    const value = v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v)
    out.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3]) : {}, value })
  }
  return out
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumOf (samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let total = 0
  for (const s of samples) if (s.name === name && matches(s.labels, match)) total += s.value
  return total
}

function matches (labels: Record<string, string>, match: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(match)) if (labels[k] !== v) return false
  return true
}

/**
 * The q-quantile of a histogram's buckets summed over the series matching `match`, by linear
 * interpolation inside the bucket, as PromQL's histogram_quantile(); null without observations.
 */
export function histogramQuantile (samples: readonly Sample[], name: string, q: number, match: Record<string, string> = {}): number | null {
  const buckets = new Map<number, number>()
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !matches(s.labels, match)) continue
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
    buckets.set(le, (buckets.get(le) ?? 0) + s.value)
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0])
  const total = sorted.at(-1)?.[1] ?? 0
  if (total === 0) return null
  const rank = q * total
  let lowerBound = 0
  let lowerCount = 0
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound // beyond the last finite bucket: its bound is all we know
      return lowerBound + (le - lowerBound) * ((rank - lowerCount) / Math.max(1, count - lowerCount))
    }
    lowerBound = le
    lowerCount = count
  }
  return lowerBound
}
