/**
 * /readyz on a real broker. One member of stage demo-situation runs in this process, wired as
 * `synthq run` wires it (processEndpoint listening before the runner starts); a second member of
 * the same group is `synthq run demo --runner kafka --stage demo-situation` in a child process,
 * on an input topic with one partition. Checked, each by polling with a deadline:
 *
 * - the first member becomes ready once its consumer holds the partition;
 * - with two members for one partition, both are ready: one `assigned`, one a `standby` (the
 *   chosen semantics, docs/metrics.md), and the group is stable with both in it;
 * - the standby takes over when the other leaves;
 * - while the runner drains a record in flight on stop, /readyz is 503 `stopping` (and /healthz
 *   stays 200); after the stop, 503 `stopped`.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Kafka } from 'kafkajs'
import { subscribe } from '../../src/diagnostics/channels.ts'
import { processEndpoint, type ProcessEndpoint } from '../../src/metrics/process-endpoint.ts'
import type { Readiness, StageHealth } from '../../src/metrics/health.ts'
import { demoSituation } from '../../src/processors/demo-topology/demo-situation.ts'
import type { Processor } from '../../src/processors/processor.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { doc } from '../helpers/test-topology.ts'

const STAGE = 'demo-situation'
/** Session timeout of both members: a rebalance is noticed within a heartbeat (1 s). */
const SESSION_MS = 10_000

interface Probe { status: number, body: Readiness }

async function readyz (base: string): Promise<Probe> {
  const res = await fetch(`${base}/readyz`)
  return { status: res.status, body: await res.json() as Readiness }
}

