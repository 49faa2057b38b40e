/**
 * The sink report (src/sink/report.ts) over states built by running the real sink
 * (TopicBalancedSink with lexical vectors, no LLM): the counts add up (every scored instruction
 * is dropped for one reason, rejected, offered or waiting for warm-up; Σ kept over topics is
 * the sample; Σ seen over topics is what was offered), the balance ratio of capped topics stays
 * within (ℓ + 1)/ℓ of the water level, the score histogram is the kept items' totals, and the
 * health checks trip exactly where documented: filter rejection above 80 % once 100 scored
 * instructions were seen, diversity collapse below half the peak Vendi score. The last three
 * tests guard against two bugs found here: the eigenvalue routine failing on rank-deficient
 * kernels, and the peak Vendi score recorded only when a measuring offer was admitted.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createLogger } from '../../src/log.ts'
import { buildLineage } from '../../src/processors/lineage.ts'
import type { InputRecord } from '../../src/processors/processor.ts'
import { readSinkState, TopicBalancedSink, type ScoredInstructionValue, type SinkOptions, type SinkState } from '../../src/processors/sink/topic-balanced-sink.ts'
import type { StatefulContext } from '../../src/processors/stateful.ts'
import { COLLAPSE_SHARE, formatSinkReport, REJECTION_LIMIT, sinkReport, type HealthCheck, type SinkReport } from '../../src/sink/report.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { referenceState, sinkInputs } from '../helpers/sink-topology.ts'
import { THEMES, VERBS } from '../fixtures/instruction-themes.ts'

const BASE = SAMPLES.scoredInstructions as unknown as ScoredInstructionValue
const SMALL_DEDUP = { capacity: 100_000, falsePositiveRate: 1e-6 }
/** No diversity probe unless a test asks for one: the counting tests do not need the Vendi score. */
const NO_PROBE = 0


function textOf (i: number, theme: number): string {
  const words = THEMES[theme % THEMES.length]!
  const pick = (j: number): string => words[(i * 7 + j * 3) % words.length]!
  return `${VERBS[(i * 5) % VERBS.length]} the ${pick(0)} and ${pick(1)} of ${pick(2)} case ${i}`
}

interface Gen { total?: (i: number) => number, theme?: (i: number) => number }

/** n distinct scored instructions (ids ins-0 …), totals and themes chosen by `g`. */
function values (n: number, g: Gen = {}): ScoredInstructionValue[] {
  const total = g.total ?? ((i: number) => 3 + ((i * 3) % 5))
  const theme = g.theme ?? ((i: number) => i % THEMES.length)
  return Array.from({ length: n }, (_, i) => ({ ...BASE, id: `ins-${i}`, instruction: textOf(i, theme(i)), total: total(i) }))
}

function context (): StatefulContext {
  return {
    stage: 'sink',
    runId: 'report-test',
    logger: createLogger({ level: 'silent' }),
    now: () => 1_764_028_800_000,
    llm: () => { throw new Error('no LLM in this test') },
    table: () => { throw new Error('no tables') },
    lineage: (r, o = {}) => buildLineage('sink', 'report-test', () => 'scored', Array.isArray(r) ? r : [r], o, 0),
  }
}

/** Runs the real sink over `inputs` (values; anything else is an unreadable record), flushes, and reads its checkpoint. */
async function run (inputs: readonly unknown[], options: Partial<SinkOptions>): Promise<SinkState> {
  const sink = new TopicBalancedSink({ vectors: 'lexical', dedup: SMALL_DEDUP, seed: 11, diversityProbe: NO_PROBE, ...options })
  const ctx = context()
  sink.init(ctx)
  sink.restore(null, ctx)
  const records = inputs.map((v, i) => ({ topic: 'scoredInstructions', key: `k${i}`, value: v, partition: 0, offset: String(i), timestamp: 1_764_028_800_000 + i }) as InputRecord<ScoredInstructionValue>)
  for (let i = 0; i < records.length; i += 50) await sink.processBatch(records.slice(i, i + 50), { ...ctx, signal: new AbortController().signal })
  sink.flush(ctx)
  return readSinkState(await sink.snapshot())
}

