/**
 * Interoperability with a Confluent-format client no one here wrote: Confluent's Python client
 * (confluent-kafka / librdkafka) with its Schema Registry AvroSerializer and AvroDeserializer
 * (fastavro). Both directions, through the real broker and registry.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { TOPICS, topicName, type TopicName } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { clients, producer, readMessages } from '../helpers/kafka.ts'
import { bytesToJson, thirdPartyConsume, thirdPartyProduce } from '../helpers/third-party.ts'
import { testTmpDir } from '../helpers/env.ts'

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(bytesToJson(v)))

test('Confluent\'s Python AvroDeserializer decodes what synthq writes, for every topic', async (t) => {
  const { kafka, admin, serde, prefix } = await clients(t)
  await ensureTopics(admin, { prefix, partitions: 1 })
  const p = await producer(t, kafka)
  for (const spec of TOPICS) {
    const topic = topicName(spec.name, prefix)
    const value = SAMPLES[spec.name]
    await p.send({ topic, messages: [{ key: `k-${spec.name}`, value: await serde.encode(topic, value) }] })
    const [got] = await thirdPartyConsume(topic, 1)
    assert.ok(got)
    assert.equal(got.key, `k-${spec.name}`)
    assert.equal(got.schema_id, await serde.schemaId(topic))
    assert.deepEqual(got.value, plain(value), `${topic}: Python read what synthq wrote`)
  }
})

test('synthq decodes what Confluent\'s Python AvroSerializer writes', async (t) => {
  const { kafka, admin, serde, prefix } = await clients(t)
  await ensureTopics(admin, { prefix, partitions: 1 })
  const catalog = SchemaCatalog.load()
  const dir = testTmpDir('synthq-interop')
  const names: TopicName[] = ['documents', 'scoredInstructions', 'deadLetters']
  for (const name of names) {
    const spec = TOPICS.find((s) => s.name === name)!
    const topic = topicName(name, prefix)
    // The Python side is given the schema text only, and registers it itself.
    const schemaFile = join(dir, `${name}.avsc`)
    writeFileSync(schemaFile, catalog.get(spec.recordName).schema)
    const records = [1, 2, 3].map((i) => ({ key: `py-${i}`, value: { ...SAMPLES[name], id: `py-${i}` } }))
    await thirdPartyProduce(topic, records, { schemaFile })

    const msgs = await readMessages(kafka, topic, records.length)
    assert.equal(msgs.length, 3)
    for (const m of msgs) {
      assert.equal(m.value?.[0], 0, 'Confluent wire format: magic byte 0')
      const decoded = await serde.decode<Record<string, unknown>>(topic, m.value)
      assert.equal(decoded.id, m.key)
      assert.deepEqual(plain(decoded), plain({ ...SAMPLES[name], id: m.key }), `${topic}: synthq read what Python wrote`)
    }
  }
})
