/**
 * A versioned prompt: fixed instructions, the JSON shape the answer must have, and how an
 * input becomes chat messages. The id and version travel into every output's lineage and into
 * the LLM cache key, so bump `version` whenever the text or the schema changes: old answers
 * then stop being served from the cache, and records say which wording made them.
 */
import type { ChatMessage } from '../llm/client.ts'

export interface PromptRef { id: string, version: string }

export interface Prompt<In> extends PromptRef {
  /** JSON Schema of the answer (also sent as the structured-output schema). */
  readonly schema: object
  /** The fixed part, first in every request so servers' prefix caches can reuse it. */
  readonly system: string
  messages (input: In): ChatMessage[]
}

export function promptRef (p: PromptRef): PromptRef {
  return { id: p.id, version: p.version }
}

/** A JSON object schema whose properties are all required strings. */
export function stringsObject (names: readonly string[]): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: [...names],
    properties: Object.fromEntries(names.map((n) => [n, { type: 'string', minLength: 1 }])),
  }
}

export const QUERY_COMPOSITIONS_SCHEMA = stringsObject(['ability', 'knowledge', 'extra_information', 'output'])

export interface QueryCompositions { ability: string, knowledge: string, extra_information: string, output: string }
