/**
 * `synthq tap`: decoded JSON lines from the embedded database and from Kafka + the registry.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
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
import { topicName } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const seeds = [1, 2, 3].map((i) => ({ ...SAMPLES.realInstructions, id: `seed-${i}`, prompt: `real prompt number ${i}` }))

function tap (args: string[], env: NodeJS.ProcessEnv = {}): Array<{ topic: string, offset: number, key: string, value: { id: string, prompt: string } }> {
  const r = spawnSync(process.execPath, [CLI, 'tap', ...args], { encoding: 'utf8', env: { ...process.env, ...env } })
  assert.equal(r.status, 0, r.stderr)
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
}

test('tap on the embedded runner: decoded records, --limit and --from', async () => {
  const db = join(testTmpDir('tap'), 'synthq.db')
  const log = new EmbeddedLog(db)
  const serde = new AvroSerde(new EmbeddedRegistry(log.db, db), SchemaCatalog.load())
  const topic = topicName('realInstructions')
  log.append(await Promise.all(seeds.map(async (s) => ({ topic, key: s.id, value: await serde.encode(topic, s) }))))
  log.close()
  const all = tap(['realInstructions', '--db', db])
  assert.deepEqual(all.map((r) => r.value.prompt), seeds.map((s) => s.prompt))
  assert.equal(all[0]!.topic, 'synthq.instructions.real')
  assert.deepEqual(tap(['synthq.instructions.real', '--db', db, '--from', '1', '--limit', '1']).map((r) => r.key), ['seed-2'])
})

test('tap on Kafka: registry-decoded records, without committing for any group', async () => {
  const infra = testInfra()
  const prefix = unique('tap')
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'tap-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  try {
    await ensureTopics(admin, { prefix, partitions: 2 })
    const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
    const topic = topicName('realInstructions', prefix)
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic, messages: await Promise.all(seeds.map(async (s) => ({ key: s.id, value: await serde.encode(topic, s) }))) })
    await producer.disconnect()
    const groupsBefore = (await admin.listGroups()).groups.length
    const rows = tap(['realInstructions', '--runner', 'kafka', '--prefix', prefix], { SYNTHQ_KAFKA_BROKERS: infra.bootstrap.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl })
    assert.deepEqual(rows.map((r) => r.value.id).sort(), seeds.map((s) => s.id))
    const groups = await admin.listGroups()
    const offsets = await Promise.all(groups.groups.filter((g) => g.groupId.startsWith('synthq-tap-')).map(async (g) => await admin.fetchOffsets({ groupId: g.groupId, topics: [topic] })))
    for (const o of offsets) for (const t of o) for (const p of t.partitions) assert.equal(p.offset, '-1', 'tap commits nothing')
    assert.ok(groups.groups.length >= groupsBefore)
  } finally {
    await admin.disconnect()
  }
})
