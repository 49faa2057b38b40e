/**
 * The prompt registry: every version of every LLM stage's prompt, each a file of its own, and
 * which version is live (the default). Prompts are data: a new wording is a new file with a new
 * version, registered here, never an edit of an old one — the id and version are in the LLM
 * cache key and in every output's lineage, so an edited text under an old version would be
 * answered from the cache and mislabelled in lineage.
 *
 * A stage runs the live version unless the pipeline selects another:
 *
 *   pipeline:
 *     prompts: { instruction-generation: "2" }     # or: synthq run … --prompt-version instruction-generation=2
 *
 * Keys are prompt ids, which are the names of the stages that own them; `scoring` is also the
 * seed gate of concept-extraction, and `response` is answered by both response and response-b.
 * `synthq prompts` lists the registry and `synthq prompts diff <stage> <v1> <v2>` compares two
 * versions (src/cli/prompts.ts).
 */
import { createHash } from 'node:crypto'
import { ConfigError } from '../errors.ts'
import type { ConceptInput } from './concept-extraction/prompt.ts'
import { CONCEPT_EXTRACTION_V1 } from './concept-extraction/prompts/concept-extraction.v1.ts'
import type { InstructionInput } from './instruction/prompt.ts'
import { INSTRUCTION_GENERATION_V1 } from './instruction/prompts/instruction-generation.v1.ts'
import { INSTRUCTION_GENERATION_V2 } from './instruction/prompts/instruction-generation.v2.ts'
import type { Prompt } from './prompt.ts'
import type { JudgeInput } from './response/judge-prompt.ts'
import type { ResponseInput } from './response/prompt.ts'
import { JUDGE_V1 } from './response/prompts/judge.v1.ts'
import { RESPONSE_V1 } from './response/prompts/response.v1.ts'
import type { ScoringInput } from './scoring/criteria.ts'
import { SCORING_V2 } from './scoring/prompts/scoring.v2.ts'
import type { EnvisioningInput } from './situation/envisioning-prompt.ts'
import type { GroundingInput } from './situation/grounding-prompt.ts'
import { SITUATION_ENVISIONING_V1 } from './situation/prompts/situation-envisioning.v1.ts'
import { SITUATION_GROUNDING_V1 } from './situation/prompts/situation-grounding.v1.ts'

/** What each prompt renders messages from, by prompt id. */
export interface PromptInputs {
  'concept-extraction': ConceptInput
  'situation-grounding': GroundingInput
  'situation-envisioning': EnvisioningInput
  'instruction-generation': InstructionInput
  scoring: ScoringInput
  response: ResponseInput
  judge: JudgeInput
}

export type PromptStage = keyof PromptInputs

/** One registered version: the prompt and the file it lives in (relative to the package root). */
export interface PromptVersion<In> {
  readonly prompt: Prompt<In>
  readonly file: string
}

export interface StagePrompts<In> {
  /** The version stages run unless the pipeline selects another. */
  readonly live: string
  readonly versions: Readonly<Record<string, PromptVersion<In>>>
  /** The stages that send this prompt. */
  readonly usedBy: readonly string[]
  /** A fixed input: what `synthq prompts diff` renders, and what the content hash covers. */
  readonly sample: In
}

const SAMPLE_DOCUMENT = 'The 1906 San Francisco earthquake struck on 18 April at 5:12 a.m. with an estimated moment magnitude of 7.9. Fires burned for several days and destroyed about 80% of the city; more than 3,000 people died.'
const SAMPLE_COMPOSITIONS = { ability: 'planning and risk analysis', knowledge: 'seismology, urban fire safety', extra_information: 'magnitude 7.9; fires destroyed about 80% of the city', output: 'a prioritised checklist' }

