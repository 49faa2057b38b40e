/**
 * Finds the structured-output dialect an endpoint honours (src/llm/dialects.ts) with one tiny
 * request per dialect, before any record is read — as `synthq llm check` and an `auto` endpoint's
 * start do.
 *
 * The probe asks for a value the model is not told about in words (`{"synthq_probe": "ok"}`), so
 * only a server that really constrains its decoding to the schema gets it right: a server that
 * silently ignores a field it does not know (many do) shows up as "ignored", not as working. A
 * refusal whose text says the shape is not understood is "refused"; anything else that fails (an
 * outage, a bad key) ends the probe with the server's own words, and the configured dialect stays.
 */
import { Ajv } from 'ajv'
import { dialectRequest, fallbackAfter, isConstrained, isCapabilityRefusal, withSchemaInPrompt, type Dialect } from './dialects.ts'
import { extractJson, InvalidOutputError } from './json-output.ts'

export const PROBE_SCHEMA = {
  type: 'object',
  // maxLength: OpenAI's strict mode refuses it, as it would refuse the stages' schemas, so the
  // probe finds json_schema_strict there before any record does.
  properties: { synthq_probe: { type: 'string', enum: ['ok'], maxLength: 8 } },
  required: ['synthq_probe'],
  additionalProperties: false,
} as const

const PROBE_PROMPT = 'Say hello.'
const validProbe = new Ajv({ strict: false }).compile(PROBE_SCHEMA)

/** One probe request's outcome, as the server gave it (a failure as HTTP status and its text). */
export type ProbeSend = (body: Record<string, unknown>) => Promise<{ ok: true, content: string } | { ok: false, status?: number | undefined, reason: string, detail: string, transient: boolean }>

export interface ProbeAttempt {
  dialect: Dialect
  /** ok: valid answer; refused: the shape is not understood; ignored: accepted, answer not of the schema; failed: anything else. */
  outcome: 'ok' | 'refused' | 'ignored' | 'failed'
  status?: number
  /** The server's words (a refusal or failure), or the start of an answer that did not fit. */
  detail?: string
}

export interface ProbeResult {
  /** The dialect to use: the first that answered right, else the first that only asks (json_object/prompt) and was accepted. */
  dialect: Dialect | undefined
  attempts: ProbeAttempt[]
  /** The probe ended on a failure that is not about the request shape (the endpoint's words in the last attempt). */
  failed: boolean
}

/**
 * Tries dialects from `from` on, in fallback order. An answer that does not fit is asked again up
 * to `tries` times before the dialect counts as ignored (a fault-injecting or flaky server can
 * garble one answer; a server that ignores the field garbles all of them).
 */
export async function probeDialects (send: ProbeSend, from: Dialect, o: { model: string, tries?: number } = { model: '' }): Promise<ProbeResult> {
  const tries = o.tries ?? 3
  const attempts: ProbeAttempt[] = []
  let fallback: Dialect | undefined
  for (let dialect: Dialect | undefined = from; dialect !== undefined; dialect = fallbackAfter(dialect, attempts.at(-1)?.detail)) {
    const d = dialectRequest(dialect, PROBE_SCHEMA, 'synthq_probe', true)
    const messages = [{ role: 'user' as const, content: PROBE_PROMPT }]
    const body = { model: o.model, messages: d.schemaInPrompt ? withSchemaInPrompt(messages, PROBE_SCHEMA) : messages, temperature: 0, max_tokens: 24, ...d.body }
    let attempt: ProbeAttempt | undefined
    for (let i = 0; i < tries; i++) {
      const r = await send(body)
      if (!r.ok) {
        if (isCapabilityRefusal(r.status, r.detail)) { attempt = { dialect, outcome: 'refused', ...(r.status !== undefined ? { status: r.status } : {}), detail: r.detail }; break }
        attempt = { dialect, outcome: 'failed', ...(r.status !== undefined ? { status: r.status } : {}), detail: `${r.reason}${r.detail ? `: ${r.detail}` : ''}` }
        if (r.transient) continue
        break
      }
      if (fits(r.content)) { attempt = { dialect, outcome: 'ok' }; break }
      attempt = { dialect, outcome: 'ignored', detail: r.content.slice(0, 200) }
    }
    attempts.push(attempt!)
    if (attempt!.outcome === 'ok') return { dialect, attempts, failed: false }
    if (attempt!.outcome === 'failed') return { dialect: undefined, attempts, failed: true }
    // A dialect that only asks, accepted by the server: usable (answers are checked and repaired) if nothing better is.
    if (attempt!.outcome === 'ignored' && !isConstrained(dialect)) fallback ??= dialect
  }
  return { dialect: fallback ?? 'prompt', attempts, failed: false }
}

function fits (content: string): boolean {
  try {
    return validProbe(extractJson(content))
  } catch (err) {
    if (err instanceof InvalidOutputError) return false
    throw err
  }
}

/** One line per attempt, for `synthq llm check` and the start-up log. */
export function describeProbe (r: ProbeResult): string {
  const parts = r.attempts.map((a) => a.outcome === 'ok'
    ? `${a.dialect} ok`
    : `${a.dialect} ${a.outcome}${a.status !== undefined ? ` (HTTP ${a.status})` : ''}${a.detail ? `: ${oneLine(a.detail)}` : ''}`)
  return parts.join('; ')
}

function oneLine (s: string): string {
  const t = s.replace(/\s+/g, ' ').trim()
  return t.length > 240 ? `${t.slice(0, 240)}…` : t
}
