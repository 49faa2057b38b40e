/**
 * What the sink's state says about the dataset, for `synthq sink`, the dataset card and the
 * health checks: counts and drops by reason, topics with their labels, shares and quotas, the
 * balance ratio, topic entropy, the score histogram of the sample, and the Vendi score of the
 * probe (a seeded subset of the sample's vectors).
 *
 * Health checks turn the paper's failure signatures into alarms, each with the figure that
 * tripped it:
 * - filter rejection: more than 80 % of scored instructions fall below the score threshold
 *   (the paper's filter keeps ~99 %; a rejection rate this high means the generator or the
 *   judge is broken, not that the data is hard);
 * - diversity collapse: the sample's Vendi score has fallen below half of its peak (the
 *   generator keeps saying the same things, and the reservoir fills with them).
 * Both wait for enough data (100 scored instructions; a peak measured on a full probe).
 */
import type { SinkState } from '../processors/sink/state-codec.ts'
import { topicEntropy, vendiScore } from './diversity/index.ts'
import { TopicBalancedReservoir } from './reservoir/index.ts'
import { ScalableBloomFilter } from './dedup/index.ts'
import { TopicLabeler } from './clusters/index.ts'

export interface HealthCheck {
  name: 'filter_rejection' | 'diversity_collapse'
  ok: boolean
  figure: number | null
  threshold: number
  message: string
}

export interface SinkReport {
  seen: number
  dropped: Record<string, number>
  rejected: number
  offered: number
  admitted: number
  evicted: number
  kept: number
  k: number
  policy: string
  minScore: number
  vectors: string | null
  simulated: boolean
  warmupBuffered: number
  topics: Array<{ topic: number, label: string, seen: number, kept: number, quota: number }>
  balanceRatio: number | null
  topicEntropy: { nats: number, normalized: number, effective: number }
  /** Rows of the sample by total, index 0–7. */
  scoreHistogram: number[]
  /** Every valid scored instruction the sink has seen, by total 0–7 (null: a checkpoint from before this was counted). */
  seenHistogram: number[] | null
  vendi: { score: number, n: number, peak: number } | null
  duplicateFilterFalsePositiveRate: number
  health: { healthy: boolean, checks: HealthCheck[] }
}

export const REJECTION_LIMIT = 0.8
export const COLLAPSE_SHARE = 0.5
const MIN_SEEN = 100

