/**
 * The analysis behind `synthq compare <stage>`: two prompt versions of one LLM stage — live and
 * shadow, run on the same input records — side by side. Pure: the command reads the topics and
 * builds the two {@link CompareSide}s; this module only counts, tests and formats, so every
 * figure is unit-tested (test/ops/compare-report.test.ts).
 *
 * Everything is measured on the inputs **both** versions answered (an output or a dead letter
 * on each side): a shadow that has only seen the first half of the input would otherwise look
 * better or worse for reasons that have nothing to do with its prompt. What each side answered
 * alone is counted, not compared.
 *
 * - scores: the 0–7 totals of inputs both versions' outputs were scored on, and a two-sided
 *   Mann–Whitney U test (normal approximation with tie and continuity correction — scipy's
 *   `mannwhitneyu(method='asymptotic')`) with the rank-biserial effect size;
 * - schema-valid share: outputs / (outputs + dead letters of answers that never became valid);
 * - tokens and cost per record, from lineage.usage and the configured price;
 * - diversity of what each version would keep: the Vendi score and the topic entropy, made
 *   comparable (one vectorizer, topics fitted on both sides together, Vendi at the same n);
 * - example pairs, seeded, preferring inputs whose two scores differ.
 */
import { errorFunction } from 'simple-statistics'
import { costOf } from '../../llm/usage.ts'
import { DEFAULT_SINK_OPTIONS } from '../../processors/sink/types.ts'
import { LexicalVectorizer } from '../../sink/clusters/lexical.ts'
import { OnlineTopicModel } from '../../sink/clusters/online-clustering.ts'
import { seededRandom } from '../../sink/clusters/vectors.ts'
import { scoreHistogram, topicEntropy, type TopicEntropy } from '../../sink/diversity/distribution.ts'
import { vendiScore } from '../../sink/diversity/vendi.ts'

export interface CompareRecord {
  /** The input record this output was made from (the stage's input key, e.g. the situation id), used to pair the two versions. */
  inputKey: string
  /** What the version wrote (e.g. the instruction text). */
  text: string
  /** Complexity total 0–7 when a scored copy of this output exists, else null. */
  score: number | null
  /** From lineage.usage (null when the record has none). */
  promptTokens: number | null
  completionTokens: number | null
  cached: boolean | null
  model: string | null
  simulated: boolean
}

export interface CompareDeadLetter { inputKey: string, errorClass: string, message: string }

export interface CompareSide {
  /** e.g. 'live' / 'shadow' */
  label: string
  /** Prompt version, e.g. '1'. */
  version: string
  outputs: CompareRecord[]
  deadLetters: CompareDeadLetter[]
  /** USD per million tokens of the side's model, when configured. */
  price?: { input: number, output: number, cachedInput?: number }
}

export interface CompareOptions {
  /** Score an output needs to be kept (default 3: what the sink keeps). */
  minScore?: number
  /** Example pairs to show (default 3). */
  examples?: number
  /** Seed of the example choice and of the Vendi subsample (default 0). */
  seed?: number
}

/**
 * Error classes of dead letters whose cause is the model's answer: it never became JSON of the
 * stage's schema (or failed its check) after the client's repairs. LlmOutputError is the only one
 * (src/llm/errors.ts); the stage engine's failureOf names a dead letter after the error's class.
 * Other classes — a refused request, an input rejected before the call — say nothing of the prompt's output.
 */
export const INVALID_ANSWER_ERROR_CLASSES: readonly string[] = ['LlmOutputError']

/** Fewer scored outputs than this on a side and the normal approximation is not trusted: p is null. */
export const MIN_N_FOR_APPROXIMATION = 8

export interface MannWhitney {
  /** Sizes of x and y. */
  n: [number, number]
  /** U of x: pairs (x_i, y_j) with x_i > y_j, ties counting ½ (as scipy's `statistic`). */
  u: number
  /** Standardised U, continuity-corrected; > 0 when x tends higher. Null below the approximation's minimum n. */
  z: number | null
  /** Two-sided p; null below the approximation's minimum n. */
  p: number | null
  /** Rank-biserial correlation 2U/(n_x·n_y) − 1, in [−1, 1]: P(x > y) − P(x < y) over all pairs. */
  rankBiserial: number
  /** Why p is null, when it is. */
  note: string | null
}

/**
 * Two-sided Mann–Whitney U test of x against y by the normal approximation, with the tie
 * correction of the variance and a continuity correction of ½ (scipy's defaults). Scores are
 * integers 0–7, so ties are the rule and the tie correction matters: without it p is too large.
 */
