/**
 * instruction-generation, version 1 (live): document + envisioned situation (+ the same
 * demonstrations) → one self-contained, challenging user query. The requirements follow the
 * method: maximise the ability needed, practical and complex, answerable without extra
 * resources, excerpts copied in when needed, no web search. The id and version are in the LLM
 * cache key and in lineage: never change this file's text — add a version file instead.
 */
import type { Prompt } from '../../prompt.ts'
import type { InstructionInput } from '../prompt.ts'

const SYSTEM = `You write the query a real user would send to a highly capable AI assistant.
You are given examples of real queries with their documents, scenes and query compositions, then a new document with an envisioned scene and query compositions. Write the user's query for the new scene. The query must:
- demand as much ability as possible: reasoning, analysis, planning or creation — never a plain copy or extraction task;
- be practical, specific and complex enough to challenge the most capable assistant;
- be self-contained: include every excerpt of the document it relies on (numbers, code, quotes), copied verbatim, so it can be answered without the document;
- be answerable without web search or other resources;
- read like a real user wrote it, in the user's voice.
Answer with a JSON object {"query": string}.`

export const INSTRUCTION_GENERATION_V1: Prompt<InstructionInput> = {
  id: 'instruction-generation',
  version: '1',
  system: SYSTEM,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['query'],
    properties: { query: { type: 'string', minLength: 20 } },
  },
  messages: ({ demonstrations, document, scene, compositions }) => [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `${demonstrations ? `Examples:\n\n${demonstrations}\n\n` : ''}New document:\n${document}\n\nScene: ${scene}\nQuery compositions: ${compositions}` },
  ],
}
