/**
 * The config file (`--config FILE` or $SYNTHQ_CONFIG; YAML, or JSON which YAML includes): one
 * place for what a deployment keeps the same from run to run.
 *
 *   defaults: { runner: kafka, prefix: prod, db: /var/lib/synthq/synthq.db }
 *   kafka:    { brokers: [kafka-1:9092, kafka-2:9092], sasl: { mechanism: scram-sha-512, username: synthq, passwordFile: /run/secrets/kafka } }
 *   registry: { url: https://registry:8081, username: synthq, passwordFile: /run/secrets/registry }
 *   metrics:  { host: 0.0.0.0, port: 9464 }
 *   llm:      …   (docs/llm.md)
 *   pipeline: …   (docs/pipeline.md)
 *
 * Precedence: flags over environment over this file over built-in defaults. The file's
 * defaults/kafka/registry/metrics settings become the SYNTHQ_* environment variables they stand
 * for, unless the environment already sets them — so every command reads one set of names.
 * Secrets are never written in the file: it names files holding them (`passwordFile`), and a
 * `password:` is an error that says so. Relative paths are relative to the file.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { ConfigError } from '../errors.ts'

const str = { type: 'string', minLength: 1 }
const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    llm: { type: 'object' }, // checked by src/llm/config.ts
    pipeline: { type: 'object' }, // checked by src/topologies/options.ts
    defaults: {
      type: 'object', additionalProperties: false,
      properties: { runner: { enum: ['embedded', 'kafka'] }, db: str, prefix: { type: 'string' } },
    },
    kafka: {
      type: 'object', additionalProperties: false,
      properties: {
        brokers: { anyOf: [str, { type: 'array', items: str, minItems: 1 }] },
        clientId: str,
        ssl: {
          type: 'object', additionalProperties: false,
          properties: { enabled: { type: 'boolean' }, caFile: str, certFile: str, keyFile: str, keyPasswordFile: str, rejectUnauthorized: { type: 'boolean' }, keyPassword: {} },
        },
        sasl: {
          type: 'object', additionalProperties: false,
          properties: { mechanism: { enum: ['plain', 'scram-sha-256', 'scram-sha-512'] }, username: str, passwordFile: str, password: {} },
        },
      },
    },
    registry: {
      type: 'object', additionalProperties: false,
      properties: { url: str, username: str, passwordFile: str, password: {} },
    },
    metrics: {
      type: 'object', additionalProperties: false,
      properties: { enabled: { type: 'boolean' }, host: str, port: { type: 'integer', minimum: 0, maximum: 65535 } },
    },
  },
} as const

// Compiled on first use: most runs read no config file, and compiling costs ~30 ms of a start.
let compiled: ValidateFunction | undefined
const validator = (): ValidateFunction => compiled ??= new Ajv({ allErrors: true, strict: false, verbose: true }).compile(SCHEMA) // verbose: errors carry their schema, to list the known settings

interface ConfigFile {
  defaults?: { runner?: string, db?: string, prefix?: string }
  kafka?: { brokers?: string | string[], clientId?: string, ssl?: { enabled?: boolean, caFile?: string, certFile?: string, keyFile?: string, keyPasswordFile?: string, rejectUnauthorized?: boolean, keyPassword?: unknown }, sasl?: { mechanism?: string, username?: string, passwordFile?: string, password?: unknown } }
  registry?: { url?: string, username?: string, passwordFile?: string, password?: unknown }
  metrics?: { enabled?: boolean, host?: string, port?: number }
}

/** The parsed document of a config file (YAML, of which JSON is a part), or a ConfigError saying why not. */
export function readConfigDocument (path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`config file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  try {
    return parseYaml(text) // YAML is a superset of JSON: one parser for both
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML or JSON: ${(err as Error).message}`)
  }
}

