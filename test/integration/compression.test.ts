/**
 * Topics written by other producers with any standard compression are readable: librdkafka
 * (Confluent's Python client) writes gzip, snappy, lz4 and zstd batches and synthq's KafkaJS
 * consumer, with the codecs registered in src/runtime/kafka/codecs.ts, reads them; and the
 * other way round.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import kafkajs from 'kafkajs'
import { unique } from '../helpers/env.ts'
import { batchCodecs } from '../helpers/log-segments.ts'
import { clients, producer, readMessages } from '../helpers/kafka.ts'
import { thirdPartyConsume, thirdPartyProduce } from '../helpers/third-party.ts'

const { CompressionTypes } = kafkajs
const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const
const KAFKAJS_TYPE = { gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD }

// Repetitive text compresses, so the batch really is compressed rather than stored.
const body = (codec: string, i: number): string => `${codec} record ${i}: ${'the quick brown fox jumps over the lazy dog. '.repeat(20)}`

for (const codec of CODECS) {
  test(`a ${codec}-compressed topic written by librdkafka is read by synthq`, async (t) => {
    const { kafka, admin } = await clients(t)
    const topic = unique(`compress-${codec}`)
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'compression.type', value: 'producer' }] }] })
    const records = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: body(codec, i) }))
    await thirdPartyProduce(topic, records, { compression: codec })
    const codecs = batchCodecs(topic)
    assert.ok(codecs.length > 0 && codecs.every((c) => c === codec), `batches on disk: ${codecs.join(', ')}`)
    const got = await readMessages(kafka, topic, records.length)
    assert.deepEqual(got.map((m) => [m.key, m.value?.toString()]), records.map((r) => [r.key, r.value]))
  })

  test(`synthq writes ${codec} batches that librdkafka reads`, async (t) => {
    const { kafka, admin } = await clients(t)
    const topic = unique(`compress-out-${codec}`)
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'compression.type', value: 'producer' }] }] })
    const p = await producer(t, kafka)
    const records = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: body(codec, i) }))
    await p.send({ topic, compression: KAFKAJS_TYPE[codec], messages: records })
    const codecs = batchCodecs(topic)
    assert.ok(codecs.length > 0 && codecs.every((c) => c === codec), `batches on disk: ${codecs.join(', ')}`)
    const got = await thirdPartyConsume(topic, records.length, { raw: true })
    assert.deepEqual(got.map((m) => [m.key, m.value]), records.map((r) => [r.key, r.value]))
  })
}
