/**
 * Concept extraction's prompt: a real user instruction → the user's intention and at most five
 * search keywords. Each version is a file of its own under prompts/ (listed, with the live one,
 * in ../prompts.ts); this module holds the types they share and names the live version.
 */
export interface Concepts { intention: string, keywords: string[] }

export interface ConceptInput { instruction: string }

export { CONCEPT_EXTRACTION_V1 as CONCEPT_PROMPT } from './prompts/concept-extraction.v1.ts'
