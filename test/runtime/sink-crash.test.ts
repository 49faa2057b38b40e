/**
 * Crash tests of the sink, on both runners: the sink runs alone in a child process that is
 * killed with SIGKILL at random moments (seeded) and restarted; on Kafka a third of its
 * checkpoint transactions are also aborted on purpose, and a second instance starts while the
 * first runs and must fence it. In the end the sink's state must be
 * exactly the state of one uninterrupted pass over the input — same counters (every record
 * counted once: no loss, no double count), same reservoir, topics and duplicate filter — the
 * sample topic must hold exactly the reservoir's members, and every unreadable record must be
 * dead-lettered exactly once.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { readSinkState, type SinkState } from '../../src/processors/sink/topic-balanced-sink.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { readTopicToEnd } from '../../src/runtime/kafka/read-topic.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { pickCheckpoint, type CheckpointPart } from '../../src/runtime/checkpoint.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName } from '../../src/topics.ts'
import { mulberry32 } from '../../src/util/hash.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { comparable, referenceState, sinkInputs, type SinkInput } from '../helpers/sink-topology.ts'

const SEED = Number(process.env.SYNTHQ_CRASH_SEED ?? 20261125)
const ROUNDS = Number(process.env.SYNTHQ_CRASH_ROUNDS ?? 4)
const RECORDS = Number(process.env.SYNTHQ_SINK_CRASH_RECORDS ?? 1500)

const prng = mulberry32

/** Workers still alive when the tests end (a failed assertion skips the kills) are killed then. */
const children = new Set<ChildProcess>()
after(() => { for (const c of children) c.kill('SIGKILL') })

interface Worker { child: ChildProcess, ready: Promise<void>, fenced: Promise<void>, exited: Promise<number | null>, output: () => string, logTail: () => string }

function startWorker (args: string[], env: NodeJS.ProcessEnv = {}): Worker {
  // Warnings and errors of the worker are kept (the last 16 KB), to be shown when a wait fails.
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/crash/sink-worker.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYNTHQ_TEST_LOG_LEVEL: process.env.SYNTHQ_TEST_LOG_LEVEL ?? 'warn', ...env },
  })
  let out = ''
  let log = ''
  child.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-16_384) })
  const waitFor = (word: string): Promise<void> => new Promise((resolve, reject) => {
    const check = (): void => { if (out.includes(`${word}\n`)) resolve() }
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); check() })
    child.once('exit', () => reject(new Error(`worker exited before "${word}"`)))
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  const ready = waitFor('ready')
  const fenced = waitFor('fenced')
  fenced.catch(() => {})
  return { child, ready, fenced, exited: new Promise((r) => child.once('exit', (code) => r(code))), output: () => out, logTail: () => log }
}

/**
 * `p`, or an error naming what did not happen within `ms`, with the worker's output and the
 * tail of its log: a worker that hangs must fail this test with a reason, not run into the
 * file's timeout with none.
 */
