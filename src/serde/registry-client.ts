/**
 * The schema registry as synthq uses it: register a subject's schema, fetch a writer schema by
 * id, test compatibility. Built on @kafkajs/confluent-schema-registry (HTTP, retries, id cache);
 * registry errors are turned into SynthqErrors that name the subject and say what to do.
 */
import { SchemaRegistry as ConfluentClient, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry'
import pRetry from 'p-retry'
import type avro from 'avsc'
import { request } from 'undici'
import { DEFAULT_REGISTRY_TIMEOUT_MS, type RegistryConnection } from '../config/connection.ts'
import { ConfigError, DecodeError, SchemaIncompatibleError, SynthqError } from '../errors.ts'

import type { RegisteredSchema, SchemaRegistry } from './registry.ts'

interface HttpishError { status?: number, message?: string }

type LibMiddleware = NonNullable<ConstructorParameters<typeof ConfluentClient>[0]['middlewares']>[number]

/**
 * Gives every request of the registry library a timeout: it has none by default, so a registry
 * that accepts a connection and never answers would hold the caller for ever. A timed-out request
 * fails like a refused connection does (the library reports both as HTTP 400 with the socket's
 * message), and callers see SYNTHQ_REGISTRY_UNAVAILABLE, which the runners retry.
 */
function requestTimeout (ms: number): LibMiddleware {
  return () => ({
    async prepareRequest (next) {
      const req = await next()
      return req.timeout() ? req : req.enhance({ timeout: ms })
    },
  })
}

function statusOf (err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? (err as HttpishError).status : undefined
}

/**
 * A request that timed out or whose connection broke mid-way is sent again, up to
 * RESEND_ATTEMPTS in all: every call made here is idempotent (a look-up, a compatibility test,
 * setting a level, or registering a schema, which returns the schema's id when it is already
 * there). Seen with Apicurio under concurrent registrations: a request received in full and
 * never answered, which without a timeout held a worker for ever.
 */
const RESEND_ATTEMPTS = 4

/** The registry library's retry (mappersmith's): every method, on 5xx, timeouts and broken connections. */
const LIB_RETRY = {
  retries: RESEND_ATTEMPTS - 1,
  enableRetry: () => true,
  validateRetry: (response: { responseStatus: number, error: () => Error | null }) => response.responseStatus >= 500 || response.error()?.name === 'TimeoutError',
}

/** undici's errors for the same cases, for the calls made here directly. */
function isTransientHttpFailure (err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(code)
}

async function resending<T> (call: () => Promise<T>): Promise<T> {
  return await pRetry(call, { retries: RESEND_ATTEMPTS - 1, minTimeout: 100, factor: 2, shouldRetry: ({ error }) => isTransientHttpFailure(error) })
}

/** Registrations that lose a race with another worker are repeated at most this often. */
const MAX_REGISTER_ATTEMPTS = 5

/**
 * The registry's answer when two clients create the same thing at once — Apicurio's ccompat API
 * says "A rule named 'COMPATIBILITY' already exists" (HTTP 409) to the second of two workers
 * setting a new subject's compatibility, and may say "… already exists" to the second creating
 * the subject itself. Not an incompatible schema: the other worker's write went through.
 */
function isConcurrentCreation (err: unknown): boolean {
  const status = statusOf(err)
  return status === 409 && /already exists/i.test((err as Error | undefined)?.message ?? '') && !/incompatible/i.test((err as Error).message)
}

function compatibilityMismatch (url: string, subject: string, level: string, cause: unknown): ConfigError {
  return new ConfigError(
    `Subject "${subject}" at the schema registry ${url} has compatibility ${level}; synthq registers its schemas with BACKWARD. ` +
    `Set it back with: curl -X PUT -H 'content-type: application/vnd.schemaregistry.v1+json' -d '{"compatibility":"BACKWARD"}' ${url}/config/${encodeURIComponent(subject)}`,
    { cause, context: { subject } })
}

/** The Confluent Schema Registry HTTP API (Confluent's registry, Apicurio's ccompat API, …). */
export class RegistryClient implements SchemaRegistry {
  readonly url: string
  readonly #lib: ConfluentClient
  readonly #authHeader: string | undefined
  /** Per-request limit for the calls made here with undici (headers, then body). */
  readonly #timeouts: { headersTimeout: number, bodyTimeout: number }

  constructor (conn: RegistryConnection) {
    this.url = conn.url
    const auth = conn.username && conn.password ? { username: conn.username, password: conn.password.reveal() } : undefined
    this.#authHeader = auth ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` : undefined
    const timeoutMs = conn.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS
    this.#timeouts = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs }
    this.#lib = new ConfluentClient({ host: conn.url, clientId: 'synthq', ...(auth ? { auth } : {}), retry: LIB_RETRY, middlewares: [requestTimeout(timeoutMs)] })
  }

  /**
   * Registers `schema` under `subject` (idempotent: the same schema returns its existing id).
   * A new subject is set to BACKWARD compatibility, Confluent's default: a new version must be
   * able to read every record written with the previous one.
   *
   * Safe when several workers register the same subjects at once: when another worker created
   * the subject's compatibility rule (or the subject) between this worker's look-up and its
   * write, the registry answers "… already exists"; the level the other worker set is read
   * back and, when it is BACKWARD, the registration is repeated — it returns the id the schema
   * already has.
   */
  async register (subject: string, schema: string): Promise<RegisteredSchema> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { id } = await this.#lib.register({ type: SchemaType.AVRO, schema }, { subject, compatibility: COMPATIBILITY.BACKWARD })
        return { subject, id }
      } catch (err) {
        if (isConcurrentCreation(err) && attempt < MAX_REGISTER_ATTEMPTS) {
          const level = await this.compatibilityLevel(subject)
          if (level === undefined || level === COMPATIBILITY.BACKWARD) continue
          throw compatibilityMismatch(this.url, subject, level, err)
        }
        throw this.#registerError(subject, err)
      }
    }
  }

  /** The compatibility level in force for `subject` (upper case), undefined when the subject is unknown. */
  async compatibilityLevel (subject: string): Promise<string | undefined> {
    const { status, body } = await this.#direct<{ compatibilityLevel?: string, compatibility?: string }>(
      `read the compatibility of "${subject}"`, 'GET', `/config/${encodeURIComponent(subject)}?defaultToGlobal=true`)
    if (status === 404) return undefined
    const level = body.compatibilityLevel ?? body.compatibility
    return level === undefined ? undefined : level.toUpperCase()
  }

  /**
   * A call the registry library does not offer, made with undici: timed out or broken requests
   * are sent again (see isTransientHttpFailure); the parsed body comes back for 200 and 404,
   * anything else is an outage that names `what`.
   */
  async #direct<T> (what: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number, body: T }> {
    const { status, text } = await resending(async () => {
      const res = await request(`${this.url}${path}`, {
        ...this.#timeouts,
        method,
        headers: {
          accept: 'application/vnd.schemaregistry.v1+json, application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/vnd.schemaregistry.v1+json' }),
          ...(this.#authHeader ? { authorization: this.#authHeader } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      return { status: res.statusCode, text: await res.body.text() }
    }).catch((err: unknown) => { throw this.#unavailable(what, err) })
    const parsed = (text.startsWith('{') ? JSON.parse(text) : {}) as T & { message?: string }
    if (status !== 200 && status !== 404) throw this.#unavailable(what, Object.assign(new Error(`HTTP ${status}: ${parsed.message ?? text.slice(0, 200)}`), { status }))
    return { status, body: parsed }
  }

  #registerError (subject: string, err: unknown): SynthqError {
    const status = statusOf(err)
    const msg = (err as Error).message
    const mismatch = /Compatibility does not match the configuration \(\w+ != (\w+)\)/.exec(msg)
    if (mismatch) return compatibilityMismatch(this.url, subject, mismatch[1]!, err)
    if ((status === 409 && !isConcurrentCreation(err)) || /incompatible/i.test(msg)) {
      return new SchemaIncompatibleError(
        `The registry at ${this.url} rejected the new schema for subject "${subject}" as incompatible with the registered one (BACKWARD): ${msg}. ` +
        'Add new fields with a default, never remove or retype fields without one, or register under a new topic.',
        { cause: err, context: { subject } })
    }
    if (status === 422) return new SynthqError('SYNTHQ_SCHEMA_INVALID', `The registry rejected the schema for "${subject}" as invalid: ${msg}`, { cause: err, context: { subject } })
    return this.#unavailable(`register a schema under "${subject}"`, err)
  }

  /** The writer schema registered under `id`, parsed. Unknown ids are poison, not outages. */
  async writerType (id: number): Promise<avro.Type> {
    try {
      return await this.#lib.getSchema(id) as unknown as avro.Type
    } catch (err) {
      if (statusOf(err) === 404) throw new DecodeError(`schema id ${id} is not known to the registry at ${this.url}: the record was written against another registry, or the schema was deleted`, { cause: err, context: { schemaId: id } })
      throw this.#unavailable(`fetch schema id ${id}`, err)
    }
  }

  async latestId (subject: string): Promise<number | undefined> {
    try {
      return await this.#lib.getLatestSchemaId(subject)
    } catch (err) {
      if (statusOf(err) === 404) return undefined
      throw this.#unavailable(`look up subject "${subject}"`, err)
    }
  }

  /** Asks the registry whether `schema` could be registered next under `subject`. */
  async isCompatible (subject: string, schema: string): Promise<{ compatible: boolean, messages: string[] }> {
    const { status, body } = await this.#direct<{ is_compatible?: boolean, messages?: string[] }>(
      `test compatibility for "${subject}"`, 'POST', `/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`, { schema })
    if (status === 404) return { compatible: true, messages: ['subject has no versions yet'] }
    return { compatible: Boolean(body.is_compatible), messages: body.messages ?? [] }
  }


  #unavailable (what: string, err: unknown): SynthqError {
    const status = statusOf(err)
    if (status === 401 || status === 403) {
      return new ConfigError(
        `The schema registry ${this.url} refused to ${what} (HTTP ${status}): ` +
        (this.#authHeader ? 'check SYNTHQ_REGISTRY_USERNAME and SYNTHQ_REGISTRY_PASSWORD.' : 'it needs credentials: set SYNTHQ_REGISTRY_USERNAME and SYNTHQ_REGISTRY_PASSWORD.'),
        { cause: err })
    }
    return new SynthqError('SYNTHQ_REGISTRY_UNAVAILABLE', `Could not ${what} at the schema registry ${this.url}: ${(err as Error).message}`, { cause: err, retriable: true })
  }
}
