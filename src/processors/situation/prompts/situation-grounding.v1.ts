/**
 * situation-grounding, version 1 (live; attribution): a real instruction and the document
 * retrieved for it → the practical scene that links them and the query's compositions. The id
 * and version are in the LLM cache key and in lineage: never change this file's text.
 */
import { QUERY_COMPOSITIONS_SCHEMA, type Prompt } from '../../prompt.ts'
import type { GroundingInput } from '../grounding-prompt.ts'

const EXAMPLE = {
  document: 'How to price handmade goods: add the cost of materials, your hourly wage times the hours spent, and overheads such as listing fees (Etsy charges $0.20 per listing and 6.5% per sale); then compare with similar listings…',
  instruction: 'my etsy shop sells hand made candles but nobody buys, how do i get more customers?',
  answer: {
    scene: 'A hobbyist who started selling hand-poured soy candles on Etsy three months ago has had almost no sales. While reading an article about pricing handmade goods she wonders whether her prices, photos or visibility are the problem, and asks for practical ways to win customers.',
    query_compositions: {
      ability: 'diagnosing a small online business and proposing concrete marketing steps',
      knowledge: 'e-commerce marketplaces, pricing of handmade goods, basic marketing',
      extra_information: 'Etsy listing fee of $0.20 and 6.5% transaction fee; pricing = materials + labour + overheads',
      output: 'a prioritised list of actions with short explanations',
    },
  },
}

const SYSTEM = `You explain real user instructions by the situation they come from.
You are given a document and a user instruction grounded in it. Imagine the practical scene that links them:
- who the user is (their identity, role or background) and what motivates the question, in one short paragraph;
- the query's compositions: "ability" (the skills an answer needs), "knowledge" (the domain knowledge it needs), "extra_information" (concrete details from the document that ground the query: numbers, names, code, quotes; copy them), "output" (the kind of answer expected).
Answer with a JSON object {"scene": string, "query_compositions": {"ability", "knowledge", "extra_information", "output"}}.

Example:
Document: ${EXAMPLE.document}
Instruction: ${EXAMPLE.instruction}
Answer: ${JSON.stringify(EXAMPLE.answer)}`

export const SITUATION_GROUNDING_V1: Prompt<GroundingInput> = {
  id: 'situation-grounding',
  version: '1',
  system: SYSTEM,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['scene', 'query_compositions'],
    properties: { scene: { type: 'string', minLength: 1 }, query_compositions: QUERY_COMPOSITIONS_SCHEMA },
  },
  messages: ({ document, instruction }) => [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `Document:\n${document}\n\nInstruction: ${instruction}` },
  ],
}
