/**
 * The Kafka runner: ingest into a fresh topic prefix, read the topic back with the registry
 * serde (count, keys, decoded values), then ingest again and find nothing added.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { c4DocumentId } from '../../src/search/readers.ts'
import { readTopicToEnd } from '../../src/runtime/kafka/read-topic.ts'
import { topicName } from '../../src/topics.ts'
import { testInfra, unique } from '../helpers/env.ts'
import { clients } from '../helpers/kafka.ts'
import { headLines, ingest, REPO_DATA } from './ingest-harness.ts'

const WEB = join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl')

test('kafka: ingest, read back with the serde, re-ingest adds 0', async (t) => {
  const infra = testInfra()
  const prefix = unique('ingest')
  const { kafka, serde, admin } = await clients(t, { prefix })
  const env = { ...process.env, SYNTHQ_KAFKA_BROKERS: infra.bootstrap.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl }
  const args = [WEB, join(REPO_DATA, 'demo'), '--runner', 'kafka', '--prefix', prefix, '--partitions', '3', '--batch', '128']
  const first = await ingest(args, { env })
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stdout, /600 new, 40 already there/)
  assert.doesNotMatch(first.stderr + first.stdout, /password|sasl/i)

  const topic = topicName('documents', prefix)
  assert.equal((await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!.partitions.length, 3)
  const records = await readTopicToEnd(kafka, topic)
  assert.equal(records.length, 600)
  const expected = headLines(WEB, 600).map((l) => JSON.parse(l) as { text: string, url: string })
  assert.deepEqual(records.map((r) => r.key).sort(), expected.map((e) => c4DocumentId(e.text)).sort())
  const byKey = new Map(expected.map((e) => [c4DocumentId(e.text), e]))
  for (const r of records.slice(0, 50)) {
    const v = await serde.decode<{ id: string, text: string, url: string, corpus: string, license: string }>(topic, r.value)
    assert.equal(v.id, r.key)
    assert.equal(v.text, byKey.get(r.key!)!.text)
    assert.equal(v.url, byKey.get(r.key!)!.url)
    assert.equal(v.corpus, 'c4')
    assert.equal(v.license, 'ODC-BY')
  }

  const again = await ingest(args, { env })
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stderr, /holds 600 key\(s\)/)
  assert.match(again.stdout, /0 new, 640 already there/)
  assert.equal((await readTopicToEnd(kafka, topic)).length, 600)
})

test('kafka: seeds, and a broker that is down is exit 1 with what to do', async () => {
  const infra = testInfra()
  const prefix = unique('ingest-seeds')
  const env = { ...process.env, SYNTHQ_KAFKA_BROKERS: infra.bootstrap.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl }
  const r = await ingest([join(REPO_DATA, 'seeds', 'oasst-prompts-en.jsonl'), '--to', 'seeds', '--runner', 'kafka', '--prefix', prefix], { env })
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /345 new/)
  const down = await ingest([join(REPO_DATA, 'demo'), '--runner', 'kafka', '--prefix', prefix], { env: { ...env, SYNTHQ_KAFKA_BROKERS: '127.0.0.1:1' } })
  assert.equal(down.code, 1)
  assert.match(down.stderr, /cannot reach Kafka at 127\.0\.0\.1:1.*npm run infra:up/)
})
