/**
 * Topic creation waits for leaders itself: a broker that has not yet heard of a new topic
 * (UNKNOWN_TOPIC_OR_PARTITION) or has no leader for it yet is asked again, anything else fails at
 * once, and a deadline names what is still missing. The admin here is scripted, so each answer
 * is certain; test/infra/three-node-cluster.test.ts runs the same code on three real brokers.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Admin, ITopicConfig } from 'kafkajs'
import { createTopicsAndWait, waitForTopicLeaders } from '../../src/runtime/kafka/topic-admin.ts'

type Answer = Error | Array<{ name: string, partitions: Array<{ partitionId: number, leader: number }> }>

const kafkaError = (type: string): Error => Object.assign(new Error(`This server does not host this topic-partition (${type})`), { type, retriable: true })

/** An Admin whose metadata answers are scripted, one per call; the last one repeats. */
function scriptedAdmin (answers: Answer[], opts: { createError?: Error, existing?: string[], offsetErrors?: Error[] } = {}) {
  const calls = { create: [] as ITopicConfig[][], metadata: 0, offsets: 0 }
  const existing = new Set(opts.existing ?? [])
  const admin = {
    createTopics: async ({ topics, waitForLeaders }: { topics: ITopicConfig[], waitForLeaders?: boolean }) => {
      assert.equal(waitForLeaders, false, 'KafkaJS\'s own wait is not used')
      calls.create.push(topics)
      if (opts.createError) throw opts.createError
      // As KafkaJS: false when every topic existed, an aggregate error when only some did.
      const existed = topics.filter((t) => existing.has(t.topic))
      if (existed.length === topics.length) return false
      if (existed.length > 0) throw Object.assign(new Error('Topic creation errors'), { errors: existed.map((t) => ({ type: 'TOPIC_ALREADY_EXISTS', topicName: t.topic })) })
      return true
    },
    listTopics: async () => opts.existing ?? [],
    fetchTopicOffsets: async () => {
      calls.offsets++
      const e = (opts.offsetErrors ?? []).shift()
      if (e) throw e
      return []
    },
    fetchTopicMetadata: async () => {
      const a = answers[Math.min(calls.metadata++, answers.length - 1)]!
      if (a instanceof Error) throw a
      return { topics: a.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ ...p, partitionErrorCode: 0, replicas: [], isr: [], offlineReplicas: [] })) })) }
    },
  }
  return { admin: admin as unknown as Admin, calls }
}

const led = (name: string, n: number, leader = 1) => ({ name, partitions: Array.from({ length: n }, (_, i) => ({ partitionId: i, leader })) })

test('UNKNOWN_TOPIC_OR_PARTITION and LEADER_NOT_AVAILABLE are asked again until every partition has a leader', async () => {
  const { admin, calls } = scriptedAdmin([
    kafkaError('UNKNOWN_TOPIC_OR_PARTITION'),
    kafkaError('LEADER_NOT_AVAILABLE'),
    [led('a', 3, -1), led('b', 1)], // a's partitions have no leader yet
    [led('a', 2), led('b', 1)], // a has fewer partitions than asked: not all known yet
    [led('a', 3), led('b', 1)],
  ])
  assert.deepEqual(await createTopicsAndWait(admin, [{ topic: 'a', numPartitions: 3 }, { topic: 'b', numPartitions: 1 }], { pollMs: 1 }), ['a', 'b'])
  assert.equal(calls.create.length, 1)
  assert.equal(calls.metadata, 5)
  assert.equal(calls.offsets, 2, 'each topic\'s leaders answered ListOffsets')
})

test('a leader that is in the metadata but not yet serving its partition (NOT_LEADER_FOR_PARTITION) is waited for', async () => {
  const { admin, calls } = scriptedAdmin([[led('a', 1)]], { offsetErrors: [kafkaError('NOT_LEADER_FOR_PARTITION'), kafkaError('NOT_LEADER_FOR_PARTITION')] })
  await waitForTopicLeaders(admin, [{ topic: 'a' }], { pollMs: 1 })
  assert.equal(calls.metadata, 3)
  assert.equal(calls.offsets, 3)
})

test('another error fails at once', async () => {
  const { admin, calls } = scriptedAdmin([kafkaError('TOPIC_AUTHORIZATION_FAILED')])
  await assert.rejects(waitForTopicLeaders(admin, [{ topic: 'a' }], { pollMs: 1 }), /TOPIC_AUTHORIZATION_FAILED/)
  assert.equal(calls.metadata, 1)
})

test('the deadline names the topic still without a leader', async () => {
  const { admin } = scriptedAdmin([[led('a', 1), led('b', 2, -1)]])
  await assert.rejects(waitForTopicLeaders(admin, [{ topic: 'a' }, { topic: 'b', partitions: 2 }], { timeoutMs: 30, pollMs: 5 }), /not ready after 30 ms: no leader yet for b$/)
})

test('topics created meanwhile by another worker are waited for but not reported as created; other creation errors are passed on', async () => {
  const all = scriptedAdmin([[led('a', 1), led('b', 1)]], { existing: ['a', 'b'] })
  assert.deepEqual(await createTopicsAndWait(all.admin, [{ topic: 'a', numPartitions: 1 }, { topic: 'b', numPartitions: 1 }], { pollMs: 1 }), [])
  assert.equal(all.calls.metadata, 1)

  const some = scriptedAdmin([[led('a', 1), led('b', 1)]], { existing: ['a'] })
  assert.deepEqual(await createTopicsAndWait(some.admin, [{ topic: 'a', numPartitions: 1 }, { topic: 'b', numPartitions: 1 }], { pollMs: 1 }), ['b'])

  const refused = Object.assign(new Error('Topic creation errors'), { errors: [{ type: 'INVALID_REPLICATION_FACTOR', topicName: 'a' }] })
  const failed = scriptedAdmin([[led('a', 1)]], { createError: refused })
  await assert.rejects(createTopicsAndWait(failed.admin, [{ topic: 'a', numPartitions: 1, replicationFactor: 3 }], { pollMs: 1 }), /Topic creation errors/)
  assert.equal(failed.calls.metadata, 0)

  const timedOut = Object.assign(new Error('Request createTopics timed out'), { type: 'REQUEST_TIMED_OUT' })
  const late = scriptedAdmin([[led('a', 1)]], { createError: timedOut, existing: ['a'] })
  assert.deepEqual(await createTopicsAndWait(late.admin, [{ topic: 'a', numPartitions: 1 }], { pollMs: 1 }), [], 'it timed out but the topic is there')
})