export function mannWhitneyU (x: readonly number[], y: readonly number[], minN = MIN_N_FOR_APPROXIMATION): MannWhitney {
  const nx = x.length
  const ny = y.length
  if (nx === 0 || ny === 0) throw new RangeError('mannWhitneyU: both samples need at least one value')
  // Mid-ranks of the pooled sample; each run of equal values adds t³ − t to the tie term.
  const pooled = [...x.map((v) => ({ v, fromX: true })), ...y.map((v) => ({ v, fromX: false }))].sort((a, b) => a.v - b.v)
  let rankSumX = 0
  let tieTerm = 0
  for (let i = 0; i < pooled.length;) {
    let j = i
    while (j < pooled.length && pooled[j]!.v === pooled[i]!.v) j++
    const t = j - i
    const midRank = (i + 1 + j) / 2
    for (let k = i; k < j; k++) if (pooled[k]!.fromX) rankSumX += midRank
    tieTerm += t * t * t - t
    i = j
  }
  const n = nx + ny
  const u = rankSumX - nx * (nx + 1) / 2
  const rankBiserial = 2 * u / (nx * ny) - 1
  if (Math.min(nx, ny) < minN) return { n: [nx, ny], u, z: null, p: null, rankBiserial, note: `too few scored outputs for the normal approximation (${Math.min(nx, ny)} < ${minN} on a side)` }
  const sigma = Math.sqrt(nx * ny / 12 * ((n + 1) - tieTerm / (n * (n - 1))))
  // Every value equal on both sides: no spread, no evidence of a difference.
  if (sigma === 0) return { n: [nx, ny], u, z: 0, p: 1, rankBiserial, note: null }
  const d = u - nx * ny / 2
  const z = Math.sign(d) * Math.max(Math.abs(d) - 0.5, 0) / sigma
  // 2·(1 − Φ(|z|)) = erfc(|z|/√2) = 1 − erf(|z|/√2).
  const p = Math.min(1, 1 - errorFunction(Math.abs(z) / Math.SQRT2))
  return { n: [nx, ny], u, z, p, rankBiserial, note: null }
}

export interface ScoreSummary {
  n: number
  /** null without scores. */
  mean: number | null
  /** Outputs per total 0…7. */
  histogram: number[]
}

export interface SideReport {
  label: string
  version: string
  /** Models seen in the side's outputs. */
  models: string[]
  /** Distinct inputs with an output / with only a dead letter, over everything the side read. */
  outputs: number
  deadLetters: number
  /** Inputs only this side answered (not compared). */
  alone: number
  /** On the inputs both sides answered: */
  paired: { outputs: number, deadLetters: number }
  deadLettersByClass: Record<string, number>
  /** outputs / (outputs + dead letters of invalid answers); null when neither. */
  schemaValidShare: number | null
  /** Scores of the inputs both sides' outputs were scored on. */
  scores: ScoreSummary
  tokens: {
    /** Outputs whose lineage has usage. */
    records: number
    promptMean: number | null
    completionMean: number | null
    /** Share of those answered from synthq's response cache. */
    cachedShare: number | null
  }
  /**
   * USD for one output at the configured price — a fresh call's list price, also for cache hits
   * (their counts are the original call's). The price's cachedInput is not applied: lineage does not
   * say how many prompt tokens a provider's prefix cache served, so this is an upper bound. Null without a price or usage.
   */
  cost: { perRecord: number, per1000: number } | null
  diversity: {
    /** Outputs this version would keep (score ≥ minScore, or all when not scored). */
    kept: number
    /** Vendi score on `vendiN` kept outputs (the same n on both sides); null when none are kept. */
    vendi: number | null
    vendiN: number
    /** Entropy of the kept outputs over topics fitted on both sides together. */
    topicEntropy: TopicEntropy | null
  }
}

export interface ExamplePair {
  inputKey: string
  a: { text: string, score: number | null }
  b: { text: string, score: number | null }
}

export interface CompareReport {
  /** Some record on either side was made with the LLM simulator: the figures describe the simulator. */
  simulated: boolean
  minScore: number
  seed: number
  /** Inputs both versions answered (output or dead letter): what the comparison is made on. */
  inputsBoth: number
  a: SideReport
  b: SideReport
  /** Mann–Whitney U of b's scores against a's (x = b: z > 0 and r > 0 when b scores higher); null without scores on both sides. */
  scoreTest: MannWhitney | null
  diversity: {
    /** 'score': kept means score ≥ minScore; 'all': some side is unscored, so every paired output counts. */
    keptBy: 'score' | 'all'
    /** Vectors: the sink's lexical vectors (hashed TF-IDF), so any two runs compare without an embedding model. */
    vectors: 'lexical'
    /** Topics fitted on the union of both sides' kept outputs. */
    topics: number
  }
  examples: ExamplePair[]
}

