/**
 * situation-envisioning, version 1 (live): a web document and demonstrations → the model's
 * reasoning from the document to a realistic user need, the scene, and the query's
 * compositions. Message order is fixed instructions, then demonstrations, then the document, so
 * consecutive requests that share a demonstration set share a long prefix a server can cache.
 * The id and version are in the LLM cache key and in lineage: never change this file's text.
 */
import { QUERY_COMPOSITIONS_SCHEMA, type Prompt } from '../../prompt.ts'
import type { EnvisioningInput } from '../envisioning-prompt.ts'

const SYSTEM = `You imagine the real people who would ask an AI assistant about a document.
You are given examples of real user queries, each with the document it is grounded in, the scene behind it and its query compositions. Then you are given a new document.
Envision a realistic scenario in which a user, reading or holding this document, needs help from a highly capable AI assistant:
1. "thought": think first — the logical steps from the document's content to a concrete, demanding need.
2. "scene": one paragraph on who the user is and why they ask.
3. "query_compositions": "ability" (skills the answer needs — aim for reasoning, analysis, creation, not copying or extraction), "knowledge" (domain knowledge needed), "extra_information" (the concrete details of the document the query must include: numbers, names, code, quotes, copied verbatim), "output" (the kind of answer expected).
Answer with a JSON object {"thought": string, "scene": string, "query_compositions": {"ability", "knowledge", "extra_information", "output"}}.`

export const SITUATION_ENVISIONING_V1: Prompt<EnvisioningInput> = {
  id: 'situation-envisioning',
  version: '1',
  system: SYSTEM,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['thought', 'scene', 'query_compositions'],
    properties: { thought: { type: 'string', minLength: 1 }, scene: { type: 'string', minLength: 1 }, query_compositions: QUERY_COMPOSITIONS_SCHEMA },
  },
  messages: ({ demonstrations, document }) => [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `${demonstrations ? `Examples:\n\n${demonstrations}\n\n` : ''}New document:\n${document}` },
  ],
}