/** Polls `probe` until `ok` holds, at most `ms`; fails with the last answer. */
async function until<T> (what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms
  let last: T | undefined
  let error: unknown
  while (Date.now() < deadline) {
    try {
      last = await probe()
      if (ok(last)) return last
    } catch (err) { error = err }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${what}: not within ${ms} ms; last: ${JSON.stringify(last)}${error ? ` (${(error as Error).message})` : ''}`)
}

const stageOf = (p: Probe): StageHealth | undefined => p.body.stages.find((s) => s.stage === STAGE)

/** The demo's first stage, holding each record until the test opens the gate. */
function gated (gate: { entered: () => void, open: Promise<void> }): Processor {
  const inner = demoSituation() as unknown as Processor
  return { name: inner.name, process: async (record, ctx) => { gate.entered(); await gate.open; return await inner.process(record, ctx) } }
}

describe('/readyz on Kafka: one member, a second one for one partition, a stop', { timeout: 300_000 }, () => {
  const infra = testInfra()
  const prefix = unique('ready')
  const group = `${prefix}.${STAGE}`
  const dir = testTmpDir('readiness')
  const savedRunDir = process.env.SYNTHQ_RUN_DIR
  let kafka: Kafka
  let serde: AvroSerde
  let endpoint: ProcessEndpoint
  let runner: KafkaRunner
  let base: string
  let child: ChildProcess | undefined
  let childBase: string | undefined
  let childExit: Promise<number | null> | undefined
  let stopped = false
  let unsubscribe: () => void = () => {}
  let openGate: () => void = () => {}
  let entered: Promise<void>
  /** What /readyz would have answered as this member's consumer learnt of a rebalance. */
  const duringRebalance: Readiness[] = []

  before(async () => {
    process.env.SYNTHQ_RUN_DIR = join(dir, 'run-a')
    kafka = createKafka({ brokers: infra.bootstrap, clientId: 'readiness-test' }, testLogger())
    const admin = kafka.admin()
    await admin.connect()
    try { await ensureTopics(admin, { prefix, partitions: 1 }) } finally { await admin.disconnect() }
    serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
    let enteredResolve: () => void = () => {}
    entered = new Promise<void>((resolve) => { enteredResolve = resolve })
    const open = new Promise<void>((resolve) => { openGate = resolve })
    // The demo topology's first stage as `synthq run demo --stage demo-situation` runs it (same
    // name, so the same group), its processor gated.
    const topology = new TopologyBuilder('demo')
      .table('demonstrations')
      .stage({ name: STAGE, input: 'documents', outputs: ['situations'], tables: ['demonstrations'], processor: () => gated({ entered: enteredResolve, open }) })
      .build()
    endpoint = processEndpoint({ enabled: true, host: '127.0.0.1', port: 0 }, { runner: 'kafka' }, testLogger())
    // Subscribed after the endpoint's own Health, so called after it has taken the event in.
    unsubscribe = subscribe('synthq:kafka:client', (m) => { if (m.group === group && m.event === 'consumer.rebalancing') duringRebalance.push(endpoint.health!.readiness()) })
    runner = new KafkaRunner(topology, {
      connection: { brokers: infra.bootstrap, clientId: 'readiness-a' }, serde, logger: testLogger(), prefix,
      topics: { partitions: 1 }, commitIntervalMs: 20, sessionTimeoutMs: SESSION_MS,
    })
  })

  after(async () => {
    unsubscribe()
    openGate()
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    if (!stopped) await runner?.stop().catch(() => {})
    await endpoint?.close()
    if (savedRunDir === undefined) delete process.env.SYNTHQ_RUN_DIR
    else process.env.SYNTHQ_RUN_DIR = savedRunDir
  })

  test('ready once its consumer holds the partition (503 before)', async () => {
    await endpoint.listen() // as synthq run: before the runner starts
    base = endpoint.url!.replace(/\/metrics$/, '')
    const before = await readyz(base)
    assert.equal(before.status, 503)
    assert.equal(before.body.ready, false)
    await runner.start()
    await endpoint.start({ topologies: ['demo'], prefix, runner })
    const ready = await until('the first member ready', () => readyz(base), (p) => p.status === 200)
    assert.deepEqual(stageOf(ready), { stage: STAGE, topology: 'demo', runner: 'kafka', state: 'assigned', ready: true, partitions: 1 })
    assert.deepEqual(ready.body.runners, [{ topology: 'demo', runner: 'kafka', state: 'started' }])
    assert.equal((await fetch(`${base}/healthz`)).status, 200)
  })

  test('a second member for the one partition: both ready, one assigned and one standby', async () => {
    const cp = spawn(process.execPath, [join(REPO_ROOT, 'bin/synthq.js'), 'run', 'demo', '--runner', 'kafka', '--stage', STAGE, '--prefix', prefix, '--partitions', '1', '--metrics-port', '0'], {
      cwd: dir,
      env: {
        ...process.env,
        SYNTHQ_KAFKA_BROKERS: infra.bootstrap.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl,
        SYNTHQ_RUN_DIR: join(dir, 'run-b'), SYNTHQ_KAFKA_SESSION_TIMEOUT_MS: String(SESSION_MS), SYNTHQ_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child = cp
    childExit = new Promise((resolve) => cp.once('exit', (code) => resolve(code)))
    let stderr = ''
    cp.stderr!.setEncoding('utf8')
    cp.stderr!.on('data', (s: string) => {
      stderr += s
      childBase ??= /synthq: metrics at (http:\/\/\S+)\/metrics/.exec(stderr)?.[1]
    })
    await until('the second member announces its endpoint', async () => {
      if (cp.exitCode !== null) throw new Error(`synthq run exited ${cp.exitCode}: ${stderr}`)
      return childBase
    }, (b) => b !== undefined, 120_000).catch((err: Error) => { throw new Error(`${err.message}\n${stderr}`) })

    // Both ready, the partition with one of them — polled until the group has settled on that.
    // Meanwhile this member went through the rebalance the newcomer caused, not ready during it.
    const [a, b] = await until('both members ready, one holding the partition', async () => [await readyz(base), await readyz(childBase!)] as const,
      ([a, b]) => a.status === 200 && b.status === 200 && [stageOf(a)?.state, stageOf(b)?.state].sort().join() === 'assigned,standby')
    assert.equal(stageOf(a)!.partitions + stageOf(b)!.partitions, 1)
    assert.ok(duringRebalance.length >= 1, 'this member saw the rebalance')
    assert.ok(duringRebalance.every((r) => !r.ready && r.stages.find((s) => s.stage === STAGE)?.state === 'rebalancing'), JSON.stringify(duringRebalance))
    const standby = [stageOf(a)!, stageOf(b)!].find((s) => s.state === 'standby')!
    assert.equal(standby.ready, true)
    assert.match(standby.reason ?? '', /more members than partitions/)
    // It is the group as the broker sees it: stable, with both members.
    const admin = kafka.admin()
    await admin.connect()
    try {
      const { groups } = await admin.describeGroups([group])
      assert.equal(groups[0]?.state, 'Stable')
      assert.equal(groups[0]?.members.length, 2)
    } finally { await admin.disconnect() }
  })

  test('the second member leaves: this one holds the partition, ready', async () => {
    child!.kill('SIGTERM')
    assert.equal(await childExit, 0, 'synthq run stops cleanly on SIGTERM')
    const ready = await until('the first member holds the partition again', () => readyz(base), (p) => p.status === 200 && stageOf(p)?.state === 'assigned')
    assert.equal(stageOf(ready)!.partitions, 1)
  })

  test('stop: 503 stopping while a record drains, still live; 503 stopped after', async () => {
    const producer = kafka.producer({ idempotent: true })
    await producer.connect()
    try {
      const topic = topicName('documents', prefix)
      await producer.send({ topic, messages: [{ key: 'd-1', value: await serde.encode(topic, doc('d-1')) }] })
    } finally { await producer.disconnect() }
    await entered // the record is in flight, held by the gate
    const stopping = runner.stop()
    const draining = await readyz(base)
    assert.equal(draining.status, 503)
    assert.equal(stageOf(draining)?.state, 'stopping')
    assert.match(stageOf(draining)?.reason ?? '', /draining/)
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'a stop is no failure')
    openGate()
    await stopping
    stopped = true
    const after = await readyz(base)
    assert.equal(after.status, 503)
    assert.equal(stageOf(after)?.state, 'stopped')
    assert.deepEqual(after.body.runners, [{ topology: 'demo', runner: 'kafka', state: 'stopped' }])
    assert.equal((await fetch(`${base}/healthz`)).status, 200)
    assert.equal(runner.stats()[STAGE]?.processed, 1, 'the drained record was committed')
  })
})
