/**
 * synthq's TLS and SASL settings against a real broker: this test starts its own Kafka node with
 * SASL_PLAINTEXT, SSL (client certificates required) and SASL_SSL listeners, SCRAM users created
 * at format time, and certificates it makes with openssl. Secrets must appear in no log line and
 * no error.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { stopKafkaCluster, waitForKafkaCluster, type KafkaCluster } from '../../deploy/local/lib/cluster.ts'
import { ensureKafka } from '../../deploy/local/lib/fetch.ts'
import { newClusterId, startNode } from '../../deploy/local/lib/kafka-node.ts'
import { kafkaConnectionFromEnv } from '../../src/config/connection.ts'
import { createLogger } from '../../src/log.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { unique, testTmpDir } from '../helpers/env.ts'
import { readMessages } from '../helpers/kafka.ts'
import { freePort } from '../helpers/ports.ts'
import { makeTestPki, type TestPki } from '../helpers/tls.ts'

const SCRAM256 = { username: 'alice', password: 'scram-256-secret-Ω' }
const SCRAM512 = { username: 'bob', password: 'scram-512-secret-!' }
const PLAIN = { username: 'carol', password: 'plain-secret-#' }
const ALL_SECRETS = [SCRAM256.password, SCRAM512.password, PLAIN.password, 'wrong-password-xyz']

// Refusals are final; retrying them only slows the test down.
const NO_RETRY = { retry: { retries: 0 } }

let cluster: KafkaCluster
let pki: TestPki
const ports = { plaintext: 0, controller: 0, saslPlaintext: 0, ssl: 0, saslSsl: 0 }

/** Logger whose every line is kept, to prove no secret is ever written. */
function capturingLogger (): { logger: ReturnType<typeof createLogger>, lines: string[] } {
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb() } })
  return { logger: createLogger({ level: 'debug', name: 'security-test' }, sink), lines }
}

/** Connects with `env` settings, creates a topic, writes and reads back one record. */
async function roundTrip (env: NodeJS.ProcessEnv): Promise<string[]> {
  const { logger, lines } = capturingLogger()
  const conn = kafkaConnectionFromEnv(env)
  logger.info({ conn }, 'connecting') // as the runtime will: the connection settings are logged
  const kafka = createKafka(conn, logger)
  const admin = kafka.admin()
  const producer = kafka.producer()
  const topic = unique('secure')
  try {
    await admin.connect()
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] })
    await producer.connect()
    await producer.send({ topic, messages: [{ key: 'k', value: 'over a secured listener' }] })
    const [msg] = await readMessages(kafka, topic, 1)
    assert.equal(msg?.value?.toString(), 'over a secured listener')
  } finally {
    await producer.disconnect()
    await admin.disconnect()
  }
  return lines
}

function assertNoSecrets (texts: string[]): void {
  for (const t of texts) for (const s of ALL_SECRETS) assert.ok(!t.includes(s), `a secret leaked into: ${t.slice(0, 300)}`)
}

