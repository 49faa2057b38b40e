/**
 * The pure parts of `synthq tap` (and `synthq dlq`): start positions and times from the command
 * line, `--where` filters, `--fields` projections and a terminal table. Nothing here reads a
 * topic.
 */
import { ConfigError } from '../../errors.ts'
import type { StartPosition } from '../../runtime/transport.ts'

// Where a read starts: the transport's term.
export type { StartPosition }

/** What tap knows of a record besides its decoded value: paths starting with `@` reach it. */
export interface RecordMeta {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: string | null
  headers: Record<string, string>
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/**
 * `--since`: an ISO 8601 date or time (2026-11-26, 2026-11-26T10:00:00Z) or a duration back
 * from now (90s, 10m, 2h, 1d, 1w; also "10m ago").
 */
export function parseSince (text: string, now = Date.now()): number {
  const t = text.trim()
  const rel = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)(?:\s+ago)?$/i.exec(t)
  if (rel) return Math.round(now - Number(rel[1]) * UNITS[rel[2]!.toLowerCase()]!)
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t)
    if (Number.isFinite(ms)) return ms
  }
  throw new ConfigError(`--since takes an ISO date or time (2026-11-26, 2026-11-26T10:00:00Z) or a duration back from now (30s, 10m, 2h, 1d), got "${text}"`)
}

/** `--offset N` (every partition) and `--offset P:N` (partition P), repeatable. */
export function parseOffsets (specs: readonly string[]): StartPosition & { kind: 'offset' } {
  const out: StartPosition & { kind: 'offset' } = { kind: 'offset', partitions: new Map() }
  for (const spec of specs) {
    const m = /^(?:(\d+):)?(\d+)$/.exec(spec.trim())
    if (!m) throw new ConfigError(`--offset takes N (every partition) or P:N (partition P), got "${spec}"`)
    const offset = Number(m[2])
    if (m[1] === undefined) {
      if (out.all !== undefined) throw new ConfigError('--offset N (for every partition) is given twice')
      out.all = offset
    } else {
      out.partitions.set(Number(m[1]), offset)
    }
  }
  return out
}

export interface Filter {
  path: string
  op: '=' | '!=' | '~' | '!~'
  /** The text after the operator; for ~ the compiled expression too. */
  text: string
  regex?: RegExp
}

/** `--where path=value`, `path!=value`, `path~regex`, `path!~regex` (`(?i)regex`: any case). */
export function parseWhere (expr: string): Filter {
  const m = /^([^=!~]+?)\s*(!=|!~|=|~)(.*)$/s.exec(expr)
  if (!m || !m[1]!.trim()) throw new ConfigError(`--where takes path=value, path!=value, path~regex or path!~regex (dotted path into the value, @key/@offset/@partition/@timestamp for the record), got "${expr}"`)
  const op = m[2] as Filter['op']
  const f: Filter = { path: m[1]!.trim(), op, text: m[3]! }
  if (op === '~' || op === '!~') {
    try {
      // (?i) at the start: case-insensitive, as in Java, Python and grep -P.
      f.regex = f.text.startsWith('(?i)') ? new RegExp(f.text.slice(4), 'i') : new RegExp(f.text)
    } catch (err) {
      throw new ConfigError(`--where ${expr}: not a regular expression: ${(err as Error).message}`)
    }
  }
  return f
}

/** Dotted path into a value (objects, maps, array indices); `@name` reaches the record's metadata. */
export function getPath (value: unknown, meta: RecordMeta, path: string): unknown {
  if (path.startsWith('@')) {
    const [name, ...rest] = path.slice(1).split('.')
    const head = name === 'headers' ? meta.headers : (meta as unknown as Record<string, unknown>)[name!]
    return rest.length ? walk(head, rest) : head
  }
  if (path === '.' || path === '') return value
  return walk(value, path.split('.'))
}

function walk (value: unknown, parts: readonly string[]): unknown {
  let v = value
  for (const p of parts) {
    if (v === null || v === undefined) return undefined
    if (Buffer.isBuffer(v)) return undefined
    if (typeof v !== 'object') return undefined
    v = (v as Record<string, unknown>)[p]
  }
  return v
}

