/**
 * A processor may delete a key from a compacted topic with a tombstone (value null): tables
 * reading the topic drop the key. A tombstone to a non-compacted topic is a dead letter.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { emit, type Processor } from '../../src/processors/processor.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { TopologyBuilder } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { demonstration, doc } from '../helpers/test-topology.ts'

function deleter (): Processor<{ id: string, metadata: Record<string, string> }> {
  return {
    name: 'deleter',
    process (record) {
      const target = record.value.metadata.mode ?? ''
      // 'bad:<id>' writes the tombstone to a delete-policy topic instead.
      return target.startsWith('bad:')
        ? emit({ topic: 'situations', key: target.slice(4), value: null })
        : emit({ topic: 'demonstrations', key: target, value: null })
    },
  }
}

test('tombstones delete keys from compacted topics and the tables reading them', async () => {
  const path = join(testTmpDir('tombstone'), 'synthq.db')
  const topology = new TopologyBuilder('tombstones')
    .table('demonstrations')
    .stage({ name: 'deleter', input: 'documents', outputs: ['demonstrations', 'situations'], tables: ['demonstrations'], processor: deleter })
    .build()
  const runner = new EmbeddedRunner(topology, { path, logger: testLogger(), pollMs: 20 })
  await runner.start()
  try {
    await runner.produce('demonstrations', ['a', 'b', 'c'].map((id) => ({ key: id, value: demonstration(id) })))
    await runner.produce('documents', [{ key: 'd1', value: doc('d1', 'b') }, { key: 'd2', value: doc('d2', 'bad:x') }])
    const deadline = Date.now() + 10_000
    while (!runner.idle() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    const rows = runner.log.read(topicName('demonstrations'), 0, 1e9)
    // The embedded log compacts as it writes: b's value is gone, its tombstone stays, and the
    // offsets keep their gap (b's value was at offset 1).
    assert.deepEqual(rows.map((r) => [r.offset, r.key, r.value === null]), [[0, 'a', false], [2, 'c', false], [3, 'b', true]])
    assert.equal(runner.table('demonstrations')?.get('b'), undefined, 'the table dropped b')
    assert.ok(runner.table('demonstrations')?.get('a'), 'and kept a')
    const letters = runner.log.read(topicName('deadLetters'), 0, 1e9)
    assert.equal(letters.length, 1)
    const l = await runner.serde.decode<{ error_class: string, message: string }>(topicName('deadLetters'), letters[0]!.value)
    assert.equal(l.error_class, 'InvalidTombstone')
    assert.match(l.message, /not a compacted topic/)
  } finally {
    await runner.stop()
  }
})
