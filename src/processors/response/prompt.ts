/**
 * The response prompt: a responder model answers an instruction of the sample. By default it
 * sees the instruction alone — the document that grounded the instruction is not shown, as a
 * user asking the question would not show it; the instruction already quotes what it needs.
 * With `showDocument` it also sees what the sample row keeps of that document: its title and
 * URL and the details copied from it (`query_compositions.extra_information`).
 */
import type { Prompt } from '../prompt.ts'

export interface ResponseInput {
  instruction: string
  /** What the responder is shown of the grounding document, when `showDocument` is on. */
  material?: { title: string | null, url: string | null, details: string }
}

const SYSTEM = `You are a helpful, knowledgeable and careful AI assistant.
Answer the user's request completely and accurately. Follow every part of the request, including the format it asks for. Reason step by step where the task needs it, and show the steps the user needs to follow your answer. If the request rests on a false premise or lacks information, say so and answer as well as you can.
Answer with a JSON object {"assistant_response": string} whose string is your whole answer to the user, in Markdown where it helps.`

export const RESPONSE_PROMPT: Prompt<ResponseInput> = {
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

export interface ResponseAnswer { assistant_response: string }
