/**
 * response, version 1 (live): a responder model answers an instruction of the sample. By
 * default it sees the instruction alone; with `showDocument` it also sees what the sample row
 * keeps of the grounding document (title, URL, the details copied from it). The id and version
 * are in the LLM cache key and in lineage: never change this file's text — add a version file.
 */
import type { Prompt } from '../../prompt.ts'
import type { ResponseInput } from '../prompt.ts'

const SYSTEM = `You are a helpful, knowledgeable and careful AI assistant.
Answer the user's request completely and accurately. Follow every part of the request, including the format it asks for. Reason step by step where the task needs it, and show the steps the user needs to follow your answer. If the request rests on a false premise or lacks information, say so and answer as well as you can.
Answer with a JSON object {"assistant_response": string} whose string is your whole answer to the user, in Markdown where it helps.`

export const RESPONSE_V1: Prompt<ResponseInput> = {
  id: 'response',
  version: '1',
  system: SYSTEM,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['assistant_response'],
    properties: { assistant_response: { type: 'string', minLength: 1 } },
  },
  messages: ({ instruction, material }) => [
    { role: 'system', content: SYSTEM },
    {
      role: 'user',
      content: material
        ? `${instruction}\n\n(Background the request was written from${material.title ? `: "${material.title}"` : ''}${material.url ? ` <${material.url}>` : ''}. ${material.details})`
        : instruction,
    },
  ],
}