export function sinkReport (s: SinkState): SinkReport {
  const reservoir = TopicBalancedReservoir.restore(s.reservoir)
  const stats = reservoir.stats()
  const labels = TopicLabeler.restore(s.labels).labels(s.options.labelWords)
  const hist = new Array<number>(8).fill(0)
  for (const t of s.reservoir.topics) for (const [, score] of t.items) hist[Math.max(0, Math.min(7, Math.round(score)))]!++
  const entropy = topicEntropy(stats.perTopic.map((t) => t.kept))
  const probe = s.probe.map(([, v]) => { const b = Buffer.from(v, 'base64'); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) })
  const vendi = probe.length >= 2 ? vendiScore(probe, { seed: s.options.seed }) : null
  const peak = Math.max(s.peakVendi, vendi?.score ?? 0)
  const rejection = s.counters.seen > 0 ? s.counters.dropped.below_min_score / s.counters.seen : null
  const checks: HealthCheck[] = [
    {
      name: 'filter_rejection',
      ok: rejection === null || s.counters.seen < MIN_SEEN || rejection <= REJECTION_LIMIT,
      figure: rejection,
      threshold: REJECTION_LIMIT,
      message: rejection === null
        ? 'no scored instructions yet'
        : `${(rejection * 100).toFixed(1)} % of ${s.counters.seen} scored instructions fell below the threshold ${s.options.minScore} (unhealthy above ${REJECTION_LIMIT * 100} %${s.counters.seen < MIN_SEEN ? `; judged from ${MIN_SEEN} on` : ''})`,
    },
    {
      name: 'diversity_collapse',
      ok: vendi === null || peak === 0 || vendi.score >= COLLAPSE_SHARE * peak,
      figure: vendi?.score ?? null,
      threshold: COLLAPSE_SHARE * peak,
      message: vendi === null
        ? 'too few sample vectors to measure diversity'
        : `Vendi score ${vendi.score.toFixed(2)} over ${vendi.n} sample vectors; peak ${peak.toFixed(2)} (unhealthy below ${(COLLAPSE_SHARE * 100).toFixed(0)} % of the peak)`,
    },
  ]
  return {
    seen: s.counters.seen,
    dropped: { ...s.counters.dropped },
    rejected: s.counters.rejected,
    offered: s.counters.offered,
    admitted: s.counters.admitted,
    evicted: s.counters.evicted,
    kept: stats.size,
    k: stats.k,
    policy: stats.policy,
    minScore: s.options.minScore,
    vectors: s.vectors,
    simulated: s.simulatedVectors,
    warmupBuffered: s.pending.length,
    topics: stats.perTopic.map((t) => ({ topic: Number(t.topic), label: labels.get(Number(t.topic)) ?? `topic_${String(t.topic)}`, seen: t.seen, kept: t.kept, quota: t.quota })),
    balanceRatio: stats.balanceRatio,
    topicEntropy: { nats: entropy.nats, normalized: entropy.normalized, effective: entropy.effective },
    scoreHistogram: hist,
    seenHistogram: s.counters.byTotal ? [...s.counters.byTotal] : null,
    vendi: vendi ? { score: vendi.score, n: vendi.n, peak } : null,
    duplicateFilterFalsePositiveRate: estimatedFpr(s),
    health: { healthy: checks.every((c) => c.ok), checks },
  }
}

function estimatedFpr (s: SinkState): number {
  return ScalableBloomFilter.restore(s.dedup).estimatedFalsePositiveRate()
}

/** The report as lines for a terminal. */
export function formatSinkReport (r: SinkReport): string {
  const pct = (n: number, d: number): string => d > 0 ? `${(100 * n / d).toFixed(1)} %` : '-'
  const lines = [
    `sink: ${r.kept} of K=${r.k} kept (policy ${r.policy}, min score ${r.minScore}); ${r.seen} scored instructions read`,
    `  dropped: below min score ${r.dropped.below_min_score} (${pct(r.dropped.below_min_score ?? 0, r.seen)}), duplicate id ${r.dropped.duplicate_id}, duplicate text ${r.dropped.duplicate_text}; rejected ${r.rejected}; waiting for warm-up ${r.warmupBuffered}`,
    `  topics: ${r.topics.length}, entropy ${r.topicEntropy.nats.toFixed(3)} nats (effective ${r.topicEntropy.effective.toFixed(1)} topics), balance max/min ${r.balanceRatio === null ? '-' : r.balanceRatio.toFixed(3)}; vectors ${r.vectors ?? '-'}${r.simulated ? ' (SIMULATED)' : ''}`,
    `  scores in the sample: ${r.scoreHistogram.map((n, i) => `${i}:${n}`).join(' ')}`,
    `  diversity: ${r.vendi ? `Vendi ${r.vendi.score.toFixed(2)} over ${r.vendi.n} vectors (peak ${r.vendi.peak.toFixed(2)})` : '-'}; duplicate filter false-positive rate ~${r.duplicateFilterFalsePositiveRate.toExponential(1)}`,
    `  health: ${r.health.healthy ? 'healthy' : 'UNHEALTHY'}`,
    ...r.health.checks.map((c) => `    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.message}`),
    '  largest topics:',
    ...[...r.topics].sort((a, b) => b.kept - a.kept).slice(0, 10).map((t) => `    ${String(t.topic).padStart(4)}  kept ${String(t.kept).padStart(6)} / quota ${String(t.quota).padStart(6)} of ${String(t.seen).padStart(7)} seen  ${t.label}`),
  ]
  return lines.join('\n')
}