/** One status per input: its output if it has one (the last, as a compacted read would), else its last dead letter. */
function byInput (side: CompareSide): { outputs: Map<string, CompareRecord>, deadLetters: Map<string, CompareDeadLetter> } {
  const outputs = new Map<string, CompareRecord>()
  for (const r of side.outputs) outputs.set(r.inputKey, r)
  const deadLetters = new Map<string, CompareDeadLetter>()
  // A dead letter whose input later got an output (a replay) is not a failure of the version.
  for (const d of side.deadLetters) if (!outputs.has(d.inputKey)) deadLetters.set(d.inputKey, d)
  return { outputs, deadLetters }
}

const mean = (xs: readonly number[]): number | null => xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null

export function compareSides (a: CompareSide, b: CompareSide, o: CompareOptions = {}): CompareReport {
  const minScore = o.minScore ?? DEFAULT_SINK_OPTIONS.minScore
  const seed = o.seed ?? 0
  const A = byInput(a)
  const B = byInput(b)
  const answered = (s: typeof A, k: string): boolean => s.outputs.has(k) || s.deadLetters.has(k)
  // Sorted, so that every figure (and the example choice) is independent of the order records were read in.
  const keysA = [...new Set([...A.outputs.keys(), ...A.deadLetters.keys()])].sort()
  const both = keysA.filter((k) => answered(B, k))
  const withOutputs = both.filter((k) => A.outputs.has(k) && B.outputs.has(k))
  // Scores compared on the same inputs: those both outputs were scored on.
  const scored = withOutputs.filter((k) => A.outputs.get(k)!.score !== null && B.outputs.get(k)!.score !== null)
  const scoresOf = (s: typeof A): number[] => scored.map((k) => s.outputs.get(k)!.score!)
  const scoreTest = scored.length > 0 ? mannWhitneyU(scoresOf(B), scoresOf(A)) : null

  // What each version would keep, on the inputs both made an output for.
  const anyScored = (s: typeof A): boolean => withOutputs.some((k) => s.outputs.get(k)!.score !== null)
  const keptBy = anyScored(A) && anyScored(B) ? 'score' : 'all'
  const keptOf = (s: typeof A): string[] => withOutputs.map((k) => s.outputs.get(k)!).filter((r) => keptBy === 'all' || (r.score !== null && r.score >= minScore)).map((r) => r.text)
  const div = diversity(keptOf(A), keptOf(B), seed)

  const side = (s: CompareSide, m: typeof A, other: typeof A, i: 0 | 1): SideReport => {
    const outs = both.filter((k) => m.outputs.has(k)).map((k) => m.outputs.get(k)!)
    const dls = both.filter((k) => m.deadLetters.has(k)).map((k) => m.deadLetters.get(k)!)
    const byClass: Record<string, number> = {}
    for (const d of dls) byClass[d.errorClass] = (byClass[d.errorClass] ?? 0) + 1
    const invalid = dls.filter((d) => INVALID_ANSWER_ERROR_CLASSES.includes(d.errorClass)).length
    const withUsage = outs.filter((r) => r.promptTokens !== null && r.completionTokens !== null)
    const promptMean = mean(withUsage.map((r) => r.promptTokens!))
    const completionMean = mean(withUsage.map((r) => r.completionTokens!))
    // Linear in the tokens, so the mean record's cost is the mean cost; same arithmetic as `synthq llm usage`.
    const perRecord = s.price && promptMean !== null && completionMean !== null
      ? costOf(s.price, { promptTokens: promptMean, completionTokens: completionMean, cachedPromptTokens: 0 })
      : null
    const hist = scoreHistogram(scoresOf(m))
    return {
      label: s.label,
      version: s.version,
      models: [...new Set(s.outputs.map((r) => r.model).filter((x): x is string => x !== null))].sort(),
      outputs: m.outputs.size,
      deadLetters: m.deadLetters.size,
      alone: [...m.outputs.keys(), ...m.deadLetters.keys()].filter((k) => !answered(other, k)).length,
      paired: { outputs: outs.length, deadLetters: dls.length },
      deadLettersByClass: byClass,
      schemaValidShare: outs.length + invalid > 0 ? outs.length / (outs.length + invalid) : null,
      scores: { n: hist.total, mean: hist.total > 0 ? hist.mean : null, histogram: hist.bins.map((x) => x.count) },
      tokens: {
        records: withUsage.length,
        promptMean,
        completionMean,
        cachedShare: withUsage.length ? withUsage.filter((r) => r.cached === true).length / withUsage.length : null,
      },
      cost: perRecord === null ? null : { perRecord, per1000: perRecord * 1000 },
      diversity: div.sides[i],
    }
  }

  return {
    simulated: [...a.outputs, ...b.outputs].some((r) => r.simulated),
    minScore,
    seed,
    inputsBoth: both.length,
    a: side(a, A, B, 0),
    b: side(b, B, A, 1),
    scoreTest,
    diversity: { keptBy, vectors: 'lexical', topics: div.topics },
    examples: chooseExamples(withOutputs, A.outputs, B.outputs, o.examples ?? 3, seed),
  }
}

