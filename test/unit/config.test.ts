import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { inspect } from 'node:util'
import { kafkaConnectionFromEnv, registryConnectionFromEnv } from '../../src/config/connection.ts'
import { Secret, secretFromEnv } from '../../src/config/secret.ts'
import { kafkaConfig } from '../../src/runtime/kafka/client.ts'
import { ConfigError } from '../../src/errors.ts'
import { testTmpDir } from '../helpers/env.ts'

const PASSWORD = 'hunter2-do-not-print'

test('a Secret never prints its value, whatever prints it', () => {
  const s = new Secret(PASSWORD)
  const holder = { sasl: { password: s } }
  for (const shown of [String(s), `${s}`, JSON.stringify(holder), inspect(holder, { depth: 5 }), JSON.stringify([s])]) {
    assert.ok(!shown.includes(PASSWORD), shown)
    assert.ok(shown.includes('[redacted]'), shown)
  }
  assert.equal(s.reveal(), PASSWORD)
})

test('secrets come from the variable or from NAME_FILE, not both', () => {
  const dir = testTmpDir('synthq-secret')
  const file = join(dir, 'pw')
  writeFileSync(file, `${PASSWORD}\n`)
  assert.equal(secretFromEnv('X_PASSWORD', { X_PASSWORD_FILE: file })?.reveal(), PASSWORD)
  assert.equal(secretFromEnv('X_PASSWORD', { X_PASSWORD: 'direct' })?.reveal(), 'direct')
  assert.equal(secretFromEnv('X_PASSWORD', {}), undefined)
  assert.throws(() => secretFromEnv('X_PASSWORD', { X_PASSWORD: 'a', X_PASSWORD_FILE: file }), /either X_PASSWORD or X_PASSWORD_FILE/)
  assert.throws(() => secretFromEnv('X_PASSWORD', { X_PASSWORD_FILE: join(dir, 'missing') }), (e: unknown) => e instanceof ConfigError && /ENOENT/.test(e.message))
})

test('Kafka connection from the environment: brokers, SASL, TLS', () => {
  const conn = kafkaConnectionFromEnv({
    SYNTHQ_KAFKA_BROKERS: 'kafka-1:9093, kafka-2:9093',
    SYNTHQ_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    SYNTHQ_KAFKA_SASL_USERNAME: 'synthq',
    SYNTHQ_KAFKA_SASL_PASSWORD: PASSWORD,
    SYNTHQ_KAFKA_SSL: 'true',
  })
  assert.deepEqual(conn.brokers, ['kafka-1:9093', 'kafka-2:9093'])
  assert.equal(conn.sasl?.mechanism, 'scram-sha-512')
  assert.equal(conn.tls?.rejectUnauthorized, true)
  assert.ok(!JSON.stringify(conn).includes(PASSWORD))
  assert.ok(!inspect(conn, { depth: 5 }).includes(PASSWORD))
  // The KafkaJS config carries the real password only at the moment the client is built.
  const kc = kafkaConfig(conn)
  assert.equal((kc.sasl as { password: string }).password, PASSWORD)
  assert.equal(kc.ssl && typeof kc.ssl === 'object' ? kc.ssl.rejectUnauthorized : undefined, true)
})

test('Kafka connection errors name the setting to fix', () => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{}, /SYNTHQ_KAFKA_BROKERS/],
    [{ SYNTHQ_KAFKA_BROKERS: 'nohostport' }, /"nohostport" is not host:port/],
    [{ SYNTHQ_KAFKA_BROKERS: 'a:1', SYNTHQ_KAFKA_SASL_MECHANISM: 'gssapi' }, /must be one of plain, scram-sha-256, scram-sha-512/],
    [{ SYNTHQ_KAFKA_BROKERS: 'a:1', SYNTHQ_KAFKA_SASL_MECHANISM: 'plain', SYNTHQ_KAFKA_SASL_USERNAME: 'u' }, /needs SYNTHQ_KAFKA_SASL_PASSWORD/],
    [{ SYNTHQ_KAFKA_BROKERS: 'a:1', SYNTHQ_KAFKA_SSL_CERT_FILE: '/x.pem' }, /needs both SYNTHQ_KAFKA_SSL_CERT_FILE and SYNTHQ_KAFKA_SSL_KEY_FILE/],
    [{ SYNTHQ_KAFKA_BROKERS: 'a:1', SYNTHQ_KAFKA_SSL: 'maybe' }, /SYNTHQ_KAFKA_SSL must be true or false/],
  ]
  for (const [env, msg] of cases) assert.throws(() => kafkaConnectionFromEnv(env), (e: unknown) => e instanceof ConfigError && msg.test(e.message), String(msg))
})

test('registry connection: basic auth as a pair, credentials never in the URL', () => {
  const r = registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: 'https://sr.example.com/', SYNTHQ_REGISTRY_USERNAME: 'key', SYNTHQ_REGISTRY_PASSWORD: PASSWORD })
  assert.equal(r.url, 'https://sr.example.com')
  assert.ok(!JSON.stringify(r).includes(PASSWORD))
  assert.throws(() => registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: `https://key:${PASSWORD}@sr.example.com` }), (e: unknown) => e instanceof ConfigError && !e.message.includes(PASSWORD) && /not in SYNTHQ_REGISTRY_URL/.test(e.message))
  assert.throws(() => registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: 'http://x', SYNTHQ_REGISTRY_USERNAME: 'key' }), /needs both/)
  assert.throws(() => registryConnectionFromEnv({}), /SYNTHQ_REGISTRY_URL/)
})

test('registry connection: a request timeout, 30 s unless SYNTHQ_REGISTRY_TIMEOUT_MS says otherwise', () => {
  assert.equal(registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: 'http://x' }).timeoutMs, 30_000)
  assert.equal(registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: 'http://x', SYNTHQ_REGISTRY_TIMEOUT_MS: '2500' }).timeoutMs, 2500)
  for (const bad of ['0', '-5', '1.5', 'soon']) {
    assert.throws(() => registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: 'http://x', SYNTHQ_REGISTRY_TIMEOUT_MS: bad }), (e: unknown) => e instanceof ConfigError && e.message.includes(`"${bad}"`), bad)
  }
})

test('logging a connection redacts it and leaves it usable', async () => {
  const { createLogger } = await import('../../src/log.ts')
  const { Writable } = await import('node:stream')
  const lines: string[] = []
  const logger = createLogger({ level: 'info' }, new Writable({ write (c: Buffer, _e, cb) { lines.push(c.toString()); cb() } }))
  const conn = kafkaConnectionFromEnv({ SYNTHQ_KAFKA_BROKERS: 'a:1', SYNTHQ_KAFKA_SASL_MECHANISM: 'plain', SYNTHQ_KAFKA_SASL_USERNAME: 'u', SYNTHQ_KAFKA_SASL_PASSWORD: PASSWORD })
  // Plain-string secrets under well-known names are redacted too (second line of defence).
  logger.info({ conn, request: { headers: { authorization: `Bearer ${PASSWORD}` } }, apiKey: PASSWORD }, 'connecting')
  logger.info({ conn }, 'again')
  assert.equal(lines.length, 2)
  for (const l of lines) assert.ok(!l.includes(PASSWORD), l)
  // pino's redaction rewrites fields while serialising; the Secret must survive it.
  assert.equal(conn.sasl?.password.reveal(), PASSWORD)
})
