/**
 * How synthq reaches Kafka and the schema registry: brokers, TLS, SASL and registry auth.
 *
 * Read from the environment (a config file arrives with the CLI); secrets may come from files
 * (`*_FILE`) and are held as {@link Secret}s, so the objects here are safe to log.
 *
 * | variable                                | meaning                                          |
 * |-----------------------------------------|--------------------------------------------------|
 * | SYNTHQ_KAFKA_BROKERS                    | comma-separated host:port list                   |
 * | SYNTHQ_KAFKA_CLIENT_ID                  | client id (default synthq)                       |
 * | SYNTHQ_KAFKA_SSL                        | true to use TLS (implied by any SSL file below)  |
 * | SYNTHQ_KAFKA_SSL_CA_FILE                | PEM CA bundle to trust                           |
 * | SYNTHQ_KAFKA_SSL_CERT_FILE / _KEY_FILE  | client certificate and key (mutual TLS)          |
 * | SYNTHQ_KAFKA_SSL_KEY_PASSWORD[_FILE]    | passphrase of an encrypted client key            |
 * | SYNTHQ_KAFKA_SSL_REJECT_UNAUTHORIZED    | false to skip verification (testing only)        |
 * | SYNTHQ_KAFKA_SASL_MECHANISM             | plain, scram-sha-256 or scram-sha-512            |
 * | SYNTHQ_KAFKA_SASL_USERNAME              | SASL user                                        |
 * | SYNTHQ_KAFKA_SASL_PASSWORD[_FILE]       | SASL password                                    |
 * | SYNTHQ_REGISTRY_URL                     | Confluent-compatible registry base URL           |
 * | SYNTHQ_REGISTRY_USERNAME                | basic-auth user (Confluent Cloud: API key)       |
 * | SYNTHQ_REGISTRY_PASSWORD[_FILE]         | basic-auth password (Confluent Cloud: secret)    |
 */
import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors.ts'
import { Secret, secretFromEnv } from './secret.ts'

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'
export const SASL_MECHANISMS: readonly SaslMechanism[] = ['plain', 'scram-sha-256', 'scram-sha-512']

export interface TlsSettings {
  /** PEM files; read when the client is built. */
  caFile?: string
  certFile?: string
  keyFile?: string
  keyPassword?: Secret
  rejectUnauthorized: boolean
}

export interface SaslSettings {
  mechanism: SaslMechanism
  username: string
  password: Secret
}

export interface KafkaConnection {
  brokers: string[]
  clientId: string
  tls?: TlsSettings
  sasl?: SaslSettings
}

export interface RegistryConnection {
  url: string
  username?: string
  password?: Secret
  /**
   * How long one HTTP request to the registry may take before it counts as an outage (default
   * 30 s). A registry that accepts connections but stops answering would otherwise hold a
   * worker's start, or a record's encoding, for ever.
   */
  timeoutMs?: number
}

/** The registry request timeout when SYNTHQ_REGISTRY_TIMEOUT_MS is not set. */
export const DEFAULT_REGISTRY_TIMEOUT_MS = 30_000

function bool (name: string, v: string | undefined, fallback: boolean): boolean {
  if (v === undefined || v === '') return fallback
  if (/^(1|true|yes|on)$/i.test(v)) return true
  if (/^(0|false|no|off)$/i.test(v)) return false
  throw new ConfigError(`${name} must be true or false, got "${v}"`)
}

export function parseBrokers (list: string, source = 'SYNTHQ_KAFKA_BROKERS'): string[] {
  const brokers = list.split(',').map((b) => b.trim()).filter(Boolean)
  if (brokers.length === 0) throw new ConfigError(`${source} is empty: give at least one host:port`)
  for (const b of brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b) && !/^\[[0-9a-f:]+\]:\d{1,5}$/i.test(b)) throw new ConfigError(`${source}: "${b}" is not host:port`)
  }
  return brokers
}

