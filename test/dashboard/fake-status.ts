/**
 * A stand-in for StatusCollector in the dashboard's unit tests: snapshots shaped like the ones a
 * running `synthq start` produces (the method's stages, LLM spend, a scored-instruction
 * histogram, a topic-balanced sample, latest instructions with lineage), advancing on each
 * collect. `poison` puts a malicious instruction first in the latest list.
 */
import type { LatestInstruction, StageStatus, StatusSnapshot } from '../../src/ops/status-model.ts'

export const MALICIOUS_INSTRUCTION = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & "quotes"'

const STAGES: Array<[string, string, string, boolean]> = [
  ['concept-extraction', 'attribution', 'synthq.instructions.real', true],
  ['search-retrieval', 'attribution', 'synthq.concepts', false],
  ['situation-grounding', 'attribution', 'synthq.instructions.grounded', true],
  ['document-hygiene', 'synthesis', 'synthq.documents', false],
  ['situation-envisioning', 'synthesis', 'synthq.documents.clean', true],
  ['instruction-generation', 'synthesis', 'synthq.situations', true],
  ['scoring', 'synthesis', 'synthq.instructions.synthesized', true],
  ['sink', 'synthesis', 'synthq.instructions.scored', true],
]

const TOPIC_LABELS = ['equation / solve / integral', 'recipe / cook / oven', 'energy / particle / field', 'travel / hotel / city', 'code / function / error', 'health / sleep / diet', 'history / war / empire', 'garden / plant / soil']

export interface FakeStatusOptions { poison?: boolean, start?: number, stepMs?: number }

export class FakeStatus {
  n = 0
  readonly #o: FakeStatusOptions
  constructor (o: FakeStatusOptions = {}) { this.#o = o }

  /** The snapshot number `n` (0-based): figures grow with n. */
  snapshot (n = this.n++): StatusSnapshot {
    const at = (this.#o.start ?? Date.now()) + n * (this.#o.stepMs ?? 2000)
    const progress = Math.min(1, (n + 1) / 10)
    const stages: StageStatus[] = STAGES.map(([stage, topology, input, llm], i) => {
      const committed = Math.round(progress * (i < 3 ? 345 : 900))
      const promptTokens = llm ? committed * (900 + 40 * i) : 0
      const completionTokens = llm ? committed * (60 + 5 * i) : 0
      return {
        stage,
        topology,
        input,
        lag: Math.round((1 - progress) * 300) + i,
        committed,
        throughputPerSec: 20 + 5 * i + (n % 3),
        inFlight: 8 + i,
        queued: i % 2 ? 12 : 0,
        retries: i === 4 ? 2 : 0,
        deadLetters: stage === 'document-hygiene' ? 32 : stage === 'search-retrieval' ? 4 : 0,
        deadLetterReasons: stage === 'document-hygiene' ? [{ errorClass: 'DocumentRejected', count: 32 }] : stage === 'search-retrieval' ? [{ errorClass: 'NoSearchResult', count: 4 }] : [],
        consumers: 1,
        llm: llm
          ? { model: stage === 'sink' ? 'sim-embed-small' : 'sim-chat-8b', requests: committed, promptTokens, completionTokens, costUsd: (promptTokens * 0.15 + completionTokens * 0.6) / 1e6, cacheHitRate: 0.1, latencyP50Ms: 120 + 10 * i + (n % 4) * 5, latencyP95Ms: 400 + 20 * i + (n % 5) * 10 }
          : null,
      }
    })
    const scored = stages.find((s) => s.stage === 'scoring')!.committed!
    const histogram = [0, 0, 0, 3, 31, 128, 334, 372].map((c) => Math.round(c * progress))
    const accepted = histogram.slice(3).reduce((a, b) => a + b, 0)
    const latest: LatestInstruction[] = Array.from({ length: 5 }, (_, j) => ({
      id: `scored-${n}-${j}`,
      instruction: j === 0 && this.#o.poison ? MALICIOUS_INSTRUCTION : `Explain step by step how ${TOPIC_LABELS[(n + j) % TOPIC_LABELS.length]!.split(' / ')[0]} works for a reader new to the subject (#${n}.${j}).`,
      total: 7 - (j % 3),
      documentId: `c4:web-${n}-${j}`,
      documentUrl: j === 1 ? 'javascript:alert(1)' : `https://example.org/doc/${n}-${j}`,
      demonstrationIds: ['oasst-1', 'oasst-2', 'oasst-3'].slice(0, 1 + (j % 3)),
      steps: ['document-hygiene@1 ', 'situation-envisioning@3 (sim-chat-8b)', 'instruction-generation@2 (sim-chat-8b)', 'scoring@2 (sim-chat-8b)'],
      simulated: j !== 2,
      at: at - j * 300,
    }))
    const pt = stages.reduce((a, s) => a + (s.llm?.promptTokens ?? 0), 0)
    const ct = stages.reduce((a, s) => a + (s.llm?.completionTokens ?? 0), 0)
    return {
      at,
      runner: 'embedded',
      source: '/tmp/synthq.db',
      prefix: 'synthq',
      processes: [{ pid: 4242, metricsUrl: 'http://127.0.0.1:40123/metrics', topology: 'synthesis', runner: 'embedded', up: true }],
      stages,
      topics: stages.map((s) => ({ topic: s.input, records: (s.committed ?? 0) + (s.lag ?? 0) })),
      filter: { minScore: 3, scored, accepted, acceptanceRate: scored ? accepted / Math.max(accepted, scored) : null, scoreHistogram: histogram },
      sample: {
        size: Math.round(400 * progress),
        k: 400,
        topics: TOPIC_LABELS.map((label, i) => ({ topic: i, label, kept: Math.round(progress * (50 - i)), quota: 50, seen: Math.round(progress * (120 - 9 * i)) })),
        balanceRatio: 50 / 43,
        topicEntropy: 0.97,
        effectiveTopics: 7.6,
        vendi: 122.17 * progress,
        simulated: true,
      },
      llm: { requests: stages.reduce((a, s) => a + (s.llm?.requests ?? 0), 0), promptTokens: pt, completionTokens: ct, costUsd: stages.reduce((a, s) => a + (s.llm?.costUsd ?? 0), 0), cacheHitRate: 0.1 },
      latest,
      health: {
        healthy: true,
        checks: [
          { name: 'filter_rejection', ok: true, message: '0.0 % of 868 scored instructions fell below the threshold 3 (unhealthy above 80 %)' },
          { name: 'diversity_collapse', ok: true, message: 'Vendi score 122.17 over 400 sample vectors; peak 122.17' },
          { name: 'dead_letters', ok: n % 2 === 0, message: n % 2 === 0 ? '36 dead letters, 3.9 % of input' : 'dead letters rising' },
        ],
      },
    }
  }
}