/**
 * Vendi score and topic entropy of each side's kept texts, comparable between the sides: one
 * lexical vectorizer — the sink's, with its seed — whose document frequencies are learned from
 * both sides' texts before any vector is made; topics fitted once on the union (all of it in the
 * online model's warm-up, i.e. the sink's k-means seeding); each side's entropy over its own
 * counts; and Vendi at the same n on both sides, since it grows with n.
 */
function diversity (a: string[], b: string[], seed: number): { topics: number, sides: [SideReport['diversity'], SideReport['diversity']] } {
  const vectorizer = new LexicalVectorizer({ seed: DEFAULT_SINK_OPTIONS.seed })
  for (const t of [...a, ...b]) vectorizer.vector(t)
  // learn: false weighs a text as if counted once more (N + 1, df + 1): the same for every text, so neither side gains.
  const va = a.map((t) => vectorizer.vector(t, { learn: false }))
  const vb = b.map((t) => vectorizer.vector(t, { learn: false }))
  const all = [...va, ...vb]
  const topicOf: number[] = []
  if (all.length > 0) {
    const model = new OnlineTopicModel({ warmup: all.length, maxTopics: DEFAULT_SINK_OPTIONS.topics.maxTopics, seed: DEFAULT_SINK_OPTIONS.seed })
    const assigned = all.flatMap((v, i) => model.assign(String(i), v))
    for (const x of [...assigned, ...model.finish()]) topicOf[Number(x.id)] = x.topic
  }
  const n = Math.min(va.length, vb.length, 1000)
  const one = (vs: Float64Array[], offset: number): SideReport['diversity'] => {
    const counts = new Map<number, number>()
    for (let i = 0; i < vs.length; i++) counts.set(topicOf[offset + i]!, (counts.get(topicOf[offset + i]!) ?? 0) + 1)
    return {
      kept: vs.length,
      vendi: n > 0 ? vendiScore(vs, { maxSamples: n, seed }).score : null,
      vendiN: n,
      topicEntropy: vs.length > 0 ? topicEntropy(counts) : null,
    }
  }
  return { topics: new Set(topicOf).size, sides: [one(va, 0), one(vb, va.length)] }
}

/** `count` paired inputs, in a seeded order, those whose two scores differ first. */
function chooseExamples (keys: readonly string[], a: Map<string, CompareRecord>, b: Map<string, CompareRecord>, count: number, seed: number): ExamplePair[] {
  const rand = seededRandom(seed)
  const order = [...keys]
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  const differ = (k: string): boolean => a.get(k)!.score !== null && b.get(k)!.score !== null && a.get(k)!.score !== b.get(k)!.score
  return [...order.filter(differ), ...order.filter((k) => !differ(k))].slice(0, count).map((k) => ({
    inputKey: k,
    a: { text: a.get(k)!.text, score: a.get(k)!.score },
    b: { text: b.get(k)!.text, score: b.get(k)!.score },
  }))
}

// ── the table ──────────────────────────────────────────────────────────────────────────────

const pct = (x: number | null): string => x === null ? '—' : `${(100 * x).toFixed(1)} %`
const num = (x: number | null, digits = 1): string => x === null ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const usd = (x: number | null | undefined): string => x === null || x === undefined ? '—' : `$${x < 0.01 ? x.toPrecision(2) : x.toFixed(2)}`
const pValue = (p: number | null): string => p === null ? '—' : p >= 0.001 ? p.toFixed(3) : p.toExponential(1)
const clip = (s: string, n: number): string => {
  const one = s.replace(/\s+/g, ' ').trim()
  return one.length <= n ? one : `${one.slice(0, n - 1)}…`
}

