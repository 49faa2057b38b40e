/**
 * A worker started while Kafka or the schema registry cannot be reached (a replica restarted
 * during a broker bounce or a registry restart) waits it out instead of exiting: `start()`
 * tries again with backoff until the service answers, then runs as usual. It gives up after its
 * limit with the service's error, ends at once when stopped, and does not retry what waiting
 * cannot fix.
 *
 * The outage is a port with nothing listening; the service "comes back" as a TCP relay on that
 * port to the real broker or registry `npm test` started.
 */
import assert from 'node:assert/strict'
import { createServer, connect, type Server } from 'node:net'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { createRequire } from 'node:module'
import { SynthqError } from '../../src/errors.ts'
import { createLogger, type Logger } from '../../src/log.ts'
import { isUnreachableError } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName } from '../../src/topics.ts'
import { testInfra, unique } from '../helpers/env.ts'
import { clients, producer, type Clients } from '../helpers/kafka.ts'
import { freePort } from '../helpers/ports.ts'
import { readTopicToEnd } from '../helpers/runners.ts'
import { doc, newProbe, testTopology } from '../helpers/test-topology.ts'

const RETRYING = 'cannot be reached while starting'

/** A logger that keeps its lines (warn and above) for the test to look at. */
function capturingLogger (): { logger: Logger, lines: string[] } {
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
  return { logger: createLogger({ level: 'warn', name: 'start-retry-test' }, sink), lines }
}

async function until (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const t0 = Date.now()
  while (!await cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Relays every connection to `port` on to `target` ("host:port"). */
async function relay (port: number, target: string): Promise<Server> {
  const [host, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))]
  const sockets = new Set<import('node:net').Socket>()
  const server = createServer((client) => {
    const upstream = connect(targetPort, host)
    sockets.add(client).add(upstream)
    client.pipe(upstream).pipe(client)
    const end = (): void => { client.destroy(); upstream.destroy() }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
  })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
  relays.set(server, sockets)
  return server
}

const relays = new Map<Server, Set<import('node:net').Socket>>()

/** Running for real: a record produced now comes out of the topology's second stage. */
async function throughBothStages (t: TestContext, c: Clients, id: string): Promise<void> {
  const p = await producer(t, c.kafka, { idempotent: true })
  const docs = topicName('documents', c.prefix)
  await p.send({ topic: docs, messages: [{ key: id, value: await c.serde.encode(docs, doc(id)) }] })
  await until('the record to come out of the second stage', async () =>
    (await readTopicToEnd(c.kafka, topicName('synthesizedInstructions', c.prefix))).some((r) => r.key === `ins-${id}`))
}