const topics = (o: Partial<SinkOptions['topics']> = {}): SinkOptions['topics'] => ({ warmup: 40, maxTopics: 32, maxWarmupMs: 1e12, newTopicThreshold: 'auto', ...o })
const members = (s: SinkState): Array<[string, number]> => s.reservoir.topics.flatMap((t) => t.items.map(([id, score]) => [id, score] as [string, number]))
const check = (r: SinkReport, name: HealthCheck['name']): HealthCheck => r.health.checks.find((c) => c.name === name)!
const dropped = (r: SinkReport): number => Object.values(r.dropped).reduce((a, b) => a + b, 0)
const clone = (s: SinkState): SinkState => JSON.parse(JSON.stringify(s)) as SinkState
const f32b64 = (xs: number[]): string => Buffer.from(Float32Array.from(xs).buffer).toString('base64')

/** ℓ: the largest integer with Σ min(n_t, ℓ) ≤ K (Infinity when everything fits). */
function waterLevel (seen: number[], k: number): number {
  if (seen.reduce((a, b) => a + b, 0) <= k) return Infinity
  let level = 0
  while (seen.reduce((a, n) => a + Math.min(n, level + 1), 0) <= k) level++
  return level
}

describe('counts', () => {
  it('every scored instruction is accounted for once; topics sum to the sample and to what was offered', async () => {
    const good = values(420, { total: (i) => i % 8 })
    const inputs: unknown[] = []
    let dupIds = 0
    let dupTexts = 0
    good.forEach((v, i) => {
      inputs.push(v)
      // An id or a text is remembered only once it passed the filter: repeat only those.
      if (i % 40 === 39 && good[i - 20]!.total >= 3) { inputs.push({ ...good[i - 20]!, instruction: `another text ${i}`, total: 6 }); dupIds++ }
      if (i % 45 === 44 && good[i - 30]!.total >= 3) { inputs.push({ ...v, id: `copy-${i}`, instruction: `  ${good[i - 30]!.instruction.toUpperCase()}!`, total: 6 }); dupTexts++ }
      if (i % 70 === 69) inputs.push({ id: `broken-${i}` }) // not a scored instruction
    })
    const s = await run(inputs, { k: 90, topics: topics() })
    const r = sinkReport(s)
    const low = good.filter((v) => v.total < 3).length
    assert.ok(dupIds > 3 && dupTexts > 3)
    assert.equal(r.seen, inputs.length)
    assert.equal(r.dropped.below_min_score, low)
    assert.equal(r.dropped.duplicate_id, dupIds)
    assert.equal(r.dropped.duplicate_text, dupTexts)
    assert.equal(r.rejected, 6)
    assert.equal(r.warmupBuffered, 0, 'flushed: nothing waits for warm-up')
    assert.equal(r.seen, dropped(r) + r.rejected + r.offered + r.warmupBuffered, 'seen = drops + rejected + offered + waiting')
    assert.equal(r.offered, good.length - low)
    assert.deepEqual(Object.keys(r.dropped).sort(), ['below_min_score', 'duplicate_id', 'duplicate_text'])

    assert.equal(r.k, 90)
    assert.equal(r.policy, 'top')
    assert.equal(r.minScore, 3)
    assert.equal(r.vectors, 'lexical')
    assert.equal(r.simulated, false)
    assert.equal(r.kept, members(s).length, 'kept = reservoir size')
    assert.equal(r.kept, 90, 'more offered than K: the sample is full')
    assert.equal(r.kept, r.admitted - r.evicted)
    assert.ok(r.evicted > 0)

    assert.ok(r.topics.length >= 2, `several topics (${r.topics.length})`)
    assert.deepEqual(r.topics.map((t) => t.topic), [...r.topics.map((t) => t.topic)].sort((a, b) => a - b), 'topics in ascending order')
    assert.equal(r.topics.reduce((a, t) => a + t.kept, 0), r.kept, 'Σ kept over topics = kept')
    assert.equal(s.reservoir.counters.duplicates, 0, 'the sink dedups ids before the reservoir')
    assert.equal(r.topics.reduce((a, t) => a + t.seen, 0), r.offered - s.reservoir.counters.duplicates, 'Σ seen over topics = offered − reservoir duplicates')
    assert.equal(r.topics.reduce((a, t) => a + t.quota, 0), r.k, 'capped: quotas sum to K')
    const keptByTopic = new Map(s.reservoir.topics.map((t) => [Number(t.topic), t.items.length]))
    for (const t of r.topics) {
      assert.equal(t.kept, keptByTopic.get(t.topic))
      assert.ok(t.kept <= t.quota && t.quota <= t.seen, `topic ${t.topic}: kept ${t.kept} ≤ quota ${t.quota} ≤ seen ${t.seen}`)
      assert.ok(t.label.length > 0 && !t.label.startsWith('topic_'), `topic ${t.topic} has a word label (${t.label})`)
    }
    // Entropy of the kept distribution.
    const nats = -r.topics.filter((t) => t.kept > 0).reduce((a, t) => a + (t.kept / r.kept) * Math.log(t.kept / r.kept), 0)
    assert.ok(Math.abs(r.topicEntropy.nats - nats) < 1e-9)
    assert.ok(Math.abs(r.topicEntropy.effective - Math.exp(nats)) < 1e-9)
    assert.ok(Math.abs(r.topicEntropy.normalized - nats / Math.log(r.topics.filter((t) => t.kept > 0).length)) < 1e-9)
    // The duplicate filter's estimated false-positive rate: far below the configured one at this fill.
    assert.ok(r.duplicateFilterFalsePositiveRate > 0 && r.duplicateFilterFalsePositiveRate < SMALL_DEDUP.falsePositiveRate, String(r.duplicateFilterFalsePositiveRate))
  })

  it('the score histogram counts the kept items by total, 0–7, and sums to kept', async () => {
    const vs = values(400, { total: (i) => (i * 3) % 8 })
    const s = await run(vs, { k: 120, policy: 'uniform', topics: topics() })
    const r = sinkReport(s)
    assert.equal(r.scoreHistogram.length, 8)
    assert.equal(r.scoreHistogram.reduce((a, b) => a + b, 0), r.kept)
    const totals = new Map(vs.map((v) => [v.id, v.total]))
    const expected = new Array<number>(8).fill(0)
    for (const [id] of members(s)) expected[totals.get(id)!]!++
    assert.deepEqual(r.scoreHistogram, expected, 'the histogram is the input totals of the kept ids')
    assert.deepEqual(r.scoreHistogram.slice(0, 3), [0, 0, 0], 'nothing below minScore is kept')
    assert.ok(r.scoreHistogram.slice(3).every((n) => n > 0), 'a uniform sample holds every admissible total')
    assert.match(formatSinkReport(r), new RegExp(`scores in the sample: ${r.scoreHistogram.map((n, i) => `${i}:${n}`).join(' ')}`))
  })

  it('the top policy fills the histogram from the highest totals down', async () => {
    const vs = values(400, { total: (i) => (i * 3) % 8 })
    const r = sinkReport(await run(vs, { k: 60, policy: 'top', topics: topics() }))
    assert.equal(r.scoreHistogram.reduce((a, b) => a + b, 0), 60)
    assert.ok(r.scoreHistogram[7]! > 0)
    assert.equal(r.scoreHistogram[3], 0, `only the best totals with K = 60 of ${vs.length} (${r.scoreHistogram.join(' ')})`)
  })

  it('the shared reference state (test/helpers/sink-topology.ts): the same invariants', async () => {
    const inputs = sinkInputs(600)
    const s = await referenceState(inputs)
    const r = sinkReport(s)
    assert.equal(r.seen, inputs.filter((x) => x.value).length)
    assert.equal(r.seen, dropped(r) + r.rejected + r.offered + r.warmupBuffered)
    assert.equal(r.kept, 150)
    assert.equal(r.topics.reduce((a, t) => a + t.kept, 0), 150)
    assert.equal(r.topics.reduce((a, t) => a + t.seen, 0), r.offered)
    assert.equal(r.scoreHistogram[3], 150, 'sinkInputs scores every admissible record 3')
  })
})

