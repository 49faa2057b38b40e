/**
 * judge, version 1 (live): which of two responses to one instruction is better (pairwise, after
 * the MT-Bench / Arena-Hard pairwise judges), asked in both orders by judge.ts. The id and
 * version are in the LLM cache key and in lineage: never change this file's text — add a
 * version file instead.
 */
import type { Prompt } from '../../prompt.ts'
import type { JudgeInput } from '../judge-prompt.ts'

const SYSTEM = `You are an impartial judge of AI assistant responses.
You are shown a user instruction and two responses to it, Response A and Response B. Decide which response better fulfils the instruction: correct, complete, following every requirement of the instruction, helpful and clear. Do not let the order of the responses, their length or their style decide by themselves.
First write a short reason (at most three sentences) comparing the two, then the verdict: "A", "B", or "tie" when neither is clearly better.
Answer with a JSON object {"judge_reason": string, "better_response": "A" | "B" | "tie"}.`

export const JUDGE_V1: Prompt<JudgeInput> = {
  id: 'judge',
  version: '1',
  system: SYSTEM,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['judge_reason', 'better_response'],
    properties: {
      judge_reason: { type: 'string', minLength: 1, maxLength: 1200 },
      better_response: { type: 'string', enum: ['A', 'B', 'tie'] },
    },
  },
  messages: ({ instruction, first, second }) => [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `Instruction:\n${instruction}\n\n### Response A\n${first}\n\n### Response B\n${second}` },
  ],
}
