/**
 * The sink's checkpoint and its Vendi probe, through the processor:
 * - a checkpoint written the old way (gzipSync of the state's JSON, as before snapshot() was
 *   asynchronous) restores, and snapshot() now writes the same bytes for the same state (its JSON,
 *   built across turns of the event loop, is JSON.stringify's string);
 * - the Vendi score measured in a worker thread leaves the very checkpoint an in-line
 *   measurement leaves (peak, latest score, everything else);
 * - a failing worker costs the measurement only: every record is processed and checkpointed as
 *   without a probe failure, and the failure is counted in metrics();
 * - close() ends the worker (the process can exit at once).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { Worker } from 'node:worker_threads'
import { gunzipSync, gzipSync } from 'node:zlib'
import { createLogger } from '../../src/log.ts'
import { buildLineage } from '../../src/processors/lineage.ts'
import type { InputRecord } from '../../src/processors/processor.ts'
import { readSinkState, stringifyInTurns, type SinkState } from '../../src/processors/sink/state-codec.ts'
import { TopicBalancedSink, type ScoredInstructionValue, type SinkOptions, type SinkRuntimeOptions } from '../../src/processors/sink/topic-balanced-sink.ts'
import type { StatefulContext } from '../../src/processors/stateful.ts'
import { spawnVendiWorker } from '../../src/sink/diversity/index.ts'
import { THEMES, VERBS } from '../fixtures/instruction-themes.ts'
import { SAMPLES } from '../fixtures/records.ts'

const BASE = SAMPLES.scoredInstructions as unknown as ScoredInstructionValue
/** Small enough to be quick, past 5,000 offers so that the sink measures the Vendi score once. */
const OPTIONS: Partial<SinkOptions> = {
  k: 6000, policy: 'top', seed: 3, vectors: 'lexical', diversityProbe: 40,
  dedup: { capacity: 100_000, falsePositiveRate: 1e-6 }, topics: { warmup: 40, maxTopics: 16, maxWarmupMs: 1e12, newTopicThreshold: 'auto' },
}

function context (logger = createLogger({ level: 'silent' })): StatefulContext {
  return {
    stage: 'sink', runId: 'codec-test', logger, now: () => 1_764_028_800_000,
    llm: () => { throw new Error('no LLM in this test') },
    table: () => { throw new Error('no tables') },
    lineage: (r, o = {}) => buildLineage('sink', 'codec-test', () => 'scored', Array.isArray(r) ? r : [r], o, 0),
  }
}

function records (n: number): Array<InputRecord<ScoredInstructionValue>> {
  return Array.from({ length: n }, (_, i) => {
    const words = THEMES[i % THEMES.length]!
    const instruction = `${VERBS[i % VERBS.length]} the ${words[i % words.length]} and ${words[(i * 5 + 1) % words.length]} case ${i}`
    return { topic: 'scoredInstructions', key: `ins-${i}`, value: { ...BASE, id: `ins-${i}`, instruction, total: 5 }, partition: 0, offset: String(i), timestamp: 1_764_028_800_000 + i }
  })
}

async function run (n: number, runtime: SinkRuntimeOptions, ctx = context()): Promise<TopicBalancedSink> {
  const sink = new TopicBalancedSink(OPTIONS, runtime)
  sink.init(ctx)
  sink.restore(null, ctx)
  const input = records(n)
  for (let i = 0; i < input.length; i += 128) await sink.processBatch(input.slice(i, i + 128), { ...ctx, signal: new AbortController().signal })
  return sink
}

describe('the sink checkpoint', () => {
  it('a checkpoint written by the old synchronous path (gzipSync) restores; snapshot() writes the same bytes', async () => {
    const a = await run(300, { vendi: 'inline' })
    const state: SinkState = readSinkState(await a.snapshot())
    const old = gzipSync(JSON.stringify(state), { level: 1 }) // what snapshot() returned before it was asynchronous
    const b = new TopicBalancedSink(OPTIONS, { vendi: 'inline' })
    b.restore(old, context())
    assert.deepEqual(b.metrics(), a.metrics())
    const again = await b.snapshot()
    assert.ok(again.equals(old), 'same state, same bytes')
    assert.deepEqual(JSON.parse(gunzipSync(again).toString('utf8')), state)
  })

  it('the checkpoint JSON built across turns is the string JSON.stringify makes, slices and odd values included', async () => {
    const big = Array.from({ length: 1300 }, (_, i): [string, number, null] => [`id-${i}`, i % 8, null]) // > one slice of flat entries
    const odd = {
      a: [1, undefined, () => 0, 'x', [2, undefined], { b: undefined, c: [] }, {}, null],
      skipped: undefined, f: () => 0, s: 'quote " and \u2028 line separator', n: -0, inf: Infinity, nan: NaN,
      nested: { big, mixed: [...big.slice(0, 600), { deep: big.slice(0, 3) }, ...big.slice(600, 1200)] },
      date: new Date(0), bytes: Buffer.from('ab'), floats: Float32Array.of(1.5, 2), empty: { list: [] as unknown[] },
    }
    assert.equal(await stringifyInTurns(odd), JSON.stringify(odd))
    for (const v of [null, 0, 'x', [], {}, [undefined], [[[]]]]) assert.equal(await stringifyInTurns(v), JSON.stringify(v))
    const sink = await run(5200, { vendi: 'inline' })
    const state = await sink.checkpointState()
    assert.equal(await stringifyInTurns(state), JSON.stringify(state))
    assert.ok((await sink.snapshot()).equals(gzipSync(JSON.stringify(state), { level: 1 })), 'snapshot() writes the bytes gzipSync of JSON.stringify wrote')
  })

  it('Vendi in a worker thread leaves the checkpoint an in-line measurement leaves', async () => {
    const inline = await run(5200, { vendi: 'inline' })
    const worker = await run(5200, { vendi: 'worker' })
    try {
      const a = readSinkState(await inline.snapshot())
      const b = readSinkState(await worker.snapshot())
      assert.ok(a.lastVendi !== null && a.lastVendi > 1, `measured once (${a.lastVendi})`)
      assert.equal(b.lastVendi, a.lastVendi)
      assert.equal(b.peakVendi, a.peakVendi)
      assert.deepEqual(b, a)
      assert.equal(worker.metrics().vendiFailures, 0)
    } finally {
      await worker.close()
    }
  })

  it('a failing Vendi worker skips the measurement only: records and counters as in a run without failure; logged and counted', async () => {
    const lines: string[] = []
    const ctx = context(createLogger({ level: 'error' }, { write: (s: string) => { lines.push(s) } }))
    const failing = await run(5200, { vendi: 'worker', spawnVendiWorker: () => new Worker('process.exit(2)', { eval: true }) }, ctx)
    const healthy = await run(5200, { vendi: 'inline' })
    const f = readSinkState(await failing.snapshot())
    const h = readSinkState(await healthy.snapshot())
    assert.equal(f.lastVendi, null)
    assert.equal(f.peakVendi, 0)
    assert.deepEqual({ ...f, lastVendi: h.lastVendi, peakVendi: h.peakVendi }, h)
    assert.equal(failing.metrics().vendiFailures, 1)
    assert.match(lines.join(''), /Vendi score measurement failed/)
    await failing.close()
  })

  it('close() terminates the Vendi worker', async () => {
    let spawned: Worker | undefined
    const sink = await run(5000, { vendi: 'worker', spawnVendiWorker: () => (spawned = spawnVendiWorker()) })
    await sink.snapshot()
    assert.ok(spawned, 'the 5,000th offer started a worker')
    const exited = once(spawned, 'exit')
    await sink.close()
    await exited
  })
})