export function kafkaConnectionFromEnv (env: NodeJS.ProcessEnv = process.env, defaults: { brokers?: string } = {}): KafkaConnection {
  const list = env.SYNTHQ_KAFKA_BROKERS || defaults.brokers
  if (!list) throw new ConfigError('No Kafka brokers configured: set SYNTHQ_KAFKA_BROKERS (e.g. 127.0.0.1:19092), or start the local ones with `npm run infra:up`.')
  const conn: KafkaConnection = { brokers: parseBrokers(list), clientId: env.SYNTHQ_KAFKA_CLIENT_ID ?? 'synthq' }

  const caFile = env.SYNTHQ_KAFKA_SSL_CA_FILE
  const certFile = env.SYNTHQ_KAFKA_SSL_CERT_FILE
  const keyFile = env.SYNTHQ_KAFKA_SSL_KEY_FILE
  const keyPassword = secretFromEnv('SYNTHQ_KAFKA_SSL_KEY_PASSWORD', env)
  const anyTlsFile = Boolean(caFile || certFile || keyFile)
  if (bool('SYNTHQ_KAFKA_SSL', env.SYNTHQ_KAFKA_SSL, anyTlsFile)) {
    if (Boolean(certFile) !== Boolean(keyFile)) throw new ConfigError('Mutual TLS needs both SYNTHQ_KAFKA_SSL_CERT_FILE and SYNTHQ_KAFKA_SSL_KEY_FILE.')
    conn.tls = {
      ...(caFile ? { caFile } : {}),
      ...(certFile ? { certFile } : {}),
      ...(keyFile ? { keyFile } : {}),
      ...(keyPassword ? { keyPassword } : {}),
      rejectUnauthorized: bool('SYNTHQ_KAFKA_SSL_REJECT_UNAUTHORIZED', env.SYNTHQ_KAFKA_SSL_REJECT_UNAUTHORIZED, true),
    }
  }

  const mechanism = env.SYNTHQ_KAFKA_SASL_MECHANISM?.toLowerCase()
  if (mechanism) {
    if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
      throw new ConfigError(`SYNTHQ_KAFKA_SASL_MECHANISM must be one of ${SASL_MECHANISMS.join(', ')}, got "${env.SYNTHQ_KAFKA_SASL_MECHANISM}"`)
    }
    const username = env.SYNTHQ_KAFKA_SASL_USERNAME
    const password = secretFromEnv('SYNTHQ_KAFKA_SASL_PASSWORD', env)
    if (!username) throw new ConfigError(`SASL ${mechanism} needs SYNTHQ_KAFKA_SASL_USERNAME`)
    if (!password) throw new ConfigError(`SASL ${mechanism} needs SYNTHQ_KAFKA_SASL_PASSWORD or SYNTHQ_KAFKA_SASL_PASSWORD_FILE`)
    conn.sasl = { mechanism: mechanism as SaslMechanism, username, password }
  }
  return conn
}

export function registryConnectionFromEnv (env: NodeJS.ProcessEnv = process.env, defaults: { url?: string } = {}): RegistryConnection {
  const url = env.SYNTHQ_REGISTRY_URL || defaults.url
  if (!url) throw new ConfigError('No schema registry configured: set SYNTHQ_REGISTRY_URL (e.g. http://127.0.0.1:18081/apis/ccompat/v7), or start the local one with `npm run infra:up`.')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError(`SYNTHQ_REGISTRY_URL is not a URL: "${url}"`)
  }
  if (parsed.username || parsed.password) throw new ConfigError('Put registry credentials in SYNTHQ_REGISTRY_USERNAME / SYNTHQ_REGISTRY_PASSWORD, not in SYNTHQ_REGISTRY_URL (URLs end up in logs).')
  const username = env.SYNTHQ_REGISTRY_USERNAME
  const password = secretFromEnv('SYNTHQ_REGISTRY_PASSWORD', env)
  if (Boolean(username) !== Boolean(password)) throw new ConfigError('Registry basic auth needs both SYNTHQ_REGISTRY_USERNAME and SYNTHQ_REGISTRY_PASSWORD.')
  const rawTimeout = env.SYNTHQ_REGISTRY_TIMEOUT_MS
  let timeoutMs = DEFAULT_REGISTRY_TIMEOUT_MS
  if (rawTimeout !== undefined && rawTimeout !== '') {
    timeoutMs = Number(rawTimeout)
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new ConfigError(`SYNTHQ_REGISTRY_TIMEOUT_MS must be a positive whole number of milliseconds, got "${rawTimeout}"`)
  }
  return { url: url.replace(/\/+$/, ''), ...(username && password ? { username, password } : {}), timeoutMs }
}

/** Reads a PEM file named in the TLS settings, with an error that names the setting. */
export function readPem (file: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`${setting} points at ${file}, which cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}
