/**
 * What a failed request means for the pipeline: an error the retry loop and the runtime act on
 * (retry, dead-letter, stop), and, for a refused request shape, the endpoint's next
 * structured-output dialect.
 */
import { AbortError } from 'p-retry'
import type { Logger } from '../log.ts'
import type { StageSettings } from './config.ts'
import { fallbackAfter, type Dialect } from './dialects.ts'
import { LlmRejectedError, LlmUnavailableError, misconfigurationHint, type ClassifiedFailure } from './errors.ts'

/** The per-endpoint state these decisions change (part of the client's endpoint runtime). */
export interface EndpointVerdicts {
  /** The structured-output dialect requests use now. */
  dialect: Dialect
  /** Dialects the endpoint refused, in its own words. */
  dialectRefusals: Array<{ dialect: Dialect, status?: number | undefined, detail: string }>
  /** Set once the endpoint rejected the configuration (401/403/404): every later call fails with it. */
  misconfigured?: LlmRejectedError
}

/**
 * The endpoint refused `dialect` as a request shape it does not take: every stage on it moves to
 * the next dialect (once, however many requests were refused at the same time), and the request
 * is tried again at once in the new one. Said once, as a warning with the server's own words.
 */
export function fallBack (s: StageSettings, rt: EndpointVerdicts, dialect: Dialect, f: ClassifiedFailure, logger: Logger): void {
  const next = fallbackAfter(dialect, f.detail)
  if (rt.dialect === dialect && next) {
    rt.dialect = next
    rt.dialectRefusals.push({ dialect, status: f.status, detail: f.detail })
    logger.warn({ endpoint: s.endpoint.name, from: dialect, to: next, status: f.status, detail: f.detail.slice(0, 500) },
      `LLM endpoint ${s.endpoint.name} does not take structured outputs as ${dialect} (${f.reason}: ${f.detail.slice(0, 200)}); using ${next} from now on`)
  }
}

/**
 * The error a classified failure becomes. Transient: an LlmUnavailableError p-retry retries
 * (carrying Retry-After). Misconfigured: an LlmRejectedError that marks the endpoint, is logged
 * and reported to `onFatal` once, and is not retried. Anything else the endpoint refused: not
 * retried, so the record is dead-lettered with the server's reason.
 */
export function failureToError (f: ClassifiedFailure, s: StageSettings, rt: EndpointVerdicts, where: Parameters<typeof misconfigurationHint>[1], err: unknown, logger: Logger, onFatal?: (e: LlmRejectedError) => void): Error {
  if (f.kind === 'aborted') return new AbortError(err as Error)
  if (f.kind === 'transient') {
    const e = new LlmUnavailableError(`${f.reason}${f.detail ? `: ${f.detail}` : ''}`, { ...(f.status !== undefined ? { status: f.status } : {}) })
    if (f.retryAfterMs !== undefined) Object.assign(e, { retryAfterMs: f.retryAfterMs })
    return e
  }
  if (f.kind === 'misconfigured') {
    const rejected = new LlmRejectedError(`stage ${s.stage}: ${misconfigurationHint(f.status, where)} (${f.reason}: ${f.detail})`, { endpointMisconfigured: true, ...(f.status !== undefined ? { status: f.status } : {}), context: { stage: s.stage, endpoint: s.endpoint.name } })
    if (!rt.misconfigured) {
      rt.misconfigured = rejected
      logger.error({ stage: s.stage, endpoint: s.endpoint.name, status: f.status }, rejected.message)
      onFatal?.(rejected)
    }
    return new AbortError(rejected)
  }
  logger.error({ stage: s.stage, endpoint: s.endpoint.name, status: f.status, detail: f.detail }, `stage ${s.stage}: the LLM endpoint refused the request (${f.reason})`)
  return new AbortError(new LlmRejectedError(`stage ${s.stage}: the endpoint ${s.endpoint.name} refused the request (${f.reason}): ${f.detail}`, { ...(f.status !== undefined ? { status: f.status } : {}), context: { stage: s.stage, endpoint: s.endpoint.name } }))
}