describe('TLS and SASL against a real broker', { timeout: 180_000 }, () => {
  before(async () => {
    pki = makeTestPki()
    for (const k of Object.keys(ports) as Array<keyof typeof ports>) ports[k] = await freePort()
    const dataDir = testTmpDir('synthq-secure-kafka')
    const clusterId = newClusterId()
    const started = startNode(ensureKafka(), {
      nodeId: 1, clusterId, port: ports.plaintext, controllerPort: ports.controller, voters: `1@127.0.0.1:${ports.controller}`,
      dataDir, internalReplication: 1, heapMb: 384,
      extraListeners: [{ protocol: 'SASL_PLAINTEXT', port: ports.saslPlaintext }, { protocol: 'SSL', port: ports.ssl }, { protocol: 'SASL_SSL', port: ports.saslSsl }],
      scramUsers: [{ mechanism: 'SCRAM-SHA-256', ...SCRAM256 }, { mechanism: 'SCRAM-SHA-512', ...SCRAM512 }],
      plainUsers: { [PLAIN.username]: PLAIN.password },
      tls: { keystorePem: pki.brokerKeystore, truststorePem: pki.caCert, requireClientCert: true },
    })
    cluster = { clusterId, bootstrap: [`127.0.0.1:${ports.plaintext}`], nodes: [{ nodeId: 1, pid: started.pid, port: ports.plaintext, controllerPort: ports.controller, dataDir, log: started.log }] }
    await waitForKafkaCluster(cluster)
  })

  after(async () => {
    if (cluster) await stopKafkaCluster(cluster)
  })

  test('SASL/SCRAM-SHA-256 over SASL_PLAINTEXT', async () => {
    const lines = await roundTrip({ SYNTHQ_KAFKA_BROKERS: `127.0.0.1:${ports.saslPlaintext}`, SYNTHQ_KAFKA_SASL_MECHANISM: 'scram-sha-256', SYNTHQ_KAFKA_SASL_USERNAME: SCRAM256.username, SYNTHQ_KAFKA_SASL_PASSWORD: SCRAM256.password })
    assert.ok(lines.some((l) => l.includes('"connecting"')))
    assertNoSecrets(lines)
  })

  test('SASL/SCRAM-SHA-512 over SASL_SSL, password from a file, CA from a file', async () => {
    const { writeFileSync } = await import('node:fs')
    const pwFile = join(pki.dir, 'scram512.pw')
    writeFileSync(pwFile, `${SCRAM512.password}\n`, { mode: 0o600 })
    const lines = await roundTrip({ SYNTHQ_KAFKA_BROKERS: `127.0.0.1:${ports.saslSsl}`, SYNTHQ_KAFKA_SSL_CA_FILE: pki.caCert, SYNTHQ_KAFKA_SASL_MECHANISM: 'scram-sha-512', SYNTHQ_KAFKA_SASL_USERNAME: SCRAM512.username, SYNTHQ_KAFKA_SASL_PASSWORD_FILE: pwFile })
    assertNoSecrets(lines)
  })

  test('SASL/PLAIN over SASL_PLAINTEXT', async () => {
    const lines = await roundTrip({ SYNTHQ_KAFKA_BROKERS: `127.0.0.1:${ports.saslPlaintext}`, SYNTHQ_KAFKA_SASL_MECHANISM: 'plain', SYNTHQ_KAFKA_SASL_USERNAME: PLAIN.username, SYNTHQ_KAFKA_SASL_PASSWORD: PLAIN.password })
    assertNoSecrets(lines)
  })

  test('mutual TLS: a client certificate signed by the broker\'s CA is accepted', async () => {
    await roundTrip({ SYNTHQ_KAFKA_BROKERS: `127.0.0.1:${ports.ssl}`, SYNTHQ_KAFKA_SSL_CA_FILE: pki.caCert, SYNTHQ_KAFKA_SSL_CERT_FILE: pki.clientCert, SYNTHQ_KAFKA_SSL_KEY_FILE: pki.clientKey })
  })

  test('a wrong SCRAM password fails authentication, and the password is in no log and no error', async () => {
    const { logger, lines } = capturingLogger()
    const kafka = createKafka(kafkaConnectionFromEnv({ SYNTHQ_KAFKA_BROKERS: `127.0.0.1:${ports.saslPlaintext}`, SYNTHQ_KAFKA_SASL_MECHANISM: 'scram-sha-256', SYNTHQ_KAFKA_SASL_USERNAME: SCRAM256.username, SYNTHQ_KAFKA_SASL_PASSWORD: 'wrong-password-xyz' }), logger, NO_RETRY)
    const admin = kafka.admin()
    let error: unknown
    try { await admin.connect() } catch (err) { error = err } finally { await admin.disconnect() }
    assert.ok(error instanceof Error, 'connecting with a wrong password must fail')
    assert.match(error.message, /SASL SCRAM SHA256 authentication failed/i)
    assertNoSecrets([error.message, String(error.stack), JSON.stringify(error), ...lines])
  })

  test('a broker certificate from an untrusted CA is refused', async () => {
    const kafka = createKafka(kafkaConnectionFromEnv({ SYNTHQ_KAFKA_BROKERS: `127.0.0.1:${ports.saslSsl}`, SYNTHQ_KAFKA_SSL_CA_FILE: pki.otherCaCert, SYNTHQ_KAFKA_SASL_MECHANISM: 'scram-sha-512', SYNTHQ_KAFKA_SASL_USERNAME: SCRAM512.username, SYNTHQ_KAFKA_SASL_PASSWORD: SCRAM512.password }), capturingLogger().logger, NO_RETRY)
    const admin = kafka.admin()
    await assert.rejects(async () => { try { await admin.connect() } finally { await admin.disconnect() } }, /certificate|self.signed|unable to verify/i)
  })

  test('the SSL listener refuses a client without a certificate', async () => {
    const kafka = createKafka(kafkaConnectionFromEnv({ SYNTHQ_KAFKA_BROKERS: `127.0.0.1:${ports.ssl}`, SYNTHQ_KAFKA_SSL_CA_FILE: pki.caCert }), capturingLogger().logger, NO_RETRY)
    const admin = kafka.admin()
    await assert.rejects(async () => { try { await admin.connect(); await admin.listTopics() } finally { await admin.disconnect() } }, (err: unknown) => {
      assert.ok(err instanceof Error)
      return true
    })
  })
})
