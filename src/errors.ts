/**
 * Every error synthq raises on purpose is a SynthqError with a stable `code` (SYNTHQ_*), a
 * `retriable` flag that the runtime's retry policy reads, and the underlying `cause`. Context
 * (topic, subject, record id) travels as fields, so messages stay readable and logs stay
 * structured.
 */
export type SynthqErrorCode =
  | 'SYNTHQ_CONFIG'
  | 'SYNTHQ_USAGE'
  | 'SYNTHQ_SCHEMA_NOT_FOUND'
  | 'SYNTHQ_SCHEMA_INVALID'
  | 'SYNTHQ_SCHEMA_INCOMPATIBLE'
  | 'SYNTHQ_REGISTRY_UNAVAILABLE'
  | 'SYNTHQ_RECORD_INVALID'
  | 'SYNTHQ_DECODE'
  | 'SYNTHQ_UNKNOWN_TOPIC'
  | 'SYNTHQ_GROUP_ACTIVE'
  | 'SYNTHQ_LLM_UNAVAILABLE'
  | 'SYNTHQ_LLM_REJECTED'
  | 'SYNTHQ_LLM_OUTPUT'
  | 'SYNTHQ_LLM_BUDGET'
  | 'SYNTHQ_SEARCH_UNAVAILABLE'
  | 'SYNTHQ_SEARCH_REJECTED'
  | 'SYNTHQ_SEARCH_RESPONSE'
  | 'SYNTHQ_STATE_CORRUPT'
  | 'SYNTHQ_STATE_FENCED'
  | 'SYNTHQ_INFRA_UNAVAILABLE'
  /** A start ended because a stop was asked for meanwhile (not a failure). */
  | 'SYNTHQ_STOPPED'

export interface SynthqErrorOptions {
  cause?: unknown
  retriable?: boolean
  /** Structured context, e.g. { topic, subject, recordId }. Never put secrets here. */
  context?: Record<string, unknown>
}

export class SynthqError extends Error {
  readonly code: SynthqErrorCode
  readonly retriable: boolean
  readonly context: Record<string, unknown>

  constructor (code: SynthqErrorCode, message: string, opts: SynthqErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = new.target.name
    this.code = code
    this.retriable = opts.retriable ?? false
    this.context = opts.context ?? {}
  }
}

/** Bad or missing configuration: never retried, reported at start with the setting to fix. */
export class ConfigError extends SynthqError {
  constructor (message: string, opts: SynthqErrorOptions = {}) {
    super('SYNTHQ_CONFIG', message, opts)
  }
}

/** A command line that cannot be run as written (unknown option, bad value): exit code 2. */
export class UsageError extends SynthqError {
  constructor (message: string, opts: SynthqErrorOptions = {}) {
    super('SYNTHQ_USAGE', message, opts)
  }
}

/** A record that does not match its schema: names the record and the offending fields. */
export class RecordInvalidError extends SynthqError {
  readonly paths: string[]
  constructor (message: string, paths: string[], opts: SynthqErrorOptions = {}) {
    super('SYNTHQ_RECORD_INVALID', message, opts)
    this.paths = paths
  }
}

/** Bytes that cannot be read as a registry-encoded Avro record (poison input). */
export class DecodeError extends SynthqError {
  constructor (message: string, opts: SynthqErrorOptions = {}) {
    super('SYNTHQ_DECODE', message, opts)
  }
}

/** The registry refused a schema because it would break readers of the subject. */
export class SchemaIncompatibleError extends SynthqError {
  constructor (message: string, opts: SynthqErrorOptions = {}) {
    super('SYNTHQ_SCHEMA_INCOMPATIBLE', message, opts)
  }
}
