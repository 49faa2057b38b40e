/**
 * The synthesis topology (bottom-up): documents → clean documents (input hygiene, no LLM) →
 * situations (envisioned with demonstrations from the live pool) → synthesized instructions →
 * scored instructions.
 *
 *   documents ─document-hygiene─▶ cleanDocuments (+ documentFingerprints, read back as a table)
 *             ─situation-envisioning─▶ situations ─instruction-generation─▶ synthesizedInstructions
 *             ─scoring─▶ scoredInstructions ─sink─▶ sample (the dataset; state in sinkState)
 *
 * With `responses.enabled` (on in `npm start`), a responder answers every instruction of the sample;
 * with `responses.preferences` too, a second responder and a judge make preference pairs:
 *
 *   sample ─response─▶ responses ─response-b─▶ responsePairs ─judge─▶ preferences
 *   (each reads the sample as a table; tombstones follow evictions down the chain)
 *
 * The demonstrations table is read live: demonstrations attribution adds while synthesis runs
 * join the next draw, no restart needed.
 */
import type { Decontaminator } from '../hygiene/decontam.ts'
import { documentHygiene } from '../processors/hygiene/document-hygiene.ts'
import { instructionGeneration } from '../processors/instruction/instruction-generation.ts'
import { judge } from '../processors/response/judge.ts'
import { response } from '../processors/response/response.ts'
import { responseB } from '../processors/response/response-b.ts'
import { scoring } from '../processors/scoring/scoring.ts'
import { topicBalancedSink } from '../processors/sink/topic-balanced-sink.ts'
import { situationEnvisioning } from '../processors/situation/situation-envisioning.ts'
import { promptFor } from '../processors/prompts.ts'
import type { PipelineOptions } from './options.ts'
import { TopologyBuilder, type Topology } from './topology.ts'

export interface SynthesisSetup {
  options: PipelineOptions
  decontaminator?: () => Decontaminator
}

export function synthesisTopology (s: SynthesisSetup): Topology {
  const o = s.options
  const b = new TopologyBuilder('synthesis')
    .table('documentFingerprints')
    .table('demonstrations')
    .stage({
      name: 'document-hygiene', input: 'documents', outputs: ['cleanDocuments', 'documentFingerprints'], tables: ['documentFingerprints'],
      processor: () => documentHygiene({ documentTokens: o.budget.documentTokens, minChars: o.hygiene.minChars, maxChars: o.hygiene.maxChars, nearDuplicates: o.hygiene.nearDuplicates, nearDuplicateThreshold: o.hygiene.nearDuplicateThreshold }),
    })
    .stage({
      name: 'situation-envisioning', input: 'cleanDocuments', outputs: ['situations'], tables: ['demonstrations'], llm: true,
      processor: () => situationEnvisioning({ seed: o.seed, k: o.demonstrations.k, resampleEvery: o.demonstrations.resampleEvery, excerptTokens: o.demonstrations.excerptTokens, documentTokens: o.budget.documentTokens, promptTokens: o.budget.promptTokens, prompt: promptFor('situation-envisioning', o.prompts) }),
    })
    .stage({
      name: 'instruction-generation', input: 'situations', outputs: ['synthesizedInstructions'], tables: ['demonstrations'], llm: true,
      processor: () => instructionGeneration({ excerptTokens: o.demonstrations.excerptTokens, prompt: promptFor('instruction-generation', o.prompts) }),
    })
    .stage({ name: 'scoring', input: 'synthesizedInstructions', outputs: ['scoredInstructions'], llm: true, processor: () => scoring({ prompt: promptFor('scoring', o.prompts), ...(s.decontaminator ? { decontaminator: s.decontaminator() } : {}) }) })
    .statefulStage({
      name: 'sink', input: 'scoredInstructions', outputs: ['sample'], state: 'sinkState', llm: 'embeddings',
      checkpointIntervalMs: o.sink.checkpointIntervalMs, checkpointRecords: o.sink.checkpointRecords,
      processor: () => {
        const { checkpointIntervalMs: _i, checkpointRecords: _r, ...sink } = o.sink
        return topicBalancedSink({ ...sink, seed: o.seed })
      },
    })
  const r = o.responses
  if (r.enabled === true || r.preferences === true) {
    b.table('sample')
      .stage({ name: 'response', input: 'sample', outputs: ['responses'], tables: ['sample'], llm: true, processor: () => response({ showDocument: r.showDocument, settleMs: r.settleMs, prompt: promptFor('response', o.prompts) }) })
    if (r.preferences === true) {
      b.stage({ name: 'response-b', input: 'responses', outputs: ['responsePairs'], tables: ['sample'], llm: true, processor: () => responseB({ settleMs: r.settleMs, prompt: promptFor('response', o.prompts) }) })
        .stage({ name: 'judge', input: 'responsePairs', outputs: ['preferences'], tables: ['sample'], llm: true, processor: () => judge({ settleMs: r.settleMs, prompt: promptFor('judge', o.prompts) }) })
    }
  }
  return b.build()
}