async function within<T> (p: Promise<T>, ms: number, what: string, w: Worker): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what}: not within ${ms / 1000} s (pid ${w.child.pid}); stdout ${JSON.stringify(w.output())}; log tail:\n${w.logTail().split('\n').slice(-20).join('\n')}`)) }, ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

interface SinkView { state: SinkState | null, next: number, sample: string[], letters: Array<string | null> }

/** The sink's latest checkpoint, the sample's latest members and the dead letters, from raw records. */
async function view (serde: AvroSerde, prefix: string, state: Array<{ key: string | null, value: Buffer | null }>, sample: Array<{ key: string | null, value: Buffer | null }>, letters: Array<{ key: string | null }>): Promise<SinkView> {
  const latest = new Map<string, Buffer | null>()
  for (const r of state) if (r.key) latest.set(r.key, r.value)
  const parts: CheckpointPart[] = []
  for (const v of latest.values()) if (v) parts.push(await serde.decode<CheckpointPart>(topicName('sinkState', prefix), v))
  const cp = pickCheckpoint(parts)
  const rows = new Map<string, boolean>()
  for (const r of sample) if (r.key) rows.set(r.key, r.value !== null)
  return { state: cp ? readSinkState(cp.state) : null, next: cp?.offsets.get(0) ?? 0, sample: [...rows].filter(([, live]) => live).map(([k]) => k).sort(), letters: letters.map((l) => l.key) }
}

function check (v: SinkView, inputs: SinkInput[], reference: SinkState): void {
  assert.ok(v.state, 'a checkpoint exists')
  assert.equal(v.next, inputs.length, 'the checkpoint covers every input record')
  assert.equal(v.state.counters.seen + v.letters.length, inputs.length, `every record counted once (seen ${v.state.counters.seen}, dead letters ${v.letters.length}, inputs ${inputs.length}; seed ${SEED})`)
  assert.deepEqual(comparable(v.state), comparable(reference), 'the state equals one uninterrupted pass over the input')
  const members = reference.reservoir.topics.flatMap((t) => t.items.map(([id]) => id)).sort()
  assert.deepEqual(v.sample, members, 'the sample topic holds exactly the reservoir')
  const poison = inputs.filter((r) => r.raw).map((r) => r.key).sort()
  assert.deepEqual([...v.letters].sort(), poison, 'each unreadable record dead-lettered once')
}

test('sink on the embedded runner: SIGKILL at random moments, then the state is one uninterrupted pass', { timeout: 300_000 }, async () => {
  const rand = prng(SEED + 7)
  const inputs = sinkInputs(RECORDS)
  const reference = await referenceState(inputs)
  assert.ok(reference.counters.dropped.below_min_score > 0 && reference.counters.dropped.duplicate_id > 0 && reference.counters.dropped.duplicate_text > 0 && reference.counters.evicted > 0, 'the input exercises every drop reason and evictions')
  const path = join(testTmpDir('sink-crash-embedded'), 'synthq.db')
  const log = new EmbeddedLog(path)
  const serde = new AvroSerde(new EmbeddedRegistry(log.db, path), SchemaCatalog.load())
  const topic = topicName('scoredInstructions')
  const encoded = []
  for (const r of inputs) encoded.push({ topic, key: r.key, value: r.raw ?? await serde.encode(topic, r.value) })
  log.append(encoded)
  log.close()
  const consumer = 'synthq.sink'
  for (let round = 0; round < ROUNDS; round++) {
    const w = startWorker(['embedded', path])
    await within(w.ready, 120_000, 'the embedded sink worker to start', w)
    // Kill once the checkpointed position passes a point further into the input each round.
    const target = Math.floor(inputs.length * (round + 0.3 + 0.5 * rand()) / (ROUNDS + 1))
    const until = Date.now() + 60_000
    for (;;) {
      const p = new EmbeddedLog(path)
      const at = p.position(consumer, topic).committed
      p.close()
      if (at >= target || Date.now() > until) break
      await new Promise((r) => setTimeout(r, 10))
    }
    w.child.kill('SIGKILL')
    await w.exited
    const probe = new EmbeddedLog(path)
    const at = probe.position(consumer, topic).committed
    probe.close()
    assert.ok(at < inputs.length, `round ${round} must kill the sink mid-run (checkpointed ${at} of ${inputs.length})`)
  }
  const last = startWorker(['embedded', path])
  await within(last.ready, 120_000, 'the last embedded sink worker to start', last)
  const deadline = Date.now() + 120_000
  for (;;) {
    const probe = new EmbeddedLog(path)
    const at = probe.position(consumer, topic).committed
    probe.close()
    if (at >= inputs.length) break
    assert.ok(Date.now() < deadline, `the sink catches up (at ${at})`)
    await new Promise((r) => setTimeout(r, 100))
  }
  last.child.kill('SIGTERM')
  assert.equal(await within(last.exited, 60_000, 'the embedded sink worker to exit after SIGTERM', last), 0)
  const done = new EmbeddedLog(path)
  try {
    const s = new AvroSerde(new EmbeddedRegistry(done.db, path), SchemaCatalog.load())
    check(await view(s, 'synthq', [...done.scan(topicName('sinkState'))], [...done.scan(topicName('sample'))], [...done.scan(topicName('deadLetters'))]), inputs, reference)
  } finally {
    done.close()
  }
})

test('sink on Kafka: SIGKILL at random moments, a third of its checkpoints aborted and a second instance that fences the first, then the state is one uninterrupted pass', { timeout: 540_000 }, async () => {
  const rand = prng(SEED + 11)
  const infra = testInfra()
  const prefix = unique('sinkcrash')
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'sink-crash-test' }, testLogger())
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: 1 })
  await admin.disconnect()
  const inputs = sinkInputs(RECORDS)
  const reference = await referenceState(inputs)
  const topic = topicName('scoredInstructions', prefix)
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const messages = []
  for (const r of inputs) messages.push({ key: r.key, value: r.raw ?? await serde.encode(topic, r.value) })
  for (let i = 0; i < messages.length; i += 200) await producer.send({ topic, messages: messages.slice(i, i + 200) })
  await producer.disconnect()
  const read = async (): Promise<SinkView> => await view(serde, prefix, await readTopicToEnd(kafka, topicName('sinkState', prefix)), await readTopicToEnd(kafka, topicName('sample', prefix)), await readTopicToEnd(kafka, topicName('deadLetters', prefix)))
  const args = ['kafka', prefix, infra.bootstrap.join(','), infra.registryUrl]
  // A third of the checkpoint transactions aborted on purpose: neither a restore nor a reader
  // may see what they wrote (their state parts, sample rows, offsets).
  const aborts = { SYNTHQ_TEST_ABORT_RATE: '0.33' }
  // Kill once the committed position passes a point further into the input each round (as the
  // runtime's crash test does), so that every round kills mid-run whatever the machine's speed.
  const committed = async (): Promise<number> => {
    const a = kafka.admin()
    await a.connect()
    try {
      const [t] = await a.fetchOffsets({ groupId: `${prefix}.sink`, topics: [topic] })
      return Math.max(0, Number(t?.partitions[0]?.offset ?? 0))
    } finally {
      await a.disconnect()
    }
  }
  const untilProgress = async (round: number): Promise<void> => {
    const target = Math.floor(inputs.length * (round + 0.3 + 0.5 * rand()) / (ROUNDS + 1))
    const deadline = Date.now() + 60_000
    while ((await committed()) < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
  }
  for (let round = 0; round < ROUNDS; round++) {
    const w = startWorker(args, aborts)
    await within(w.ready, 120_000, `the sink worker of round ${round} to start`, w)
    if (round === 1) {
      // A second instance: it fences the first (same transactional id), which stops at its
      // next checkpoint; then the newcomer is killed too.
      await new Promise((r) => setTimeout(r, 300))
      const second = startWorker(args, aborts)
      await within(second.ready, 120_000, 'the second sink instance to start', second)
      await within(w.fenced, 30_000, 'the first instance to be fenced', w)
      w.child.kill('SIGKILL')
      await w.exited
      await untilProgress(round)
      second.child.kill('SIGKILL')
      await second.exited
    } else {
      await untilProgress(round)
      w.child.kill('SIGKILL')
      await w.exited
    }
    const v = await read()
    assert.ok(v.next < inputs.length, `round ${round} must kill the sink mid-run (checkpointed ${v.next} of ${inputs.length})`)
  }
  const last = startWorker(args, aborts)
  await within(last.ready, 120_000, 'the last sink worker to start', last)
  const deadline = Date.now() + 180_000
  let v = await read()
  while (v.next < inputs.length) {
    assert.ok(Date.now() < deadline, `the sink catches up (at ${v.next})`)
    await new Promise((r) => setTimeout(r, 500))
    v = await read()
  }
  last.child.kill('SIGTERM')
  assert.equal(await within(last.exited, 60_000, 'the sink worker to exit after SIGTERM', last), 0)
  const aborted = Number(/aborted (\d+)/.exec(last.output())?.[1] ?? NaN)
  assert.ok(aborted > 0, `checkpoint transactions were aborted on purpose (the last worker says ${aborted})`)
  check(await read(), inputs, reference)
})