/** A value as --where compares it and a table shows it. */
export function scalarText (v: unknown): string {
  if (v === undefined) return ''
  if (v === null) return 'null'
  if (Buffer.isBuffer(v)) return v.toString('base64')
  if (typeof v === 'string') return v
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v)
  return JSON.stringify(v, jsonReplacer)
}

function matchOne (v: unknown, f: Filter): boolean {
  const text = scalarText(v)
  if (f.op === '=' || f.op === '!=') return text === f.text
  return f.regex!.test(text)
}

/** Every filter holds (AND). An array field matches when any element does. */
export function matches (value: unknown, meta: RecordMeta, filters: readonly Filter[]): boolean {
  for (const f of filters) {
    const v = getPath(value, meta, f.path)
    const hit = Array.isArray(v) ? v.some((e) => matchOne(e, f)) : (v !== undefined && matchOne(v, f))
    const negated = f.op === '!=' || f.op === '!~'
    if (negated ? (Array.isArray(v) ? hit : v !== undefined && hit) : !hit) return false
  }
  return true
}

/** `--fields a,b.c,@offset` as a flat object keyed by the paths. */
export function project (value: unknown, meta: RecordMeta, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of fields) {
    const v = getPath(value, meta, f)
    out[f] = v === undefined ? null : v
  }
  return out
}

/** JSON.stringify replacer: bytes as base64, bigints as strings (as tap has always printed). */
export function jsonReplacer (_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return Buffer.from((v as { data: number[] }).data).toString('base64')
  return v
}

/** The terminal width for tables: the terminal's, else $COLUMNS, else 120. */
export function terminalWidth (stream: { columns?: number, isTTY?: boolean } = process.stdout): number {
  if (stream.isTTY && stream.columns) return stream.columns
  const env = Number(process.env.COLUMNS)
  return Number.isInteger(env) && env >= 20 ? env : 120
}

function oneLine (s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ')
}

function truncate (s: string, width: number): string {
  if (s.length <= width) return s
  if (width <= 1) return s.slice(0, width)
  return s.slice(0, width - 1) + '…'
}

/**
 * Column widths that fit `total` characters (two spaces between columns): each column gets what
 * it needs while that fits; otherwise the widest column gives way, then the next widest, none
 * below its minimum (`mins[i]`, default `min`; Infinity: never cut, for ids and times).
 */
export function fitWidths (natural: readonly number[], total: number, min = 6, mins?: readonly number[]): number[] {
  const gaps = 2 * Math.max(0, natural.length - 1)
  const room = Math.max(1, total - gaps)
  const widths = natural.map((n) => Math.max(1, n))
  const floor = (i: number): number => Math.min(widths[i]!, mins?.[i] ?? min)
  const floors = widths.map((_, i) => floor(i))
  let sum = widths.reduce((a, b) => a + b, 0)
  while (sum > room) {
    const open = widths.map((_, i) => i).filter((i) => widths[i]! > floors[i]!)
    if (open.length === 0) break
    let widest = open[0]!
    for (const i of open) if (widths[i]! > widths[widest]!) widest = i
    const second = Math.max(floors[widest]!, ...open.filter((i) => i !== widest).map((i) => widths[i]!))
    // Down to the next widest column, or just enough, whichever cuts less.
    const cut = Math.max(1, Math.min(widths[widest]! - second, sum - room))
    widths[widest] = widths[widest]! - cut
    sum -= cut
  }
  return widths
}

/** A table as lines: header, rule, rows; cells on one line, truncated with … to fit `total`. */
export function renderTable (header: readonly string[], rows: ReadonlyArray<readonly string[]>, total: number, mins?: readonly number[]): string[] {
  const cells = rows.map((r) => r.map((c) => oneLine(c)))
  const natural = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)))
  const widths = fitWidths(natural, total, 6, mins)
  return tableLines(header, cells, widths)
}

export function tableLines (header: readonly string[], rows: ReadonlyArray<readonly string[]>, widths: readonly number[]): string[] {
  const line = (r: readonly string[]): string => r.map((c, i) => {
    const cell = truncate(oneLine(c), widths[i]!)
    return i === r.length - 1 ? cell : cell.padEnd(widths[i]!)
  }).join('  ').trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)]
}