describe('balance', () => {
  it('skewed topics: once topics are capped the ratio is reported and within (ℓ + 1)/ℓ', async () => {
    // 70 % of the instructions are about one theme.
    const vs = values(600, { theme: (i) => (i % 10 < 7 ? 0 : 1 + (i % 5)) })
    for (const k of [40, 75, 130]) {
      const s = await run(vs, { k, topics: topics({ warmup: 60 }) })
      const r = sinkReport(s)
      const seen = r.topics.map((t) => t.seen)
      assert.ok(Math.max(...seen) >= 3 * Math.min(...seen), `the input is skewed over topics (seen ${seen.join(' ')})`)
      const level = waterLevel(seen, k)
      assert.ok(Number.isFinite(level) && level > 0, `K=${k}: capped at level ${level}`)
      const capped = r.topics.filter((t) => t.seen > level)
      assert.ok(capped.length >= 1)
      for (const t of r.topics) {
        if (t.seen <= level) assert.equal(t.kept, t.seen, `K=${k}: topic ${t.topic} below the level keeps everything`)
        else assert.ok(t.kept === level || t.kept === level + 1, `K=${k}: capped topic ${t.topic} keeps ℓ or ℓ+1 (${t.kept}, ℓ=${level})`)
      }
      assert.notEqual(r.balanceRatio, null, `K=${k}: reported once topics are capped`)
      const kept = capped.map((t) => t.kept)
      assert.equal(r.balanceRatio, Math.max(...kept) / Math.min(...kept), `K=${k}: max/min kept over the capped topics`)
      assert.ok(r.balanceRatio! >= 1 && r.balanceRatio! <= (level + 1) / level, `K=${k}: ${r.balanceRatio} ≤ ${(level + 1) / level}`)
      assert.equal(r.kept, k)
      assert.match(formatSinkReport(r), new RegExp(`balance max/min ${r.balanceRatio!.toFixed(3)}`))
    }
  })

  it('nothing capped (everything fits in K): no ratio', async () => {
    const r = sinkReport(await run(values(100), { k: 1000, topics: topics() }))
    assert.equal(r.kept, r.offered)
    assert.equal(r.balanceRatio, null)
    for (const t of r.topics) assert.equal(t.kept, t.seen)
    assert.match(formatSinkReport(r), /balance max\/min -/)
  })
})

