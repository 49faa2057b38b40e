/**
 * The synthesis topology (bottom-up): documents → clean documents (input hygiene, no LLM) →
 * situations (envisioned with demonstrations from the live pool) → synthesized instructions →
 * scored instructions.
 *
 *   documents ─document-hygiene─▶ cleanDocuments (+ documentFingerprints, read back as a table)
 *             ─situation-envisioning─▶ situations ─instruction-generation─▶ synthesizedInstructions
 *             ─scoring─▶ scoredInstructions ─sink─▶ sample (the dataset; state in sinkState)
 *
 * The demonstrations table is read live: demonstrations attribution adds while synthesis runs
 * join the next draw, no restart needed.
 */
import type { Decontaminator } from '../hygiene/decontam.ts'
import { documentHygiene } from '../processors/hygiene/document-hygiene.ts'
import { instructionGeneration } from '../processors/instruction/instruction-generation.ts'
import { scoring } from '../processors/scoring/scoring.ts'
import { topicBalancedSink } from '../processors/sink/topic-balanced-sink.ts'
import { situationEnvisioning } from '../processors/situation/situation-envisioning.ts'
import type { PipelineOptions } from './options.ts'
import { TopologyBuilder, type Topology } from './topology.ts'

export interface SynthesisSetup {
  options: PipelineOptions
  decontaminator?: () => Decontaminator
}

export function synthesisTopology (s: SynthesisSetup): Topology {
  const o = s.options
  return new TopologyBuilder('synthesis')
    .table('documentFingerprints')
    .table('demonstrations')
    .stage({
      name: 'document-hygiene', input: 'documents', outputs: ['cleanDocuments', 'documentFingerprints'], tables: ['documentFingerprints'],
      processor: () => documentHygiene({ documentTokens: o.budget.documentTokens, minChars: o.hygiene.minChars, maxChars: o.hygiene.maxChars, nearDuplicates: o.hygiene.nearDuplicates, nearDuplicateThreshold: o.hygiene.nearDuplicateThreshold }),
    })
    .stage({
      name: 'situation-envisioning', input: 'cleanDocuments', outputs: ['situations'], tables: ['demonstrations'], llm: true,
      processor: () => situationEnvisioning({ seed: o.seed, k: o.demonstrations.k, resampleEvery: o.demonstrations.resampleEvery, excerptTokens: o.demonstrations.excerptTokens, documentTokens: o.budget.documentTokens, promptTokens: o.budget.promptTokens }),
    })
    .stage({
      name: 'instruction-generation', input: 'situations', outputs: ['synthesizedInstructions'], tables: ['demonstrations'], llm: true,
      processor: () => instructionGeneration({ excerptTokens: o.demonstrations.excerptTokens }),
    })
    .stage({ name: 'scoring', input: 'synthesizedInstructions', outputs: ['scoredInstructions'], llm: true, processor: () => scoring({ ...(s.decontaminator ? { decontaminator: s.decontaminator() } : {}) }) })
    .statefulStage({
      name: 'sink', input: 'scoredInstructions', outputs: ['sample'], state: 'sinkState', llm: 'embeddings',
      checkpointIntervalMs: o.sink.checkpointIntervalMs, checkpointRecords: o.sink.checkpointRecords,
      processor: () => {
        const { checkpointIntervalMs: _i, checkpointRecords: _r, ...sink } = o.sink
        return topicBalancedSink({ ...sink, seed: o.seed })
      },
    })
    .build()
}
