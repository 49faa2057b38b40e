import assert from 'node:assert/strict'
import { test } from 'node:test'
import { request } from 'undici'
import { RecordInvalidError } from '../../src/errors.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { TOPICS, topicName, valueSubject } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testInfra } from '../helpers/env.ts'
import { clients, producer, readMessages } from '../helpers/kafka.ts'

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

test('every topic round-trips registry-encoded Avro through a real broker', async (t) => {
  const { kafka, admin, serde, prefix } = await clients(t)
  const created = await ensureTopics(admin, { prefix, partitions: 3 })
  assert.equal(created.length, TOPICS.length)
  assert.deepEqual(await ensureTopics(admin, { prefix, partitions: 3 }), [], 'a second call creates nothing')

  const p = await producer(t, kafka, { idempotent: true })
  for (const spec of TOPICS) {
    const topic = topicName(spec.name, prefix)
    const value = SAMPLES[spec.name]
    const key = String(value.id ?? value.instruction_id)
    await p.send({ topic, messages: [{ key, value: await serde.encode(topic, value) }] })

    const [msg] = await readMessages(kafka, topic, 1)
    assert.ok(msg?.value)
    assert.equal(msg.key, key)
    // Wire format: magic byte, then the id the registry gave the topic's value subject.
    assert.equal(msg.value[0], 0)
    const latest = await request(`${testInfra().registryUrl}/subjects/${encodeURIComponent(valueSubject(topic))}/versions/latest`)
    const body = await latest.body.json() as { id: number, subject: string }
    assert.equal(latest.statusCode, 200)
    assert.equal(msg.value.readUInt32BE(1), body.id, `${topic}: schema id in the record is the subject's`)
    assert.deepEqual(plain(await serde.decode(topic, msg.value)), plain(value), `${topic} decodes to what was written`)
  }
})

test('topics are created with the cleanup policy of the topic map', async (t) => {
  const { admin, prefix } = await clients(t)
  await ensureTopics(admin, { prefix, partitions: 2 })
  const demos = topicName('demonstrations', prefix)
  const docs = topicName('documents', prefix)
  const res = await admin.describeConfigs({ includeSynonyms: false, resources: [demos, docs].map((name) => ({ type: 2, name, configNames: ['cleanup.policy'] })) })
  const policy = Object.fromEntries(res.resources.map((r) => [r.resourceName, r.configEntries[0]?.configValue]))
  assert.deepEqual(policy, { [demos]: 'compact', [docs]: 'delete' })
  const meta = await admin.fetchTopicMetadata({ topics: [docs] })
  assert.equal(meta.topics[0]?.partitions.length, 2)
})

test('an invalid record is refused before it reaches Kafka, naming the record and the fields', async (t) => {
  const { serde, prefix } = await clients(t)
  const topic = topicName('concepts', prefix)
  const bad = { ...SAMPLES.concepts, keywords: 'not-a-list', intention: null }
  await assert.rejects(serde.encode(topic, bad), (err: unknown) => {
    assert.ok(err instanceof RecordInvalidError)
    assert.match(err.message, /instruction_id=seed-1/)
    assert.deepEqual([...err.paths].sort(), ['intention', 'keywords'])
    return true
  })
})

test('poison bytes are a DecodeError that says what is wrong, not a crash', async (t) => {
  const { serde, prefix } = await clients(t)
  const topic = topicName('documents', prefix)
  await assert.rejects(serde.decode(topic, Buffer.from('{"id":"x"}')), /not the Confluent magic byte/)
  await assert.rejects(serde.decode(topic, Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2])), /schema id 2147483632 is not known to the registry/)
  // A real schema id with a body that is not an Avro Document.
  const good = await serde.encode(topic, SAMPLES.documents)
  const truncated = good.subarray(0, 9)
  await assert.rejects(serde.decode(topic, truncated), /Avro body does not match schema id/)
})