describe('health: filter rejection', () => {
  /** n instructions, the first `low` of every 100 scoring 1 or 2, the rest 5. */
  const share = (n: number, lowPer100: number): ScoredInstructionValue[] => values(n, { total: (i) => (i % 100 < lowPer100 ? 1 + (i % 2) : 5) })

  it('fails when more than 80 % of ≥ 100 scored instructions fall below minScore, with the figure and the percentage', async () => {
    const r = sinkReport(await run(share(200, 85), { k: 100, topics: topics({ warmup: 10 }) }))
    const c = check(r, 'filter_rejection')
    assert.equal(r.seen, 200)
    assert.equal(c.ok, false)
    assert.ok(Math.abs(c.figure! - 0.85) < 1e-12, String(c.figure))
    assert.equal(c.threshold, REJECTION_LIMIT)
    assert.match(c.message, /85\.0 % of 200 scored instructions/)
    assert.doesNotMatch(c.message, /judged from/)
    assert.equal(r.health.healthy, false)
    const text = formatSinkReport(r)
    assert.match(text, /health: UNHEALTHY/)
    assert.match(text, /FAIL filter_rejection: 85\.0 %/)
    assert.match(text, /below min score 170 \(85\.0 %\)/)
  })

  it('judged from exactly 100 scored instructions on', async () => {
    const at100 = check(sinkReport(await run(share(100, 85), { k: 100, topics: topics({ warmup: 10 }) })), 'filter_rejection')
    assert.equal(at100.ok, false)
    assert.ok(Math.abs(at100.figure! - 0.85) < 1e-12)
    const at99 = sinkReport(await run(share(99, 85), { k: 100, topics: topics({ warmup: 10 }) }))
    const c = check(at99, 'filter_rejection')
    assert.equal(c.ok, true, 'below 100 seen it is not judged')
    assert.ok(Math.abs(c.figure! - 85 / 99) < 1e-12, 'the figure is still reported')
    assert.match(c.message, /judged from 100 on/)
  })

  it('passes at 50 % and exactly at the limit; not judged below 100 seen', async () => {
    const half = check(sinkReport(await run(share(200, 50), { k: 100, topics: topics({ warmup: 10 }) })), 'filter_rejection')
    assert.equal(half.ok, true)
    assert.ok(Math.abs(half.figure! - 0.5) < 1e-12)
    assert.match(half.message, /50\.0 % of 200/)
    const limit = check(sinkReport(await run(share(200, 80), { k: 100, topics: topics({ warmup: 10 }) })), 'filter_rejection')
    assert.equal(limit.ok, true, 'exactly 80 % is not above the limit')
    const few = sinkReport(await run(share(80, 85), { k: 100, topics: topics({ warmup: 10 }) }))
    assert.equal(few.seen, 80)
    const c = check(few, 'filter_rejection')
    assert.equal(c.ok, true)
    assert.ok(c.figure! > REJECTION_LIMIT)
  })

  it('no scored instructions yet: no figure, healthy', async () => {
    const r = sinkReport(await run([], { k: 10, topics: topics() }))
    const c = check(r, 'filter_rejection')
    assert.equal(c.ok, true)
    assert.equal(c.figure, null)
    assert.match(c.message, /no scored instructions yet/)
    assert.equal(r.vendi, null)
    assert.equal(r.health.healthy, true)
    assert.match(formatSinkReport(r), /health: healthy/)
  })
})