async function closeRelay (server: Server): Promise<void> {
  for (const s of relays.get(server) ?? []) s.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

test('a worker started while Kafka is unreachable waits, then runs once a broker answers', { timeout: 240_000 }, async (t) => {
  const c = await clients(t)
  const port = await freePort()
  const { logger, lines } = capturingLogger()
  const runner = new KafkaRunner(testTopology(newProbe()), {
    connection: { brokers: [`127.0.0.1:${port}`], clientId: 'start-retry' }, serde: c.serde, logger, prefix: c.prefix,
    topics: { partitions: 1 }, commitIntervalMs: 20, sessionTimeoutMs: 10_000,
  })
  const opened: Server[] = []
  t.after(async () => { await runner.stop(); for (const r of opened) await closeRelay(r) })
  let settled = false
  const started = runner.start().finally(() => { settled = true })
  started.catch(() => {}) // awaited below

  await until('a logged retry of the start', () => lines.some((l) => l.includes(RETRYING)) || settled)
  assert.equal(settled, false, `the start must wait for Kafka, not end: ${lines.join('')}`)
  opened.push(await relay(port, testInfra().bootstrap[0]!))
  await started

  const warned = lines.filter((l) => l.includes(RETRYING)).map((l) => JSON.parse(l) as { attempt: number, retryInMs: number, err: string })
  assert.ok(warned.length >= 1 && warned[0]!.attempt === 1 && warned[0]!.retryInMs > 0, 'each retry says its attempt and wait')
  await throughBothStages(t, c, 'r1')
})

test('a worker started while the schema registry is down waits, then registers and runs', { timeout: 240_000 }, async (t) => {
  const c = await clients(t)
  const port = await freePort()
  const { logger, lines } = capturingLogger()
  const registryUrl = new URL(testInfra().registryUrl)
  const serde = new AvroSerde(new RegistryClient({ url: `http://127.0.0.1:${port}${registryUrl.pathname}` }), SchemaCatalog.load(), { prefix: c.prefix })
  const runner = new KafkaRunner(testTopology(newProbe()), {
    connection: { brokers: testInfra().bootstrap, clientId: 'start-retry' }, serde, logger, prefix: c.prefix,
    topics: { partitions: 1 }, commitIntervalMs: 20, sessionTimeoutMs: 10_000,
  })
  const opened: Server[] = []
  t.after(async () => { await runner.stop(); for (const r of opened) await closeRelay(r) })
  let settled = false
  const started = runner.start().finally(() => { settled = true })
  started.catch(() => {})

  await until('a logged retry of the start', () => lines.some((l) => l.includes(RETRYING)) || settled)
  assert.equal(settled, false, `the start must wait for the registry, not end: ${lines.join('')}`)
  assert.match(lines.find((l) => l.includes(RETRYING))!, /schema registry/, 'the retry names the registry')
  opened.push(await relay(port, registryUrl.host))
  await started
  await throughBothStages(t, c, 'r2')
})

test('a start gives up after its limit with the outage\'s error, and ends at once when stopped', { timeout: 120_000 }, async (t) => {
  const c = await clients(t)
  const port = await freePort()
  const make = (limitMs: number): { runner: KafkaRunner, lines: string[] } => {
    const { logger, lines } = capturingLogger()
    const runner = new KafkaRunner(testTopology(newProbe()), {
      connection: { brokers: [`127.0.0.1:${port}`], clientId: 'start-retry' }, serde: c.serde, logger, prefix: unique('never'),
      topics: { partitions: 1 }, startRetryLimitMs: limitMs,
    })
    t.after(() => runner.stop())
    return { runner, lines }
  }
  // A limit shorter than the first wait: the first failure is the last.
  const short = make(500)
  await assert.rejects(short.runner.start(), (err: Error) => isUnreachableError(err) && /ECONNREFUSED|connect/i.test(`${err.message} ${String((err as { cause?: Error }).cause?.message)}`))
  assert.equal(short.lines.filter((l) => l.includes(RETRYING)).length, 0)

  // A stop while the start waits to try again ends the start with the outage's error.
  const long = make(10 * 60_000)
  const started = long.runner.start()
  started.catch(() => {})
  await until('a logged retry of the start', () => long.lines.some((l) => l.includes(RETRYING)))
  await long.runner.stop()
  await assert.rejects(started, (err: Error) => isUnreachableError(err))
})

test('what waiting cannot fix is not retried', () => {
  // KafkaJS's typings declare no constructor arguments for its error classes.
  type Ctor = new (...args: unknown[]) => Error
  const { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded, KafkaJSSASLAuthenticationError, KafkaJSProtocolError } =
    createRequire(import.meta.url)('kafkajs/src/errors.js') as Record<string, Ctor>
  const refused = new KafkaJSConnectionError!('Connection error: connect ECONNREFUSED 127.0.0.1:1')
  assert.equal(isUnreachableError(refused), true)
  assert.equal(isUnreachableError(new KafkaJSNumberOfRetriesExceeded!(refused, { retryCount: 5, retryTime: 1000 })), true)
  assert.equal(isUnreachableError(new SynthqError('SYNTHQ_REGISTRY_UNAVAILABLE', 'down', { retriable: true })), true)
  assert.equal(isUnreachableError(new KafkaJSSASLAuthenticationError!('SASL PLAIN authentication failed')), false)
  assert.equal(isUnreachableError(new KafkaJSNumberOfRetriesExceeded!(new KafkaJSSASLAuthenticationError!('bad password'), { retryCount: 0, retryTime: 0 })), false)
  assert.equal(isUnreachableError(new KafkaJSProtocolError!({ message: 'Topic authorization failed', type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false })), false)
  assert.equal(isUnreachableError(new SynthqError('SYNTHQ_SCHEMA_INCOMPATIBLE', 'incompatible')), false)
})
