/**
 * Failures of a search backend, sorted by what the pipeline should do about them:
 *
 * - {@link SearchUnavailableError}: the service is down, overloaded or slow (HTTP 5xx/408/429,
 *   connection refused/reset, timeout). Retriable: the runtime's retry policy tries again later.
 * - `ConfigError` (src/errors.ts): wrong URL, index or credentials (HTTP 401/403/404), a missing
 *   index file. Never retried; the message names the setting to fix and never a secret.
 * - {@link SearchRejectedError}: the server refused this particular query (HTTP 400 and other
 *   4xx). Not retried: the record goes to the dead-letter topic with the server's reason.
 * - {@link SearchResponseError}: the answer is not a search response at all (HTML from a proxy,
 *   truncated or wrongly shaped JSON). Not retried: usually a URL pointing at the wrong service.
 */
import { SynthqError, type SynthqErrorCode, type SynthqErrorOptions } from '../errors.ts'

export const SEARCH_UNAVAILABLE = 'SYNTHQ_SEARCH_UNAVAILABLE' satisfies SynthqErrorCode
export const SEARCH_REJECTED = 'SYNTHQ_SEARCH_REJECTED' satisfies SynthqErrorCode
export const SEARCH_RESPONSE = 'SYNTHQ_SEARCH_RESPONSE' satisfies SynthqErrorCode

export interface SearchErrorOptions extends SynthqErrorOptions {
  /** HTTP status, when there was a response. */
  status?: number
}

/** The search service is unreachable, overloaded or too slow; retriable. */
export class SearchUnavailableError extends SynthqError {
  readonly status?: number
  constructor (message: string, opts: SearchErrorOptions = {}) {
    super(SEARCH_UNAVAILABLE, message, { retriable: true, ...opts })
    if (opts.status !== undefined) this.status = opts.status
  }
}

/** The service refused this query (e.g. HTTP 400); not retriable. */
export class SearchRejectedError extends SynthqError {
  readonly status?: number
  constructor (message: string, opts: SearchErrorOptions = {}) {
    super(SEARCH_REJECTED, message, { retriable: false, ...opts })
    if (opts.status !== undefined) this.status = opts.status
  }
}

/** The answer was not a search response of the expected shape; not retriable. */
export class SearchResponseError extends SynthqError {
  constructor (message: string, opts: SynthqErrorOptions = {}) {
    super(SEARCH_RESPONSE, message, { retriable: false, ...opts })
  }
}
