/**
 * Dead letters on both runners: made for real (an embedded topology whose stage rejects records
 * while a flag is set; on Kafka, DeadLetter records written through the stage engine's own
 * deadLetterOf), then listed, summarised, shown and replayed: the exact original bytes go back
 * to the source topic with the replay header (Kafka) or ledger entry (embedded), a second replay
 * is refused without --force, and a replayed record that now succeeds is processed by its stage.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { runDlq } from '../../src/cli/dlq.ts'
import { emit, reject, type Processor } from '../../src/processors/processor.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { readTopicToEnd } from '../../src/runtime/kafka/read-topic.ts'
import { deadLetterOf, type RawRecord } from '../../src/runtime/stage-engine.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { selectLetters, summarize, type StoredLetter } from '../../src/ops/dlq.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { doc } from '../helpers/test-topology.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'

/** runDlq in this process, its output captured. */
async function dlq (args: string[], db = ''): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runDlq(args, { db }, testLogger(), { out: (t) => { out += t }, err: (t) => { err += t } })
  return { code, out, err }
}
const jsonLines = (s: string): Array<Record<string, unknown>> => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)

async function until<T> (what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const started = Date.now()
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

interface Doc { id: string, text: string, url: string | null, title: string | null, corpus: string, metadata: Record<string, string> }

/** documents → situations; rejects documents whose id starts with "bad" while `flag.fail` is set. */
function flakyTopology (flag: { fail: boolean }): ReturnType<TopologyBuilder['build']> {
  const processor = (): Processor<Doc> => ({
    name: 'flaky-situate',
    process (record, ctx) {
      const d = record.value
      if (flag.fail && d.id.startsWith('bad')) return reject(`endpoint for ${d.id} is misconfigured`, { errorClass: 'EndpointMisconfigured', rawOutput: `raw answer for ${d.id}` })
      return emit({
        topic: 'situations',
        key: `sit-${d.id}`,
        value: {
          id: `sit-${d.id}`, document: { id: d.id, url: d.url, title: d.title, corpus: d.corpus }, document_text: d.text, thought: 't', scene: `scene for ${d.id}`,
          query_compositions: { ability: 'a', knowledge: 'k', extra_information: 'e', output: 'o' }, lineage: ctx.lineage(record, { simulated: true }),
        },
      })
    },
  })
  return new TopologyBuilder('flaky').stage({ name: 'situate', input: 'documents', outputs: ['situations'], processor }).build()
}

test('selectors and summary', () => {
  const l = (id: string, stage: string, errorClass: string, message: string, failedAt: number): StoredLetter => ({
    partition: 0, offset: 0,
    letter: { id, stage, source_topic: 't', source_partition: 0, source_offset: 0, key: null, value: null, schema_id: null, headers: {}, error_class: errorClass, error_code: null, message, attempts: 1, raw_output: null, run_id: null, failed_at: failedAt },
  })
  const all = [l('a', 's1', 'E1', 'Timeout talking to model', 1), l('b', 's1', 'E1', 'refused', 3), l('c', 's2', 'E2', 'timeout again', 2)]
  assert.deepEqual(selectLetters(all, { grep: 'TIMEOUT' }).map((s) => s.letter.id), ['a', 'c'])
  assert.deepEqual(selectLetters(all, { stage: 's1', errorClass: 'E1', since: 2 }).map((s) => s.letter.id), ['b'])
  assert.deepEqual(selectLetters(all, { ids: ['c', 'a'] }).map((s) => s.letter.id), ['a', 'c'])
  assert.deepEqual(summarize(all).map((r) => [r.stage, r.errorClass, r.count, r.example]), [['s1', 'E1', 2, 'refused'], ['s2', 'E2', 1, 'timeout again']])
})

test('embedded: dead letters listed, summarised, shown; replay puts the bytes back once; the fixed stage processes them', async () => {
  const db = join(testTmpDir('dlq'), 'synthq.db')
  const flag = { fail: true }
  const runner = new EmbeddedRunner(flakyTopology(flag), { path: db, logger: testLogger(), pollMs: 20 })
  await runner.start()
  let stopped = false
  after(async () => { if (!stopped) await runner.stop() })
  const docsTopic = topicName('documents')
  await runner.produce('documents', [doc('good-1'), doc('bad-1'), doc('bad-2'), doc('good-2')].map((d) => ({ key: d.id as string, value: d })))
  const dlqTopic = topicName('deadLetters')
  await until('2 dead letters', () => (runner.log.read(dlqTopic, 0, 100).length >= 2 && runner.log.read(topicName('situations'), 0, 100).length >= 2) || undefined)
  const originals = new Map(runner.log.read(docsTopic, 0, 100).map((r) => [r.key!, r.value!]))

  const list = await dlq(['list', '--db', db, '--json'])
  assert.equal(list.code, 0, list.err)
  const rows = jsonLines(list.out)
  assert.deepEqual(rows.map((r) => r.key).sort(), ['bad-1', 'bad-2'])
  assert.ok(rows.every((r) => r.stage === 'situate' && r.error_class === 'EndpointMisconfigured' && r.source_topic === docsTopic && r.attempts === 1))
  assert.match(String(rows[0]!.message), /endpoint for bad-\d is misconfigured/)

  process.env.COLUMNS = '200'
  const table = await dlq(['--db', db])
  delete process.env.COLUMNS
  assert.equal(table.code, 0)
  assert.match(table.out, /id\s+failed at \(UTC\)\s+stage\s+source\s+error\s+attempts\s+reason/)
  assert.match(table.out, /\n[0-9a-f]{8}\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+situate\s+documents\[0\]@\d\s+EndpointMisconfigured\s+1\s+endpoint for bad-\d is misconfigured\n/)
  assert.match(table.out, /2 dead letter\(s\)/)

  const summary = await dlq(['summary', '--db', db, '--json'])
  assert.deepEqual(jsonLines(summary.out).map((r) => [r.stage, r.error_class, r.count]), [['situate', 'EndpointMisconfigured', 2]])
  assert.match(String(jsonLines(summary.out)[0]!.example), /misconfigured/)

  const id1 = String(rows.find((r) => r.key === 'bad-1')!.id)
  const shown = await dlq(['show', id1, '--db', db, '--json'])
  const s = jsonLines(shown.out)[0]!
  assert.equal(s.raw_output, 'raw answer for bad-1')
  assert.equal((s.value as { id: string }).id, 'bad-1', 'the original value decoded')
  assert.equal(s.value_base64, originals.get('bad-1')!.toString('base64'))
  const shownText = await dlq(['show', id1.slice(0, 8), '--db', db])
  assert.match(shownText.out, /raw output:\nraw answer for bad-1/)
  assert.match(shownText.out, /original value \(decoded\):\n\{\n {2}"id": "bad-1"/)

  // The cause is fixed; replay one by id, dry-run first.
  flag.fail = false
  const dry = await dlq(['replay', '--id', id1, '--db', db, '--dry-run'])
  assert.equal(dry.code, 0, dry.err)
  assert.match(dry.out, /would replay 1 dead letter\(s\):\n {2}situate → synthq\.documents: 1/)
  assert.equal(runner.log.read(docsTopic, 0, 100).length, 4, 'a dry run writes nothing')

  const replay = await dlq(['replay', '--id', id1, '--db', db, '--json'])
  assert.equal(replay.code, 0, replay.err)
  const [o] = jsonLines(replay.out)
  assert.deepEqual({ status: o!.status, topic: o!.topic, offset: o!.offset }, { status: 'replayed', topic: docsTopic, offset: 4 })
  const replayed = runner.log.read(docsTopic, 4, 10)
  assert.equal(replayed.length, 1)
  assert.equal(replayed[0]!.key, 'bad-1')
  assert.ok(replayed[0]!.value!.equals(originals.get('bad-1')!), 'the exact original bytes')
  assert.deepEqual(runner.log.db.prepare('SELECT topic, offset, dead_letter_id, stage FROM dlq_replays').all(), [{ topic: docsTopic, offset: 4, dead_letter_id: id1, stage: 'situate' }])

  // The running stage picks it up and, the cause fixed, processes it.
  const situations = await until('sit-bad-1', () => runner.log.read(topicName('situations'), 0, 100).find((r) => r.key === 'sit-bad-1'))
  assert.equal((await runner.serde.decode<{ document: { id: string } }>(topicName('situations'), situations.value)).document.id, 'bad-1')

  // Again: refused (exit 3) without --force; --all replays the other one only.
  const again = await dlq(['replay', '--id', id1, '--db', db])
  assert.equal(again.code, 3)
  assert.match(again.out, /refused 1: replayed before \(--force to replay again\):\n {2}.* replayed before to synthq\.documents offset 4/)
  const noSelector = await dlq(['replay', '--db', db])
  assert.equal(noSelector.code, 2)
  assert.match(noSelector.err, /needs a selector .* or --all/)
  const rest = await dlq(['replay', '--all', '--db', db, '--json'])
  assert.equal(rest.code, 3, 'one of the two was replayed before')
  assert.deepEqual(jsonLines(rest.out).map((r) => [r.status, r.offset]).sort(), [['replayed', 5], ['replayed-before', 4]])
  const forced = await dlq(['replay', '--id', id1, '--force', '--db', db, '--json'])
  assert.equal(forced.code, 0)
  assert.deepEqual(jsonLines(forced.out).map((r) => [r.status, r.offset]), [['replayed', 6]])
  await until('sit-bad-2', () => runner.log.read(topicName('situations'), 0, 100).find((r) => r.key === 'sit-bad-2'))
  await runner.stop()
  stopped = true
})

test('kafka: dead letters from deadLetterOf listed and shown; replay writes the exact bytes with synthq-replay-of, once', async () => {
  const infra = testInfra()
  const prefix = unique('dlq')
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'dlq-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const saved = { brokers: process.env.SYNTHQ_KAFKA_BROKERS, registry: process.env.SYNTHQ_REGISTRY_URL }
  process.env.SYNTHQ_KAFKA_BROKERS = infra.bootstrap.join(',')
  process.env.SYNTHQ_REGISTRY_URL = infra.registryUrl
  after(async () => {
    process.env.SYNTHQ_KAFKA_BROKERS = saved.brokers
    process.env.SYNTHQ_REGISTRY_URL = saved.registry
    if (saved.brokers === undefined) delete process.env.SYNTHQ_KAFKA_BROKERS
    if (saved.registry === undefined) delete process.env.SYNTHQ_REGISTRY_URL
    await producer.disconnect()
    await admin.disconnect()
  })
  await ensureTopics(admin, { prefix, partitions: 3 })
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const docs = topicName('documents', prefix)
  const scored = topicName('synthesizedInstructions', prefix)
  const dlqTopic = topicName('deadLetters', prefix)
  // Source records, then their dead letters, as the stage engine writes them.
  const sources: RawRecord[] = []
  for (const id of ['d1', 'd2', 'd3']) {
    const value = await serde.encode(docs, doc(id))
    const [meta] = await producer.send({ topic: docs, messages: [{ key: id, value }] })
    sources.push({ key: Buffer.from(id), value, partition: meta!.partition, offset: meta!.baseOffset!, timestamp: Date.now() })
  }
  const letters = [
    await deadLetterOf(sources[0]!, { errorClass: 'RetriesExhausted', code: 'SYNTHQ_LLM_UNAVAILABLE', message: 'model endpoint timed out after 5 attempts', attempts: 5 }, { stage: 'situation-envisioning', inputTopic: docs, dlqTopic, runId: 'run-1', now: Date.now() - 60_000, serde, logger: testLogger() }),
    await deadLetterOf(sources[1]!, { errorClass: 'InvalidOutput', code: 'SYNTHQ_LLM_OUTPUT', message: 'answer is not JSON', attempts: 2, rawOutput: 'Sure! Here is' }, { stage: 'situation-envisioning', inputTopic: docs, dlqTopic, runId: 'run-1', now: Date.now() - 30_000, serde, logger: testLogger() }),
    await deadLetterOf(sources[2]!, { errorClass: 'RetriesExhausted', code: 'SYNTHQ_LLM_UNAVAILABLE', message: 'model endpoint timed out after 5 attempts', attempts: 5 }, { stage: 'situation-envisioning', inputTopic: docs, dlqTopic, runId: 'run-1', now: Date.now() - 20_000, serde, logger: testLogger() }),
    // Not replayable: a tombstone, and a source topic outside the pipeline.
    await deadLetterOf({ key: Buffer.from('gone'), value: null, partition: 0, offset: '7', timestamp: 0 }, { errorClass: 'DecodeError', code: 'SYNTHQ_DECODE', message: 'empty value', attempts: 1 }, { stage: 'scoring', inputTopic: scored, dlqTopic, runId: 'run-1', now: Date.now() - 10_000, serde, logger: testLogger() }),
    await deadLetterOf({ key: Buffer.from('x'), value: sources[0]!.value, partition: 0, offset: '0', timestamp: 0 }, { errorClass: 'DecodeError', code: 'SYNTHQ_DECODE', message: 'foreign', attempts: 1 }, { stage: 'other', inputTopic: 'someone.elses.topic', dlqTopic, runId: 'run-1', now: Date.now(), serde, logger: testLogger() }),
  ]
  await producer.send({ topic: dlqTopic, messages: letters.map((l) => ({ key: l.key, value: l.value })) })
  const k = ['--runner', 'kafka', '--prefix', prefix]

  const list = await dlq(['list', '--json', ...k])
  assert.equal(list.code, 0, list.err)
  const rows = jsonLines(list.out)
  assert.equal(rows.length, 5)
  assert.deepEqual(rows.slice(0, 3).map((r) => r.key), ['d1', 'd2', 'd3'], 'in failure order')
  const grep = await dlq(['list', '--json', '--grep', 'TIMED OUT', '--stage', 'situation-envisioning', ...k])
  assert.deepEqual(jsonLines(grep.out).map((r) => r.key), ['d1', 'd3'])
  const limited = await dlq(['list', '--json', '--limit', '1', '--error', 'InvalidOutput', ...k])
  assert.deepEqual(jsonLines(limited.out).map((r) => r.key), ['d2'])
  const summary = await dlq(['summary', ...k])
  assert.match(summary.out, /situation-envisioning\s+RetriesExhausted\s+2\s+.*model endpoint timed out after 5 attempts/)
  assert.match(summary.out, /5 dead letter\(s\) in 4 group\(s\)/)
  const d2 = String(rows[1]!.id)
  const shown = jsonLines((await dlq(['show', d2, '--json', ...k])).out)[0]!
  assert.equal(shown.raw_output, 'Sure! Here is')
  assert.equal((shown.value as { id: string }).id, 'd2')

  // Replay the timed-out ones.
  const replay = await dlq(['replay', '--error', 'RetriesExhausted', '--json', ...k])
  assert.equal(replay.code, 0, replay.err + replay.out)
  const outs = jsonLines(replay.out)
  assert.deepEqual(outs.map((o) => o.status), ['replayed', 'replayed'])
  const all = await readTopicToEnd(kafka, docs)
  for (const [i, src] of [[0, sources[0]!], [1, sources[2]!]] as const) {
    const o = outs[i]!
    assert.equal(o.partition, src.partition, 'to the partition the record was read from')
    const rec = all.find((r) => r.partition === o.partition && r.offset === o.offset)!
    assert.ok(rec.value!.equals(src.value!), 'the exact original bytes')
    assert.equal(rec.key, src.key!.toString())
  }
  // The header, read the way any client reads it.
  const consumer = kafka.consumer({ groupId: unique('dlq-check') })
  const headers: Record<string, string> = {}
  await consumer.connect()
  await consumer.subscribe({ topic: docs, fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { if (message.headers?.['synthq-replay-of']) headers[message.key!.toString()] = message.headers['synthq-replay-of'].toString() } })
  await until('replay headers', () => Object.keys(headers).length === 2 || undefined)
  await consumer.disconnect()
  assert.deepEqual(headers, { d1: outs[0]!.id, d3: outs[1]!.id })

  // Again: refused, found by the header; --all also reports what cannot be replayed.
  const again = await dlq(['replay', '--all', ...k])
  assert.equal(again.code, 3)
  assert.match(again.out, /replayed 1 dead letter\(s\):\n {2}situation-envisioning → .*documents: 1/)
  assert.match(again.out, /refused 2: replayed before/)
  assert.match(again.out, /not replayable 2:\n.*\(scoring\): its value is null.*\n.*\(other\): its source topic someone\.elses\.topic is not a pipeline topic/)
  const forced = await dlq(['replay', '--id', String(outs[0]!.id), '--force', '--json', ...k])
  assert.deepEqual(jsonLines(forced.out).map((o) => o.status), ['replayed'])
  assert.equal((await readTopicToEnd(kafka, docs)).length, 3 + 2 + 1 + 1)
  // No reader left a group behind.
  assert.deepEqual((await admin.listGroups()).groups.filter((g) => g.groupId.startsWith(`synthq-tap-${prefix}`)), [])
})

test('kafka: a stage\'s dead letter, replayed after the fix, is processed by the running stage', async () => {
  const infra = testInfra()
  const prefix = unique('dlq-run')
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'dlq-run-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  await ensureTopics(admin, { prefix, partitions: 2 })
  await admin.disconnect()
  const flag = { fail: true }
  const runner = new KafkaRunner(flakyTopology(flag), { connection: { brokers: infra.bootstrap, clientId: 'dlq-run' }, serde, logger: testLogger(), prefix, topics: { partitions: 2 }, commitIntervalMs: 20 })
  await runner.start()
  const saved = { brokers: process.env.SYNTHQ_KAFKA_BROKERS, registry: process.env.SYNTHQ_REGISTRY_URL }
  process.env.SYNTHQ_KAFKA_BROKERS = infra.bootstrap.join(',')
  process.env.SYNTHQ_REGISTRY_URL = infra.registryUrl
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  try {
    const docs = topicName('documents', prefix)
    await producer.send({ topic: docs, messages: await Promise.all([doc('good-1'), doc('bad-1')].map(async (d) => ({ key: d.id as string, value: await serde.encode(docs, d) }))) })
    const k = ['--runner', 'kafka', '--prefix', prefix]
    const letter = await until('the dead letter', async () => jsonLines((await dlq(['list', '--json', ...k])).out)[0], 60_000)
    assert.deepEqual([letter.key, letter.stage, letter.error_class], ['bad-1', 'situate', 'EndpointMisconfigured'])
    flag.fail = false
    const replay = await dlq(['replay', '--id', String(letter.id), ...k])
    assert.equal(replay.code, 0, replay.err + replay.out)
    assert.match(replay.out, /replayed 1 dead letter\(s\):\n {2}situate → .*\.documents: 1/)
    const situations = topicName('situations', prefix)
    await until('sit-bad-1', async () => (await readTopicToEnd(kafka, situations)).find((r) => r.key === 'sit-bad-1'), 60_000)
    // Processed once; the dead-letter topic holds only the first failure.
    assert.equal(jsonLines((await dlq(['list', '--json', ...k])).out).length, 1)
    assert.equal((await dlq(['replay', '--id', String(letter.id), ...k])).code, 3, 'found by its header: refused')
  } finally {
    await producer.disconnect()
    await runner.stop()
    process.env.SYNTHQ_KAFKA_BROKERS = saved.brokers
    process.env.SYNTHQ_REGISTRY_URL = saved.registry
    if (saved.brokers === undefined) delete process.env.SYNTHQ_KAFKA_BROKERS
    if (saved.registry === undefined) delete process.env.SYNTHQ_REGISTRY_URL
  }
})
