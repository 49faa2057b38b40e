/**
 * Crash test, on both runners: a two-stage topology runs in a child process that is killed with
 * SIGKILL at random moments (seeded), several times, and restarted; the Kafka runner also aborts
 * a third of its transactions at random. In the end every input must be in exactly one output
 * (in each stage's topic) or exactly one dead letter — no loss, no duplicate — as seen by a
 * read_committed reader that ran during the failures and by one that reads afterwards.
 * Modelled on Apache Kafka's exactly-once system test (which copies 100,000 messages while
 * killing each copier three times); CI runs it smaller. SYNTHQ_CRASH_SEED replays a run.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName, type TopicName } from '../../src/topics.ts'
import { mulberry32 } from '../../src/util/hash.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { readTopicToEnd, type Read } from '../helpers/runners.ts'
import { doc } from '../helpers/test-topology.ts'

const SEED = Number(process.env.SYNTHQ_CRASH_SEED ?? 20261125)
const ROUNDS = Number(process.env.SYNTHQ_CRASH_ROUNDS ?? 4)

const prng = mulberry32

interface Inputs { good: string[], poison: string[], records: Array<{ key: string, value?: unknown, raw?: Buffer }> }

function makeInputs (n: number, rand: () => number): Inputs {
  const good: string[] = []
  const poison: string[] = []
  const records: Inputs['records'] = []
  for (let i = 0; i < n; i++) {
    const id = `c${i}`
    if (i % 50 === 49) { poison.push(id); records.push({ key: id, raw: Buffer.from(`poison ${i}`) }); continue }
    good.push(id)
    // Random delays make records finish out of order, so commits carry completed-beyond offsets.
    records.push({ key: id, value: doc(id, i % 7 === 3 ? 'transient:1' : `slow:${10 + Math.floor(rand() * 90)}`) })
  }
  return { good, poison, records }
}

function startWorker (args: string[]): { child: ChildProcess, ready: Promise<void>, idle: Promise<void>, exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/crash/worker.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env } })
  let out = ''
  const waitFor = (word: string): Promise<void> => new Promise((resolve, reject) => {
    const check = (): void => { if (out.includes(`${word}\n`)) resolve() }
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); check() })
    child.once('exit', () => reject(new Error(`worker exited before "${word}"`)))
  })
  const ready = waitFor('ready')
  const idle = waitFor('idle')
  idle.catch(() => {})
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return { child, ready, idle, exited }
}

/** Every id appears exactly once among the keys (no loss, no duplicate). */
function assertExactlyOnce (what: string, keys: Array<string | null>, expected: string[]): void {
  const counts = new Map<string, number>()
  for (const k of keys) counts.set(String(k), (counts.get(String(k)) ?? 0) + 1)
  const dupes = [...counts].filter(([, c]) => c > 1)
  const missing = expected.filter((id) => !counts.has(id))
  const extra = [...counts.keys()].filter((k) => !expected.includes(k))
  assert.deepEqual({ dupes: dupes.slice(0, 5), missing: missing.slice(0, 5), extra: extra.slice(0, 5) }, { dupes: [], missing: [], extra: [] }, `${what}: ${dupes.length} duplicated, ${missing.length} missing, ${extra.length} unexpected (seed ${SEED})`)
  assert.equal(keys.length, expected.length, what)
}

function keysOf (rows: Read[]): Array<string | null> { return rows.map((r) => r.key) }

