/**
 * The Kafka channels on a real broker: rebalances as each stage's consumer joins, commits whose
 * offsets match the records each partition held, aborts (injected at random, as the chaos suite
 * does), records, and KafkaJS's client events bridged. And with nobody subscribed, nothing is
 * published at all over a whole run.
 */
import assert from 'node:assert/strict'
import { describe, test, type TestContext } from 'node:test'
import type { Kafka } from 'kafkajs'
import { channels, subscribe, type ChannelMessages, type ChannelName } from '../../src/diagnostics/channels.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import type { AbortInjection } from '../../src/runtime/kafka/kafka-stage.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName } from '../../src/topics.ts'
import { testInfra, unique } from '../helpers/env.ts'
import { committedOffsets, groupCaughtUp, testLogger } from '../helpers/kafka.ts'
import { doc, newProbe, testTopology } from '../helpers/test-topology.ts'

const PARTITIONS = 3
const RECORDS = 30

interface Run { kafka: Kafka, prefix: string, stop: () => Promise<void> }

/**
 * Runs the conformance topology (situate → instruct) on Kafka over RECORDS documents and returns
 * once both stages have committed every record (read back from the broker, not waited for).
 */
async function runTopology (o: { abortRate?: AbortInjection } = {}): Promise<Run> {
  const infra = testInfra()
  const prefix = unique('diag')
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'diagnostics-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  try { await ensureTopics(admin, { prefix, partitions: PARTITIONS }) } finally { await admin.disconnect() }
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const runner = new KafkaRunner(testTopology(newProbe()), {
    connection: { brokers: infra.bootstrap, clientId: 'diagnostics' }, serde, logger: testLogger(), prefix,
    topics: { partitions: PARTITIONS }, commitIntervalMs: 20, ...(o.abortRate ? { abortRate: o.abortRate } : {}),
  })
  const producer = kafka.producer({ idempotent: true })
  try {
    await runner.start()
    await producer.connect()
    const topic = topicName('documents', prefix)
    const messages = []
    for (let i = 0; i < RECORDS; i++) messages.push({ key: `d-${i}`, value: await serde.encode(topic, doc(`d-${i}`)) })
    await producer.send({ topic, messages })
    for (const [stage, input] of [['situate', 'documents'], ['instruct', 'situations']] as const) {
      const started = Date.now()
      while (!await groupCaughtUp(kafka, `${prefix}.${stage}`, topicName(input, prefix))) {
        if (Date.now() - started > 120_000) throw new Error(`stage ${stage} has not committed its input: ${JSON.stringify(runner.stats())}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (err) {
    await runner.stop().catch(() => {})
    await producer.disconnect().catch(() => {})
    throw err
  }
  return { kafka, prefix, stop: async () => { await runner.stop(); await producer.disconnect() } }
}

/** Collects every message of the given channels until the test ends. */
function record<N extends ChannelName> (t: TestContext, names: N[]): { [K in N]: Array<ChannelMessages[K]> } {
  const seen = Object.fromEntries(names.map((n) => [n, []])) as unknown as { [K in N]: Array<ChannelMessages[K]> }
  for (const n of names) {
    const off = subscribe(n, (m) => { (seen[n] as unknown[]).push(m) })
    t.after(off)
  }
  return seen
}

describe('Kafka diagnostics channels', { timeout: 300_000 }, () => {
  test('with no subscribers, nothing is published over a whole run', async (t) => {
    const all = Object.values(channels)
    for (const ch of all) assert.equal(ch.hasSubscribers, false, `${ch.name} has no subscribers`)
    // Counted by an own `publish` on each channel object, removed afterwards: node:test's
    // mock.method would restore the inactive channel's no-op as an own property, which would
    // then shadow the active one's for the later subscribers.
    const calls = all.map(() => 0)
    all.forEach((ch, i) => Object.defineProperty(ch, 'publish', { configurable: true, value: () => { calls[i]!++ } }))
    t.after(() => { for (const ch of all) delete (ch as { publish?: unknown }).publish })
    const run = await runTopology()
    await run.stop()
    assert.deepEqual(calls, all.map(() => 0), 'no channel was published to')
  })

  test('rebalances, commits matching the records, aborts, records and client events', async (t) => {
    const seen = record(t, ['synthq:stage:record', 'synthq:kafka:rebalance', 'synthq:kafka:commit', 'synthq:kafka:abort', 'synthq:kafka:client'])
    // Four commits in five aborted before they commit (the outputs go out in a later
    // transaction): each stage's first, so every stage that commits at all shows aborts
    // (a random 0.8 left a stage with a single commit unaborted one run in five).
    const attempts = new Map<string, number>()
    const run = await runTopology({
      abortRate: (stage) => {
        const n = attempts.get(stage) ?? 0
        attempts.set(stage, n + 1)
        return n % 5 !== 4
      },
    })
    const committed = {
      situate: await committedOffsets(run.kafka, `${run.prefix}.situate`, topicName('documents', run.prefix)),
      instruct: await committedOffsets(run.kafka, `${run.prefix}.instruct`, topicName('situations', run.prefix)),
    }
    await run.stop()

    for (const stage of ['situate', 'instruct'] as const) {
      const group = `${run.prefix}.${stage}`
      // Rebalance: the only member gets every partition at its first join, having held none.
      const joins = seen['synthq:kafka:rebalance'].filter((m) => m.stage === stage)
      assert.ok(joins.length >= 1, `${stage} joined its group`)
      assert.deepEqual(joins[0], { stage, group, topic: joins[0]!.topic, memberId: joins[0]!.memberId, partitions: [0, 1, 2], assigned: [0, 1, 2], revoked: [] })

      // Records: every input record once, processed.
      const records = seen['synthq:stage:record'].filter((m) => m.stage === stage)
      assert.equal(records.length, RECORDS, `${stage}: one event per record`)
      assert.ok(records.every((m) => m.outcome === 'processed' && m.runner === 'kafka' && m.topology === 'conformance'))
      const perPartition = new Map<number, number>()
      const next = new Map<number, number>()
      for (const m of records) {
        perPartition.set(m.partition, (perPartition.get(m.partition) ?? 0) + 1)
        next.set(m.partition, Math.max(next.get(m.partition) ?? 0, Number(m.offset) + 1))
      }

      // Commits: transactional; the last offset committed on each partition is the one after its
      // last record, and is what the broker holds for the group. situate's input was written
      // without transactions, so its offsets run 0…n-1 and that is the partition's record count;
      // instruct's input is situate's transactional output, whose offsets skip the aborted
      // records and the transaction markers.
      const commits = seen['synthq:kafka:commit'].filter((m) => m.stage === stage)
      assert.ok(commits.every((m) => m.transactional && m.kind === 'records' && m.group === group && m.partitions.length === 1))
      const last = new Map<number, number>()
      for (const c of commits) for (const p of c.partitions) last.set(p.partition, Math.max(last.get(p.partition) ?? 0, Number(p.offset)))
      assert.deepEqual(new Map([...last].sort()), new Map([...next].sort()), `${stage}: committed offsets = one past each partition's last record`)
      if (stage === 'situate') assert.deepEqual(new Map([...last].sort()), new Map([...perPartition].sort()), 'situate: committed offsets = records per partition')
      assert.deepEqual(new Map([...committed[stage]].filter(([, o]) => o > 0).sort()), new Map([...last].sort()), `${stage}: the broker holds the offsets the events said`)
      assert.equal(commits.reduce((n, c) => n + c.records, 0), RECORDS, `${stage}: each record in exactly one commit`)
      assert.equal(commits.reduce((n, c) => n + c.outputs, 0), RECORDS, `${stage}: one output per record`)

      // Aborts: the injected ones, each naming its partition.
      const aborts = seen['synthq:kafka:abort'].filter((m) => m.stage === stage)
      assert.ok(aborts.length >= 1, `${stage}: some commits were aborted`)
      assert.ok(aborts.every((a) => a.reason === 'injected' && a.transactional && a.partitions.length === 1 && a.group === group))

      // KafkaJS's own events: the consumer connected and joined, the transactional producers connected.
      const client = seen['synthq:kafka:client'].filter((m) => m.stage === stage)
      const events = new Set(client.map((m) => `${m.client} ${m.event}`))
      for (const e of ['consumer consumer.connect', 'consumer consumer.group_join', 'producer producer.connect']) assert.ok(events.has(e), `${stage}: ${e} in ${[...events].join(', ')}`)
      assert.ok(client.filter((m) => m.client === 'producer').every((m) => m.transactionalId?.startsWith(`${group}.`)), 'producers name their transactional id')
      assert.ok(client.filter((m) => m.client === 'consumer').every((m) => m.group === group))
    }
    // The stages stopped: their consumers left (KafkaJS's disconnect and stop, bridged).
    const ended = new Set(seen['synthq:kafka:client'].filter((m) => m.stage === 'situate' && m.client === 'consumer').map((m) => m.event))
    assert.ok(ended.has('consumer.disconnect') || ended.has('consumer.stop'), [...ended].join(', '))
    // The table's consumer is bridged too.
    assert.ok(seen['synthq:kafka:client'].some((m) => m.table === topicName('demonstrations', run.prefix) && m.event === 'consumer.connect'))
  })
})