export const PROMPT_REGISTRY: { readonly [S in PromptStage]: StagePrompts<PromptInputs[S]> } = {
  'concept-extraction': {
    live: '1',
    versions: { 1: { prompt: CONCEPT_EXTRACTION_V1, file: 'src/processors/concept-extraction/prompts/concept-extraction.v1.ts' } },
    usedBy: ['concept-extraction'],
    sample: { instruction: 'how do cities prepare for a big earthquake and the fires after it?' },
  },
  'situation-grounding': {
    live: '1',
    versions: { 1: { prompt: SITUATION_GROUNDING_V1, file: 'src/processors/situation/prompts/situation-grounding.v1.ts' } },
    usedBy: ['situation-grounding'],
    sample: { document: SAMPLE_DOCUMENT, instruction: 'how do cities prepare for a big earthquake and the fires after it?' },
  },
  'situation-envisioning': {
    live: '1',
    versions: { 1: { prompt: SITUATION_ENVISIONING_V1, file: 'src/processors/situation/prompts/situation-envisioning.v1.ts' } },
    usedBy: ['situation-envisioning'],
    sample: { demonstrations: '', document: SAMPLE_DOCUMENT },
  },
  'instruction-generation': {
    live: '1',
    versions: {
      1: { prompt: INSTRUCTION_GENERATION_V1, file: 'src/processors/instruction/prompts/instruction-generation.v1.ts' },
      2: { prompt: INSTRUCTION_GENERATION_V2, file: 'src/processors/instruction/prompts/instruction-generation.v2.ts' },
    },
    usedBy: ['instruction-generation'],
    sample: { demonstrations: '', document: SAMPLE_DOCUMENT, scene: 'A city emergency planner preparing a briefing for the council on the centenary of the 1906 earthquake.', compositions: JSON.stringify(SAMPLE_COMPOSITIONS) },
  },
  scoring: {
    live: '2',
    versions: { 2: { prompt: SCORING_V2, file: 'src/processors/scoring/prompts/scoring.v2.ts' } },
    usedBy: ['scoring', 'concept-extraction (seed gate)'],
    sample: { query: 'I am briefing our city council on the 1906 San Francisco earthquake (magnitude 7.9; fires destroyed about 80% of the city). Draft a prioritised checklist of fire-safety measures for our own city.' },
  },
  response: {
    live: '1',
    versions: { 1: { prompt: RESPONSE_V1, file: 'src/processors/response/prompts/response.v1.ts' } },
    usedBy: ['response', 'response-b'],
    sample: { instruction: 'Draft a prioritised checklist of fire-safety measures for a city after a magnitude 7.9 earthquake.' },
  },
  judge: {
    live: '1',
    versions: { 1: { prompt: JUDGE_V1, file: 'src/processors/response/prompts/judge.v1.ts' } },
    usedBy: ['judge'],
    sample: { instruction: 'Name a prime number greater than 10.', first: '11 is a prime number greater than 10.', second: '12.' },
  },
}

export const PROMPT_STAGES = Object.keys(PROMPT_REGISTRY) as PromptStage[]

/** A selection of versions by stage, as `pipeline.prompts` and `--prompt-version` give it. */
export type PromptSelection = Readonly<Record<string, string>>

/** "2", "v2" and "V2" name the same version. */
export function normalizeVersion (v: string | number): string {
  return String(v).trim().replace(/^v/i, '')
}

function isStage (stage: string): stage is PromptStage {
  return Object.hasOwn(PROMPT_REGISTRY, stage)
}

/** The registry's entry for a stage; an unknown stage is a ConfigError listing the known ones. */
export function stagePrompts (stage: string): StagePrompts<unknown> {
  if (!isStage(stage)) throw new ConfigError(`no prompt for stage "${stage}" (stages with prompts: ${PROMPT_STAGES.join(', ')})`, { context: { stage } })
  return PROMPT_REGISTRY[stage] as StagePrompts<unknown>
}

/** One version of a stage's prompt; an unknown stage or version is a ConfigError naming what exists. */
export function promptVersion (stage: string, version: string | number): PromptVersion<unknown> {
  const entry = stagePrompts(stage)
  const v = normalizeVersion(version)
  const found = Object.hasOwn(entry.versions, v) ? entry.versions[v] : undefined
  if (!found) throw new ConfigError(`stage ${stage} has no prompt version "${version}" (versions: ${Object.keys(entry.versions).join(', ')}; live: ${entry.live})`, { context: { stage, version: String(version) } })
  return found
}

/** Checks every entry of a selection (stage and version exist); throws the first ConfigError. */
export function checkPromptSelection (selection: PromptSelection): void {
  for (const [stage, version] of Object.entries(selection)) promptVersion(stage, version)
}

/** The version a stage runs: the selected one, else the live one. */
export function selectedVersion (stage: PromptStage, selection: PromptSelection = {}): string {
  return Object.hasOwn(selection, stage) ? normalizeVersion(selection[stage]!) : PROMPT_REGISTRY[stage].live
}

/** The prompt a stage runs: the selected version, else the live one. */
export function promptFor<S extends PromptStage> (stage: S, selection: PromptSelection = {}): Prompt<PromptInputs[S]> {
  return promptVersion(stage, selectedVersion(stage, selection)).prompt as Prompt<PromptInputs[S]>
}

/**
 * A short hash of what a version sends: its id, version, system text, schema and the messages
 * it renders for the stage's sample input (messages() is code, so the rendering stands for it).
 */
export function promptHash (stage: string, prompt: Prompt<unknown>): string {
  const content = JSON.stringify({ id: prompt.id, version: prompt.version, system: prompt.system, schema: prompt.schema, messages: prompt.messages(stagePrompts(stage).sample) })
  return createHash('sha256').update(content).digest('hex').slice(0, 12)
}

export interface PromptListing { stage: string, id: string, version: string, live: boolean, file: string, hash: string, usedBy: readonly string[] }

/** Every registered version, stage by stage, in version order. */
export function listPrompts (): PromptListing[] {
  return PROMPT_STAGES.flatMap((stage) => {
    const entry = stagePrompts(stage)
    return Object.entries(entry.versions)
      .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([version, v]) => ({ stage, id: v.prompt.id, version, live: version === entry.live, file: v.file, hash: promptHash(stage, v.prompt), usedBy: entry.usedBy }))
  })
}
