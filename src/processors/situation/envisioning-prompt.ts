/**
 * Situation envisioning's prompt (synthesis): a web document and demonstrations → reasoning,
 * scene and query compositions. Each version is a file of its own under prompts/ (listed, with
 * the live one, in ../prompts.ts); this module holds the types they share.
 */
import type { QueryCompositions } from '../prompt.ts'

export interface Envisioned { thought: string, scene: string, query_compositions: QueryCompositions }

export interface EnvisioningInput { demonstrations: string, document: string }

export { SITUATION_ENVISIONING_V1 as ENVISIONING_PROMPT } from './prompts/situation-envisioning.v1.ts'
