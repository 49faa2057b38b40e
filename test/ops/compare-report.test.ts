/**
 * The analysis behind `synthq compare`: the Mann–Whitney U test against hand-computed values and
 * scipy's, pairing on the inputs both versions answered, the schema-valid share, cost arithmetic,
 * the deterministic choice of examples, and diversity that tells duplicates from distinct texts.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LlmOutputError } from '../../src/llm/errors.ts'
import { compareSides, formatCompareReport, INVALID_ANSWER_ERROR_CLASSES, mannWhitneyU, type CompareRecord, type CompareSide } from '../../src/ops/compare/compare-report.ts'

const out = (inputKey: string, score: number | null, o: Partial<CompareRecord> = {}): CompareRecord => ({
  inputKey, text: `instruction for ${inputKey}`, score, promptTokens: null, completionTokens: null, cached: null, model: 'm', simulated: false, ...o,
})
const side = (label: string, outputs: CompareRecord[], deadLetters: CompareSide['deadLetters'] = [], price?: CompareSide['price']): CompareSide => ({
  label, version: label === 'live' ? '1' : '2', outputs, deadLetters, ...(price ? { price } : {}),
})
/** One output per score, keyed k0, k1, …: both sides built from lists of the same length pair up by position. */
const scored = (scores: number[]): CompareRecord[] => scores.map((s, i) => out(`k${i}`, s))
const close = (actual: number | null, expected: number, rel = 1e-6): void => {
  assert.ok(actual !== null && Math.abs(actual - expected) <= rel * Math.max(Math.abs(expected), 1e-12), `${String(actual)} ≠ ${expected}`)
}