/** Reads and checks the file; every problem is listed with its path. */
export function readConfigFile (path: string): ConfigFile {
  const doc = readConfigDocument(path)
  if (doc === null || doc === undefined) return {}
  const validate = validator()
  if (!validate(doc)) {
    const problems = (validate.errors ?? []).map((e) => {
      const where = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(top level)'
      return e.keyword === 'additionalProperties'
        ? `${where}: unknown setting "${(e.params as { additionalProperty: string }).additionalProperty}" (known: ${Object.keys((e.parentSchema as { properties?: object }).properties ?? {}).filter((k) => !/^(password|keyPassword)$/.test(k)).join(', ')})`
        : `${where} ${e.message ?? 'is invalid'}`
    })
    throw new ConfigError(`config file ${path}: ${problems.join('; ')}`)
  }
  const c = doc as ConfigFile
  for (const [where, v] of [['kafka.sasl.password', c.kafka?.sasl?.password], ['kafka.ssl.keyPassword', c.kafka?.ssl?.keyPassword], ['registry.password', c.registry?.password]] as const) {
    if (v !== undefined) throw new ConfigError(`config file ${path}: ${where} — secrets are not kept in the config file; put the secret in a file and name it with ${where}File, or set the environment variable`)
  }
  return c
}

/** The SYNTHQ_* variables the file stands for. */
export function configEnv (c: ConfigFile, path: string): Record<string, string> {
  const base = dirname(resolve(path))
  const file = (p: string | undefined): string | undefined => p === undefined ? undefined : resolve(base, p)
  const env: Record<string, string | undefined> = {
    SYNTHQ_RUNNER: c.defaults?.runner,
    SYNTHQ_DB: file(c.defaults?.db),
    SYNTHQ_PREFIX: c.defaults?.prefix,
    SYNTHQ_KAFKA_BROKERS: Array.isArray(c.kafka?.brokers) ? c.kafka.brokers.join(',') : c.kafka?.brokers,
    SYNTHQ_KAFKA_CLIENT_ID: c.kafka?.clientId,
    SYNTHQ_KAFKA_SSL: c.kafka?.ssl?.enabled === undefined ? undefined : String(c.kafka.ssl.enabled),
    SYNTHQ_KAFKA_SSL_CA_FILE: file(c.kafka?.ssl?.caFile),
    SYNTHQ_KAFKA_SSL_CERT_FILE: file(c.kafka?.ssl?.certFile),
    SYNTHQ_KAFKA_SSL_KEY_FILE: file(c.kafka?.ssl?.keyFile),
    SYNTHQ_KAFKA_SSL_KEY_PASSWORD_FILE: file(c.kafka?.ssl?.keyPasswordFile),
    SYNTHQ_KAFKA_SSL_REJECT_UNAUTHORIZED: c.kafka?.ssl?.rejectUnauthorized === undefined ? undefined : String(c.kafka.ssl.rejectUnauthorized),
    SYNTHQ_KAFKA_SASL_MECHANISM: c.kafka?.sasl?.mechanism,
    SYNTHQ_KAFKA_SASL_USERNAME: c.kafka?.sasl?.username,
    SYNTHQ_KAFKA_SASL_PASSWORD_FILE: file(c.kafka?.sasl?.passwordFile),
    SYNTHQ_REGISTRY_URL: c.registry?.url,
    SYNTHQ_REGISTRY_USERNAME: c.registry?.username,
    SYNTHQ_REGISTRY_PASSWORD_FILE: file(c.registry?.passwordFile),
    SYNTHQ_METRICS: c.metrics?.enabled === false ? 'off' : undefined,
    SYNTHQ_METRICS_HOST: c.metrics?.host,
    SYNTHQ_METRICS_PORT: c.metrics?.port === undefined ? undefined : String(c.metrics.port),
  }
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined))
}

/**
 * Fills `env` from the file where the environment is silent; returns the names it set. A secret
 * given in the environment either way (X or X_FILE) keeps the file's reference out.
 */
export function applyConfigFile (path: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const set: string[] = []
  for (const [name, value] of Object.entries(configEnv(readConfigFile(path), path))) {
    if (env[name] !== undefined) continue
    if (name.endsWith('_PASSWORD_FILE') && env[name.slice(0, -'_FILE'.length)] !== undefined) continue
    env[name] = value
    set.push(name)
  }
  return set
}

// Defined with the defaults, which load no parser: the command line looks for --config at every start.
export { configPathFrom } from './defaults.ts'
