/**
 * The 3-node option: three KRaft nodes on one machine form one cluster with replicated internal
 * topics, the pipeline's topics can be created through any node, transactions work, and losing
 * one node loses no acknowledged write.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import pRetry from 'p-retry'
import { startKafkaCluster, stopKafkaCluster, waitForKafkaCluster } from '../../deploy/local/lib/cluster.ts'
import { ensureKafka } from '../../deploy/local/lib/fetch.ts'
import { stopPid } from '../../deploy/local/lib/process.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { createTopicsAndWait, ensureTopics, topicPlan } from '../../src/runtime/kafka/topic-admin.ts'
import { unique, testTmpDir } from '../helpers/env.ts'
import { readMessages, testLogger } from '../helpers/kafka.ts'
import { freePortRange } from '../helpers/ports.ts'

test('a 3-node KRaft cluster replicates, runs transactions and survives losing a node', { timeout: 240_000 }, async (t) => {
  const base = await freePortRange(6)
  const cluster = startKafkaCluster(ensureKafka(), { size: 3, kafkaPort: base, dir: testTmpDir('synthq-3node'), node: () => ({ heapMb: 384 }) })
  t.after(() => stopKafkaCluster(cluster))
  await waitForKafkaCluster(cluster, 120_000)

  const kafka = createKafka({ brokers: cluster.bootstrap, clientId: 'three-node-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  t.after(() => admin.disconnect())
  const described = await admin.describeCluster()
  assert.deepEqual(described.brokers.map((b) => b.nodeId).sort(), [1, 2, 3])

  // The pipeline's topics, created through each node in turn: the node asked may not have heard
  // of a new topic yet (UNKNOWN_TOPIC_OR_PARTITION), which must not fail the creation.
  for (const [i, bootstrap] of cluster.bootstrap.entries()) {
    const viaNode = createKafka({ brokers: [bootstrap], clientId: `three-node-test-${i}` }, testLogger()).admin()
    await viaNode.connect()
    try {
      const prefix = unique(`layout${i}`)
      const created = await ensureTopics(viaNode, { prefix, partitions: 3, replicationFactor: 3 })
      const plan = topicPlan({ prefix, partitions: 3, replicationFactor: 3 })
      assert.deepEqual(created.sort(), plan.map((p) => p.topic).sort())
      // Another node may still be catching up on the new topics (clients retry that answer).
      const md = await pRetry(async () => await viaNode.fetchTopicMetadata({ topics: created }), { retries: 20, minTimeout: 100, factor: 1 })
      for (const m of md.topics) {
        assert.equal(m.partitions.length, 3, m.name)
        for (const p of m.partitions) assert.ok(p.leader >= 0 && p.replicas.length === 3, `${m.name}/${p.partitionId}`)
      }
      assert.deepEqual(await ensureTopics(viaNode, { prefix, partitions: 3, replicationFactor: 3 }), [], 'a second call creates nothing (even when the listing lags)')
    } finally {
      await viaNode.disconnect()
    }
  }

  const topic = unique('replicated')
  await createTopicsAndWait(admin, [{ topic, numPartitions: 3, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }])
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  for (const p of meta.topics[0]!.partitions) assert.equal(p.replicas.length, 3)

  const producer = kafka.producer({ transactionalId: unique('tx'), idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  t.after(() => producer.disconnect())
  const tx = await producer.transaction()
  await tx.send({ topic, acks: -1, messages: Array.from({ length: 30 }, (_, i) => ({ key: `a${i}`, value: `before-${i}` })) })
  await tx.commit()

  // Lose a node that is not the one the client bootstrapped from; writes with acks=all still
  // succeed because two in-sync replicas remain.
  await stopPid(cluster.nodes[2]!.pid, 1_000)
  const tx2 = await producer.transaction()
  await tx2.send({ topic, acks: -1, messages: Array.from({ length: 30 }, (_, i) => ({ key: `b${i}`, value: `after-${i}` })) })
  await tx2.commit()

  const got = await readMessages(kafka, topic, 60, 60_000)
  const values = new Set(got.map((m) => m.value?.toString()))
  assert.equal(values.size, 60)
  for (let i = 0; i < 30; i++) assert.ok(values.has(`before-${i}`) && values.has(`after-${i}`))
})
