/**
 * The attribution topology (top-down): real user instructions → concepts (intention and
 * keywords) → grounded instructions (the document a search finds for them) → demonstrations
 * (scene and query compositions), the live pool synthesis learns from.
 *
 *   realInstructions ─concept-extraction─▶ concepts ─search-retrieval─▶ groundedInstructions
 *                    ─situation-grounding─▶ demonstrations (compacted, keyed by instruction id)
 */
import type { Decontaminator } from '../hygiene/decontam.ts'
import { conceptExtraction } from '../processors/concept-extraction/concept-extraction.ts'
import { searchRetrieval } from '../processors/search-retrieval/search-retrieval.ts'
import { situationGrounding } from '../processors/situation/situation-grounding.ts'
import type { SearchBackend } from '../search/search-backend.ts'
import { promptFor, selectedVersion } from '../processors/prompts.ts'
import type { PipelineOptions } from './options.ts'
import { TopologyBuilder, type Topology } from './topology.ts'

export interface AttributionSetup {
  options: PipelineOptions
  search: () => SearchBackend | Promise<SearchBackend>
  decontaminator?: () => Decontaminator
}

export function attributionTopology (s: AttributionSetup): Topology {
  const o = s.options
  return new TopologyBuilder('attribution')
    .stage({ name: 'concept-extraction', input: 'realInstructions', outputs: ['concepts'], llm: true, prompt: { id: 'concept-extraction', version: selectedVersion('concept-extraction', o.prompts) }, processor: (v) => conceptExtraction({ seedGate: o.seedGate, prompt: promptFor('concept-extraction', v?.promptVersion !== undefined ? { ...o.prompts, 'concept-extraction': v.promptVersion } : o.prompts), scoringPrompt: promptFor('scoring', o.prompts), ...(s.decontaminator ? { decontaminator: s.decontaminator() } : {}) }) })
    .stage({ name: 'search-retrieval', input: 'concepts', outputs: ['groundedInstructions'], processor: () => searchRetrieval({ backend: s.search, k: 5 }) })
    .stage({ name: 'situation-grounding', input: 'groundedInstructions', outputs: ['demonstrations'], llm: true, prompt: { id: 'situation-grounding', version: selectedVersion('situation-grounding', o.prompts) }, processor: (v) => situationGrounding({ documentTokens: o.budget.documentTokens, prompt: promptFor('situation-grounding', v?.promptVersion !== undefined ? { ...o.prompts, 'situation-grounding': v.promptVersion } : o.prompts) }) })
    .build()
}
