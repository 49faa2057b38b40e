/**
 * Situation grounding's prompt (attribution): a real instruction and the document retrieved for
 * it → the practical scene that links them (who the user is, why they ask) and the query's
 * compositions. The results become the demonstrations synthesis learns from. Each version is a
 * file of its own under prompts/ (listed, with the live one, in ../prompts.ts).
 */
import type { QueryCompositions } from '../prompt.ts'

export interface Grounding { scene: string, query_compositions: QueryCompositions }

export interface GroundingInput { document: string, instruction: string }

export { SITUATION_GROUNDING_V1 as GROUNDING_PROMPT } from './prompts/situation-grounding.v1.ts'