test('kafka runner: SIGKILL at random moments, two workers sharing partitions, aborted transactions: nothing lost or duplicated', { timeout: 600_000 }, async () => {
  const rand = prng(SEED)
  const infra = testInfra()
  const prefix = unique('crash')
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'crash-test' }, testLogger())
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: 3 })
  await admin.disconnect()
  const inputs = makeInputs(Number(process.env.SYNTHQ_CRASH_RECORDS ?? 600), rand)
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const docs = topicName('documents', prefix)
  const messages = []
  for (const r of inputs.records) messages.push({ key: r.key, value: r.raw ?? await serde.encode(docs, r.value) })
  await producer.send({ topic: docs, messages })
  await producer.disconnect()

  // A read_committed reader that runs through the failures. A consumer may deliver a record
  // twice (after a rebalance of its own group); that is the reader, not the log, so records are
  // kept once per (partition, offset) and only then counted by key.
  const during = new Map<TopicName, Read[]>([['situations', []], ['synthesizedInstructions', []], ['deadLetters', []]])
  const seenAt = new Map<TopicName, Set<string>>([...during.keys()].map((k) => [k, new Set<string>()]))
  const tails = []
  for (const name of during.keys()) {
    const c = kafka.consumer({ groupId: unique('during'), readUncommitted: false })
    await c.connect()
    await c.subscribe({ topic: topicName(name, prefix), fromBeginning: true })
    await c.run({
      eachMessage: async ({ message, partition }) => {
        const at = `${partition}:${message.offset}`
        if (seenAt.get(name)!.has(at)) return
        seenAt.get(name)!.add(at)
        during.get(name)!.push({ key: message.key?.toString() ?? null, value: message.value })
      },
    })
    tails.push(c)
  }
  const expectedInstructions = inputs.good.map((id) => `ins-${id}`)
  const args = ['kafka', prefix, infra.bootstrap.join(','), infra.registryUrl, '0.33']
  type Worker = ReturnType<typeof startWorker>
  let survivor: Worker | undefined
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = Date.now()
      // From the second round on, two workers share the stages' partitions: the newcomer's
      // arrival moves partitions between live processes (revocation, fencing by transactional
      // id), then one of the two — chosen at random — is killed.
      const w = startWorker(args)
      await w.ready
      const tReady = Date.now() - t0
      // Kill at a random point of the run's progress, a little further each round (Kafka's own
      // test kills each copier after at least 20 % progress).
      const target = Math.floor(expectedInstructions.length * (round + rand()) / (ROUNDS + 1))
      const deadline = Date.now() + 60_000
      while (during.get('synthesizedInstructions')!.length < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      const [victim, keep] = survivor && rand() < 0.5 ? [survivor, w] : [w, survivor]
      victim.child.kill('SIGKILL')
      await victim.exited
      survivor = keep
      assert.ok(during.get('synthesizedInstructions')!.length < expectedInstructions.length, `round ${round} must kill a worker mid-run`)
      if (process.env.SYNTHQ_CRASH_VERBOSE) process.stderr.write(`round ${round}: ready after ${tReady} ms, killed ${victim === w ? 'the newcomer' : 'the survivor'} after ${Date.now() - t0} ms with ${during.get('synthesizedInstructions')!.length} instructions\n`)
    }
    const last = survivor ?? startWorker(args)
    await last.ready
    const deadline = Date.now() + 180_000
    while (during.get('synthesizedInstructions')!.length < expectedInstructions.length || during.get('deadLetters')!.length < inputs.poison.length) {
      if (Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 200))
    }
    last.child.kill('SIGTERM')
    assert.equal(await last.exited, 0, 'a clean stop exits 0')
  } finally {
    await Promise.all(tails.map((c) => c.disconnect()))
  }
  for (const name of ['situations', 'synthesizedInstructions'] as const) {
    const rows = during.get(name)!
    const count = new Map<string, number>()
    for (const r of rows) count.set(r.key!, (count.get(r.key!) ?? 0) + 1)
    for (const r of rows) {
      if ((count.get(r.key!) ?? 0) < 2) continue
      const v = await serde.decode<{ lineage: { run_id: string, upstream: unknown[], created_at: number } }>(topicName(name, prefix), r.value)
      process.stderr.write(`DUPLICATE ${name} ${r.key} run=${v.lineage.run_id.slice(0, 8)} upstream=${JSON.stringify(v.lineage.upstream)} at=${v.lineage.created_at}\n`)
    }
  }
  assertExactlyOnce('instructions seen during the failures', keysOf(during.get('synthesizedInstructions')!), expectedInstructions)
  assertExactlyOnce('situations seen during the failures', keysOf(during.get('situations')!), inputs.good.map((id) => `sit-${id}`))
  assertExactlyOnce('dead letters seen during the failures', keysOf(during.get('deadLetters')!), inputs.poison)
  assertExactlyOnce('instructions read afterwards', keysOf(await readTopicToEnd(kafka, topicName('synthesizedInstructions', prefix))), expectedInstructions)
  assertExactlyOnce('dead letters read afterwards', keysOf(await readTopicToEnd(kafka, topicName('deadLetters', prefix))), inputs.poison)
})

test('embedded runner: SIGKILL at random moments loses and duplicates nothing', { timeout: 300_000 }, async () => {
  const rand = prng(SEED + 1)
  const path = join(testTmpDir('crash-embedded'), 'synthq.db')
  const inputs = makeInputs(Number(process.env.SYNTHQ_CRASH_RECORDS_EMBEDDED ?? 1500), rand)
  const log = new EmbeddedLog(path)
  const serde = new AvroSerde(new EmbeddedRegistry(log.db, path), SchemaCatalog.load())
  const docs = topicName('documents')
  const encoded = []
  for (const r of inputs.records) encoded.push({ topic: docs, key: r.key, value: r.raw ?? await serde.encode(docs, r.value) })
  log.append(encoded)
  log.close()

  for (let round = 0; round < ROUNDS; round++) {
    const w = startWorker(['embedded', path])
    await w.ready
    await new Promise((r) => setTimeout(r, 100 + Math.floor(rand() * 900)))
    w.child.kill('SIGKILL')
    await w.exited
    const probe = new EmbeddedLog(path)
    const done = probe.head(topicName('synthesizedInstructions'))
    probe.close()
    assert.ok(done < inputs.good.length, `round ${round} must kill the worker mid-run (${done} done)`)
  }
  const last = startWorker(['embedded', path])
  await last.idle
  last.child.kill('SIGTERM')
  assert.equal(await last.exited, 0)

  const check = new EmbeddedLog(path)
  try {
    const read = (name: TopicName): Read[] => check.read(topicName(name), 0, 1e9).map((r) => ({ key: r.key, value: r.value }))
    assertExactlyOnce('situations', keysOf(read('situations')), inputs.good.map((id) => `sit-${id}`))
    assertExactlyOnce('instructions', keysOf(read('synthesizedInstructions')), inputs.good.map((id) => `ins-${id}`))
    assertExactlyOnce('dead letters', keysOf(read('deadLetters')), inputs.poison)
  } finally {
    check.close()
  }
})