/** The human table `synthq compare` prints. */
export function formatCompareReport (r: CompareReport): string {
  const { a, b } = r
  const lines: string[] = []
  const name = (s: SideReport): string => `${s.label} (v${s.version})`
  lines.push(`compare: ${name(a)} vs ${name(b)} on ${r.inputsBoth} inputs both answered (${a.label} alone ${a.alone}, ${b.label} alone ${b.alone})`)
  if (r.simulated) lines.push('SIMULATED: records were made with the LLM simulator — these figures describe the simulator, not a model')
  const rows: Array<[string, string, string]> = [
    ['model', a.models.join(', ') || '—', b.models.join(', ') || '—'],
    ['outputs', String(a.paired.outputs), String(b.paired.outputs)],
    ['dead letters', String(a.paired.deadLetters), String(b.paired.deadLetters)],
    ['schema-valid', pct(a.schemaValidShare), pct(b.schemaValidShare)],
    ...[...new Set([...Object.keys(a.deadLettersByClass), ...Object.keys(b.deadLettersByClass)])].sort().map((c): [string, string, string] => [`  ${c}`, String(a.deadLettersByClass[c] ?? 0), String(b.deadLettersByClass[c] ?? 0)]),
    ['scored', String(a.scores.n), String(b.scores.n)],
    ['mean score', num(a.scores.mean, 2), num(b.scores.mean, 2)],
    ['scores 0..7', a.scores.histogram.join(' '), b.scores.histogram.join(' ')],
    ['prompt tokens / record', num(a.tokens.promptMean), num(b.tokens.promptMean)],
    ['completion tokens / record', num(a.tokens.completionMean), num(b.tokens.completionMean)],
    ['from cache', pct(a.tokens.cachedShare), pct(b.tokens.cachedShare)],
    ['cost / record', usd(a.cost?.perRecord), usd(b.cost?.perRecord)],
    ['cost / 1,000 records', usd(a.cost?.per1000), usd(b.cost?.per1000)],
    [r.diversity.keptBy === 'score' ? `kept (score ≥ ${r.minScore})` : 'kept (unscored: all)', String(a.diversity.kept), String(b.diversity.kept)],
    [`Vendi score (n = ${a.diversity.vendiN})`, num(a.diversity.vendi, 2), num(b.diversity.vendi, 2)],
    [`topic entropy (${r.diversity.topics} topics)`, entropy(a.diversity.topicEntropy), entropy(b.diversity.topicEntropy)],
  ]
  const w0 = Math.max(...rows.map((x) => x[0].length))
  const w1 = Math.max(name(a).length, ...rows.map((x) => x[1].length))
  lines.push('', `${''.padEnd(w0)}  ${name(a).padEnd(w1)}  ${name(b)}`)
  for (const [k, x, y] of rows) lines.push(`${k.padEnd(w0)}  ${x.padEnd(w1)}  ${y}`.trimEnd())
  lines.push('')
  const t = r.scoreTest
  if (!t) lines.push('scores: no input has a scored output on both sides — no test')
  else {
    lines.push(`Mann–Whitney U, ${b.label} vs ${a.label}, two-sided: U = ${num(t.u)}, z = ${t.z === null ? '—' : t.z.toFixed(2)}, p = ${pValue(t.p)}, rank-biserial r = ${t.rankBiserial.toFixed(2)} (> 0: ${b.label} scores higher)`)
    if (t.note) lines.push(`  ${t.note}`)
  }
  lines.push('cost at list price: a fresh call, also for cache hits; price.cachedInput not applied (an upper bound)')
  if (r.examples.length) {
    lines.push('', `examples (seed ${r.seed}):`)
    const score = (s: number | null): string => s === null ? '-' : `${s}/7`
    for (const e of r.examples) {
      lines.push(`  ${e.inputKey}`)
      lines.push(`    ${a.label} ${score(e.a.score)}: ${clip(e.a.text, 110)}`)
      lines.push(`    ${b.label} ${score(e.b.score)}: ${clip(e.b.text, 110)}`)
    }
  }
  return `${lines.join('\n')}\n`
}

function entropy (e: TopicEntropy | null): string {
  return e === null ? '—' : `${e.nats.toFixed(2)} nats (${e.normalized.toFixed(2)} of max)`
}