describe('health: diversity collapse, and the Vendi score', () => {
  let base: SinkState | undefined
  const state = async (): Promise<SinkState> => {
    base ??= await run(values(400), { k: 120, diversityProbe: 60, topics: topics() })
    return clone(base)
  }

  it('the probe of a real run: a Vendi score over its vectors, healthy', async () => {
    const s = await state()
    assert.equal(s.probe.length, 60, 'the probe is full')
    const r = sinkReport(s)
    assert.ok(r.vendi)
    assert.equal(r.vendi.n, 60)
    assert.ok(r.vendi.score > 1 && r.vendi.score <= 60, String(r.vendi.score))
    assert.equal(r.vendi.peak, Math.max(s.peakVendi, r.vendi.score))
    const c = check(r, 'diversity_collapse')
    assert.equal(c.ok, true)
    assert.equal(c.figure, r.vendi.score)
    assert.equal(r.health.healthy, true)
    // The probe is a subset of the sample.
    const kept = new Set(members(s).map(([id]) => id))
    for (const [id] of s.probe) assert.ok(kept.has(id), `probe member ${id} is in the sample`)
  })

  it('a run past 5,000 offers (each admitted) records the peak Vendi score; the report\'s peak is the larger of it and the current', async () => {
    const s = await run(values(5000, { total: () => 5 }), { k: 6000, diversityProbe: 50, topics: topics() })
    assert.equal(s.counters.offered, 5000)
    assert.equal(s.counters.admitted, 5000)
    assert.ok(s.peakVendi > 1, `peak recorded (${s.peakVendi})`)
    assert.equal(s.lastVendi, s.peakVendi, 'one measurement so far')
    const r = sinkReport(s)
    assert.equal(r.vendi!.score, s.lastVendi, 'no admission since: the report measures the same probe the same way')
    assert.equal(r.vendi!.peak, s.peakVendi)
    assert.equal(check(r, 'diversity_collapse').ok, true)
  })

  it('fails when the current score is below half the recorded peak, with the figure', async () => {
    const s = await state()
    const current = sinkReport(s).vendi!.score
    s.peakVendi = 10 * current
    const r = sinkReport(s)
    const c = check(r, 'diversity_collapse')
    assert.equal(c.ok, false)
    assert.ok(Math.abs(c.figure! - current) < 1e-12)
    assert.ok(Math.abs(c.threshold - COLLAPSE_SHARE * 10 * current) < 1e-9)
    assert.equal(r.vendi!.peak, 10 * current)
    assert.match(c.message, new RegExp(`Vendi score ${current.toFixed(2)} over 60 sample vectors; peak ${(10 * current).toFixed(2)}`))
    assert.equal(r.health.healthy, false)
    assert.equal(check(r, 'filter_rejection').ok, true)
    const text = formatSinkReport(r)
    assert.match(text, /health: UNHEALTHY/)
    assert.match(text, /FAIL diversity_collapse/)
    assert.match(text, /ok {3}filter_rejection/)
    // Just below and just above half of the peak.
    s.peakVendi = current / COLLAPSE_SHARE * 1.001
    assert.equal(check(sinkReport(s), 'diversity_collapse').ok, false)
    s.peakVendi = current / COLLAPSE_SHARE * 0.999
    assert.equal(check(sinkReport(s), 'diversity_collapse').ok, true)
  })

  it('ok when the recorded peak is at most the current score (the peak is then the current one)', async () => {
    const s = await state()
    const current = sinkReport(s).vendi!.score
    for (const peak of [0, current / 2, current]) {
      s.peakVendi = peak
      const r = sinkReport(s)
      assert.equal(check(r, 'diversity_collapse').ok, true, `peak ${peak}`)
      assert.equal(r.vendi!.peak, current)
      assert.equal(r.health.healthy, true)
    }
  })

  it('no score with fewer than two probe vectors: the check waits', async () => {
    for (const n of [0, 1]) {
      const s = await state()
      s.probe = s.probe.slice(0, n)
      s.peakVendi = 100
      const r = sinkReport(s)
      assert.equal(r.vendi, null, `${n} probe vectors`)
      const c = check(r, 'diversity_collapse')
      assert.equal(c.ok, true)
      assert.equal(c.figure, null)
      assert.match(c.message, /too few sample vectors/)
      assert.match(formatSinkReport(r), /diversity: -/)
    }
  })

  it('identical probe vectors score ≈ 1, mutually orthogonal ones ≈ their number', async () => {
    const s = await state()
    const v = s.probe[0]![1]
    s.probe = s.probe.map(([id]) => [id, v])
    const same = sinkReport(s).vendi!
    assert.equal(same.n, 60)
    assert.ok(Math.abs(same.score - 1) < 1e-6, String(same.score))
    const dims = 16
    s.probe = Array.from({ length: 5 }, (_, i) => [`o${i}`, f32b64(Array.from({ length: dims }, (_, j) => (j === i * 3 ? 2 : 0)))])
    const orth = sinkReport(s).vendi!
    assert.equal(orth.n, 5)
    assert.ok(Math.abs(orth.score - 5) < 1e-6, String(orth.score))
  })

  it('a probe that collapsed to one direction under a healthy peak: UNHEALTHY, naming the check', async () => {
    const s = await state()
    const peak = sinkReport(s).vendi!.score
    s.peakVendi = peak
    s.probe = s.probe.map(([id]) => [id, s.probe[0]![1]])
    const r = sinkReport(s)
    const c = check(r, 'diversity_collapse')
    assert.equal(c.ok, false)
    assert.ok(Math.abs(c.figure! - 1) < 1e-6)
    assert.equal(r.health.healthy, r.health.checks.every((x) => x.ok))
    assert.match(formatSinkReport(r), /UNHEALTHY[\s\S]*FAIL diversity_collapse: Vendi score 1\.00/)
  })
})