test('Mann–Whitney U by hand: mid-ranks for ties, U and the rank-biserial r; p withheld below n = 8', () => {
  // x = [1, 2, 3], y = [2, 4]. Pooled and ranked: 1→1, 2,2→2.5 each, 3→4, 4→5.
  // R_x = 1 + 2.5 + 4 = 7.5; U_x = R_x − 3·4/2 = 1.5 (pairs x > y: (3, 2); ties: (2, 2) counts ½).
  // r = 2·1.5/(3·2) − 1 = −0.5.
  const t = mannWhitneyU([1, 2, 3], [2, 4])
  assert.equal(t.u, 1.5)
  assert.equal(t.rankBiserial, -0.5)
  assert.deepEqual([t.z, t.p], [null, null])
  assert.match(t.note!, /too few scored outputs for the normal approximation \(2 < 8/)
})

test('Mann–Whitney U agrees with scipy (asymptotic, tie- and continuity-corrected) on tied 0–7 scores', () => {
  // Reference values from scipy 1.17.1: scipy.stats.mannwhitneyu(x, y, alternative='two-sided',
  // method='asymptotic') gives U (of x) and p; |z| = scipy.stats.norm.isf(p / 2); r = 2U/(n_x n_y) − 1.
  const cases: Array<{ x: number[], y: number[], u: number, p: number, z: number }> = [
    { x: [5, 6, 6, 7, 4, 5, 6, 7, 3, 6, 5, 6], y: [6, 7, 7, 7, 5, 6, 7, 7, 6, 7, 6, 7], u: 33.5, p: 0.020132999824300158, z: 2.3238599792698427 },
    { x: [3, 4, 4, 5, 5, 5, 6, 7], y: [2, 3, 3, 4, 4, 4, 5, 6, 6], u: 47.5, p: 0.27835726663329563, z: 1.0840169881601591 },
    { x: [1, 2, 2, 3, 3, 3, 4, 5], y: [3, 4, 4, 5, 5, 6, 6, 7], u: 7.5, p: 0.010515245935858907, z: 2.5584085962673258 },
    { x: [2, 3, 3, 2, 4, 3, 2, 3, 3, 4, 2, 3, 3, 2, 4, 3], y: [6, 7, 6, 6, 5, 7, 7, 6, 6, 7, 5, 6, 7, 6, 7, 6], u: 0, p: 9.154084677335823e-07, z: 4.9090024242274675 },
  ]
  for (const c of cases) {
    const t = mannWhitneyU(c.x, c.y)
    assert.equal(t.u, c.u)
    close(t.p, c.p, 1e-5)
    close(Math.abs(t.z!), c.z, 1e-5)
    assert.ok(Math.sign(t.z!) === Math.sign(t.u - c.x.length * c.y.length / 2), 'z has the sign of U − n_x n_y / 2')
    close(t.rankBiserial, 2 * c.u / (c.x.length * c.y.length) - 1)
    assert.equal(t.note, null)
  }
})

test('identical sides give p = 1; clearly shifted sides a small p, in the right direction', () => {
  const scores = [3, 4, 5, 6, 7, 5, 6, 4, 5, 6]
  const same = compareSides(side('live', scored(scores)), side('shadow', scored(scores)))
  close(same.scoreTest!.p, 1)
  assert.equal(same.scoreTest!.rankBiserial, 0)

  const low = [2, 3, 3, 2, 4, 3, 2, 3, 3, 4, 2, 3]
  const high = [6, 7, 6, 6, 5, 7, 7, 6, 6, 7, 5, 6]
  const r = compareSides(side('live', scored(low)), side('shadow', scored(high)))
  assert.ok(r.scoreTest!.p! < 1e-4, `p = ${r.scoreTest!.p}`)
  // The test is of shadow (b) against live (a): shadow higher → z > 0 and r = 1.
  assert.ok(r.scoreTest!.z! > 0)
  assert.equal(r.scoreTest!.rankBiserial, 1)
  assert.deepEqual(r.a.scores.histogram, [0, 0, 4, 6, 2, 0, 0, 0])
  close(r.a.scores.mean, 34 / 12)
  assert.equal(r.b.scores.n, 12)
})

test('pairing: the comparison is on inputs both answered (output or dead letter); what one side had alone is counted', () => {
  const live = side('live', [out('a', 5), out('b', 6), out('c', 4), out('d', 6), out('only-live', 7)], [
    { inputKey: 'e', errorClass: 'LlmOutputError', message: 'not JSON' },
    // A dead letter replayed into an output later is not a failure.
    { inputKey: 'a', errorClass: 'LlmUnavailableError', message: 'timeout' },
  ])
  const shadow = side('shadow', [out('a', 7), out('b', null), out('e', 5), out('only-shadow-1', 3), out('only-shadow-2', 3)], [
    { inputKey: 'c', errorClass: 'LlmOutputError', message: 'missing field' },
    { inputKey: 'd', errorClass: 'LlmRejectedError', message: 'HTTP 400' },
  ])
  const r = compareSides(live, shadow)
  assert.equal(r.inputsBoth, 5, 'a, b, c, d, e')
  assert.deepEqual([r.a.outputs, r.a.deadLetters, r.a.alone], [5, 1, 1])
  assert.deepEqual([r.b.outputs, r.b.deadLetters, r.b.alone], [5, 2, 2])
  assert.deepEqual(r.a.paired, { outputs: 4, deadLetters: 1 })
  assert.deepEqual(r.b.paired, { outputs: 3, deadLetters: 2 })
  // Scores are compared on the inputs both outputs were scored on: only a (b is unscored on shadow).
  assert.deepEqual([r.a.scores.n, r.b.scores.n, r.a.scores.mean, r.b.scores.mean], [1, 1, 5, 7])
  assert.deepEqual(r.scoreTest!.n, [1, 1])
  assert.equal(r.scoreTest!.p, null)
  assert.deepEqual(r.examples.map((e) => e.inputKey).sort(), ['a', 'b'], 'examples only where both made an output')
})

test('schema-valid share counts only dead letters of invalid answers; dead letters by class', () => {
  assert.ok(INVALID_ANSWER_ERROR_CLASSES.includes(new LlmOutputError('x', '{', 1).name), 'the class name the stage engine writes')
  const keys = ['a', 'b', 'c', 'd', 'e', 'f']
  const live = side('live', keys.slice(0, 3).map((k) => out(k, 5)), [
    { inputKey: 'd', errorClass: 'LlmOutputError', message: '' },
    { inputKey: 'e', errorClass: 'LlmRejectedError', message: 'prompt too long' },
    { inputKey: 'f', errorClass: 'Decontaminated', message: '' },
  ])
  const shadow = side('shadow', keys.map((k) => out(k, 5)))
  const r = compareSides(live, shadow)
  // 3 outputs, 1 invalid answer: the refused request and the rejected input are not the prompt's output.
  assert.equal(r.a.schemaValidShare, 3 / 4)
  assert.equal(r.b.schemaValidShare, 1)
  assert.deepEqual(r.a.deadLettersByClass, { LlmOutputError: 1, LlmRejectedError: 1, Decontaminated: 1 })
  assert.deepEqual(r.b.deadLettersByClass, {})
  assert.match(formatCompareReport(r), /\n {2}LlmOutputError +1 +0\n/)
})

test('tokens and cost per record: means over outputs with usage, cache share, list price per million tokens', () => {
  const usage = (p: number, c: number, cached: boolean): Partial<CompareRecord> => ({ promptTokens: p, completionTokens: c, cached })
  const live = side('live', [out('a', 5, usage(900, 100, false)), out('b', 5, usage(1100, 300, true)), out('c', 5)], [], { input: 0.5, output: 1.5, cachedInput: 0.05 })
  const shadow = side('shadow', [out('a', 5, usage(2000, 400, false)), out('b', 5, usage(2000, 400, false)), out('c', 5, usage(2000, 400, false))])
  const r = compareSides(live, shadow)
  assert.deepEqual(r.a.tokens, { records: 2, promptMean: 1000, completionMean: 200, cachedShare: 0.5 })
  // (1000 × 0.5 + 200 × 1.5) / 1e6 = 0.0008 USD a record; cachedInput is not applied (lineage has no provider-cache counts).
  close(r.a.cost!.perRecord, 0.0008)
  close(r.a.cost!.per1000, 0.8)
  assert.equal(r.b.cost, null, 'no price, no cost')
  assert.deepEqual(r.b.tokens, { records: 3, promptMean: 2000, completionMean: 400, cachedShare: 0 })
  const noUsage = compareSides(side('live', [out('a', 5)], [], { input: 1, output: 1 }), side('shadow', [out('a', 5)]))
  assert.equal(noUsage.a.cost, null)
  assert.deepEqual(noUsage.a.tokens, { records: 0, promptMean: null, completionMean: null, cachedShare: null })
  const table = formatCompareReport(r)
  assert.match(table, /cost \/ 1,000 records +\$0\.80 +—/)
  assert.match(table, /from cache +50\.0 % +0\.0 %/)
})

test('examples: the same for the same seed whatever the input order, pairs whose scores differ first', () => {
  const n = 40
  const liveOuts = Array.from({ length: n }, (_, i) => out(`k${String(i).padStart(2, '0')}`, 5))
  // Scores differ on k05, k17 and k33 only.
  const shadowOuts = liveOuts.map((o) => ({ ...o, text: `${o.text}, v2`, score: ['k05', 'k17', 'k33'].includes(o.inputKey) ? 6 : 5 }))
  const pick = (seed: number, reverse = false): string[] => {
    const a = reverse ? [...liveOuts].reverse() : liveOuts
    const b = reverse ? [...shadowOuts].reverse() : shadowOuts
    return compareSides(side('live', a), side('shadow', b), { seed, examples: 5 }).examples.map((e) => e.inputKey)
  }
  assert.deepEqual(pick(7), pick(7))
  assert.deepEqual(pick(7), pick(7, true), 'independent of the order records were read in')
  for (const seed of [0, 1, 7]) {
    assert.deepEqual(pick(seed).slice(0, 3).sort(), ['k05', 'k17', 'k33'])
    assert.equal(new Set(pick(seed)).size, 5)
  }
  const seeds = new Set([0, 1, 2, 3, 4, 5].map((s) => pick(s).slice(3).join()))
  assert.ok(seeds.size > 1, 'the seed changes the choice among the rest')
  const r = compareSides(side('live', liveOuts), side('shadow', shadowOuts), { seed: 3, examples: 2 })
  assert.deepEqual(r.examples[0]!.a.score !== r.examples[0]!.b.score, true)
  assert.match(r.examples[0]!.b.text, /, v2$/)
})

const DISTINCT = [
  'Explain how a heat pump moves heat from cold outdoor air into a warm house in winter.',
  'Write a sourdough feeding schedule for a starter kept in the refrigerator between bakes.',
  'Compare the fuel efficiency of diesel and petrol engines for long motorway journeys.',
  'Derive the period of a simple pendulum for small angles from Newton\'s second law.',
  'Draft an email asking a landlord to repair a leaking bathroom ceiling before winter.',
  'List the steps to replace a bicycle chain and check its wear with a chain gauge.',
  'Summarise the causes of the 1929 stock market crash for a high school history class.',
  'Design a week of vegetarian lunches with at least twenty grams of protein each.',
  'Explain why the sky looks blue at noon and red at sunset using Rayleigh scattering.',
  'Plan a three day hiking route in the Scottish Highlands with bothy overnight stops.',
  'Describe how to set up a Python virtual environment and pin package versions.',
  'Estimate the monthly electricity cost of running a chest freezer in a garage.',
]

test('diversity: duplicated texts score a lower Vendi and topic entropy than distinct ones, at the same n', () => {
  const n = DISTINCT.length
  const dup = side('live', DISTINCT.map((_, i) => out(`k${i}`, 5, { text: DISTINCT[0]! })))
  const distinct = side('shadow', DISTINCT.map((t, i) => out(`k${i}`, 5, { text: t })))
  const r = compareSides(dup, distinct)
  assert.equal(r.diversity.keptBy, 'score')
  assert.deepEqual([r.a.diversity.kept, r.b.diversity.kept, r.a.diversity.vendiN, r.b.diversity.vendiN], [n, n, n, n])
  close(r.a.diversity.vendi, 1, 1e-9)
  assert.ok(r.b.diversity.vendi! > 5, `distinct texts: Vendi ${r.b.diversity.vendi}`)
  assert.equal(r.a.diversity.topicEntropy!.topics, 1, 'every copy in one topic')
  assert.ok(r.b.diversity.topicEntropy!.nats > r.a.diversity.topicEntropy!.nats)
  assert.ok(r.diversity.topics >= 2)
})

test('diversity keeps score ≥ minScore; unscored sides keep everything; Vendi compared at the smaller n', () => {
  const live = side('live', DISTINCT.map((t, i) => out(`k${i}`, i < 4 ? 2 : 6, { text: t })))
  const shadow = side('shadow', DISTINCT.map((t, i) => out(`k${i}`, 6, { text: t })))
  const r = compareSides(live, shadow)
  assert.deepEqual([r.a.diversity.kept, r.b.diversity.kept], [DISTINCT.length - 4, DISTINCT.length])
  assert.equal(r.a.diversity.vendiN, DISTINCT.length - 4, 'the same n on both sides: Vendi grows with n')
  assert.equal(r.b.diversity.vendiN, DISTINCT.length - 4)
  assert.equal(compareSides(live, shadow, { minScore: 7 }).a.diversity.kept, 0)
  const unscored = compareSides(side('live', DISTINCT.map((t, i) => out(`k${i}`, null, { text: t }))), shadow)
  assert.equal(unscored.diversity.keptBy, 'all')
  assert.equal(unscored.a.diversity.kept, DISTINCT.length)
  assert.equal(unscored.scoreTest, null)
})

test('the table: labels and versions, the test line, and a SIMULATED warning when any record is simulated', () => {
  const scores = [3, 4, 5, 6, 7, 5, 6, 4]
  const real = compareSides(side('live', scored(scores)), side('shadow', scored(scores.map((s) => Math.min(7, s + 1)))))
  const table = formatCompareReport(real)
  assert.match(table, /^compare: live \(v1\) vs shadow \(v2\) on 8 inputs both answered \(live alone 0, shadow alone 0\)\n/)
  assert.doesNotMatch(table, /SIMULATED/)
  assert.match(table, /Mann–Whitney U, shadow vs live, two-sided: U = [\d.]+, z = [\d.]+, p = 0\.\d{3}, rank-biserial r = 0\.\d\d/)
  assert.match(table, /scores 0\.\.7 +0 0 0 1 2 2 2 1 +0 0 0 0 1 2 2 3/)
  assert.equal(real.simulated, false)

  const sim = compareSides(side('live', [out('a', 5)]), side('shadow', [out('a', 6, { simulated: true, text: 'x'.repeat(500) })]))
  assert.equal(sim.simulated, true)
  const t2 = formatCompareReport(sim)
  assert.match(t2, /\nSIMULATED: .*LLM simulator/)
  assert.match(t2, /too few scored outputs/)
  assert.match(t2, /shadow 6\/7: x{109}…\n/, 'texts truncated for the table')
  // Plain data: the --json form round-trips.
  assert.deepEqual(JSON.parse(JSON.stringify(sim)), sim)
})
