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
import { promptFor, selectedVersion, type PromptStage } from '../processors/prompts.ts'
import type { PipelineOptions } from './options.ts'
import { TopologyBuilder, type ProcessorVariant, type StagePrompt, type Topology } from './topology.ts'

export interface SynthesisSetup {
  options: PipelineOptions
  decontaminator?: () => Decontaminator
}

export function synthesisTopology (s: SynthesisSetup): Topology {
  const o = s.options
  // The prompt of a stage: the selected version, or another one for a shadow run or a promotion.
  const prompt = <S extends PromptStage>(id: S, v?: ProcessorVariant): ReturnType<typeof promptFor<S>> => promptFor(id, v?.promptVersion !== undefined ? { ...o.prompts, [id]: v.promptVersion } : o.prompts)
  const sends = (id: PromptStage): StagePrompt => ({ id, version: selectedVersion(id, o.prompts) })
  const b = new TopologyBuilder('synthesis')
    .table('documentFingerprints')
    .table('demonstrations')
    .stage({
      name: 'document-hygiene', input: 'documents', outputs: ['cleanDocuments', 'documentFingerprints'], tables: ['documentFingerprints'],
      processor: () => documentHygiene({ documentTokens: o.budget.documentTokens, minChars: o.hygiene.minChars, maxChars: o.hygiene.maxChars, nearDuplicates: o.hygiene.nearDuplicates, nearDuplicateThreshold: o.hygiene.nearDuplicateThreshold }),
    })
    .stage({
      name: 'situation-envisioning', input: 'cleanDocuments', outputs: ['situations'], tables: ['demonstrations'], llm: true, prompt: sends('situation-envisioning'),
      processor: (v) => situationEnvisioning({ seed: o.seed, k: o.demonstrations.k, resampleEvery: o.demonstrations.resampleEvery, excerptTokens: o.demonstrations.excerptTokens, documentTokens: o.budget.documentTokens, promptTokens: o.budget.promptTokens, prompt: prompt('situation-envisioning', v) }),
    })
    .stage({
      name: 'instruction-generation', input: 'situations', outputs: ['synthesizedInstructions'], tables: ['demonstrations'], llm: true, prompt: sends('instruction-generation'),
      processor: (v) => instructionGeneration({ excerptTokens: o.demonstrations.excerptTokens, prompt: prompt('instruction-generation', v) }),
    })
    .stage({ name: 'scoring', input: 'synthesizedInstructions', outputs: ['scoredInstructions'], llm: true, prompt: sends('scoring'), processor: (v) => scoring({ prompt: prompt('scoring', v), ...(s.decontaminator ? { decontaminator: s.decontaminator() } : {}) }) })
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
      .stage({ name: 'response', input: 'sample', outputs: ['responses'], tables: ['sample'], llm: true, prompt: sends('response'), processor: (v) => response({ showDocument: r.showDocument, settleMs: r.settleMs, prompt: prompt('response', v) }) })
    if (r.preferences === true) {
      b.stage({ name: 'response-b', input: 'responses', outputs: ['responsePairs'], tables: ['sample'], llm: true, prompt: sends('response'), processor: (v) => responseB({ settleMs: r.settleMs, prompt: prompt('response', v) }) })
        .stage({ name: 'judge', input: 'responsePairs', outputs: ['preferences'], tables: ['sample'], llm: true, prompt: sends('judge'), processor: (v) => judge({ settleMs: r.settleMs, prompt: prompt('judge', v) }) })
    }
  }
  return b.build()
}