describe('regressions: rank-deficient probes and the peak Vendi score', () => {

  it('sinkReport of a lexical-vector state with a rank-deficient probe kernel reports a Vendi score instead of throwing', async () => {
    // 90 instructions over ~50 content words: 90 probe vectors of rank ~12 (1,024 dimensions, so
    // the n×n kernel is decomposed). The same vectors through the d×d route score ≈ 9.1.
    const s = await run(values(90, { total: () => 5 }), { k: 1000, diversityProbe: 1000, topics: topics() })
    assert.equal(s.probe.length, 90)
    let r: SinkReport | undefined
    assert.doesNotThrow(() => { r = sinkReport(s) })
    assert.equal(r!.vendi!.n, 90)
    assert.ok(r!.vendi!.score > 1 && r!.vendi!.score < 20, String(r!.vendi!.score))
  })

  it('the sink\'s own Vendi measurement (every 5,000 offers) does not fail the batch on such a probe', async () => {
    // processBatch throws at the 5,000th offer; the runtime rolls back and replays the same
    // input deterministically, so the sink would never get past it.
    await assert.doesNotReject(run(values(5000, { total: () => 5 }), { k: 2000, diversityProbe: 1000, topics: topics() }))
  })

  it('the peak Vendi score is recorded every 5,000 offers even when that offer is not admitted', async () => {
    // 5,000 offers into a full sample; the last one scores 3 among 5s–7s (policy top): rejected.
    const vs = values(5000, { total: (i) => (i === 4999 ? 3 : 5 + (i % 3)) })
    const s = await run(vs, { k: 200, diversityProbe: 50, topics: topics() })
    assert.equal(s.counters.offered, 5000)
    assert.ok(!members(s).some(([id]) => id === 'ins-4999'), 'the 5,000th offer was rejected')
    assert.equal(s.probe.length, 50)
    assert.ok(sinkReport(s).vendi!.score > 1, 'this probe has a Vendi score (the measurement itself works)')
    assert.notEqual(s.lastVendi, null, 'measured at 5,000 offers')
    assert.ok(s.peakVendi > 0, `peak recorded (${s.peakVendi})`)
  })
})
