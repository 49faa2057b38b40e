/**
 * scoring, version 2 (live): an instruction judged on seven binary criteria (after Arena-Hard's
 * prompt-selection rubric), each with a short analysis first. (Version 1, before the bounded
 * analyses and the 0/1 enum, is no longer shipped.) The id and version are in the LLM cache key
 * and in lineage: never change this file's text — add a version file instead.
 */
import type { Prompt } from '../../prompt.ts'
import { CRITERIA, type Criterion, type ScoringInput } from '../criteria.ts'

const DEFINITIONS: Record<Criterion, string> = {
  specificity: 'asks for a specific, well-defined output rather than something vague',
  domain_knowledge: 'needs knowledge of one or more specific domains',
  complexity: 'has several levels of reasoning, components or variables',
  problem_solving: 'makes the assistant solve a problem actively, not just recall facts',
  creativity: 'calls for a novel or creative approach',
  technical_accuracy: 'demands a technically precise and correct answer',
  real_world_application: 'relates to a real-world application or practical need',
}

const SYSTEM = `You judge how demanding a user query is for an AI assistant.
Judge the query on each criterion independently. For each, first write a one- or two-sentence analysis, then a score: 1 if the query meets the criterion, 0 if not.
Criteria:
${CRITERIA.map((c) => `- ${c}: the query ${DEFINITIONS[c]}.`).join('\n')}
Answer with a JSON object with one key per criterion, each {"analysis": string, "score": 0 or 1}.`

// `enum: [0, 1]`, not minimum/maximum: servers that turn the schema into a decoding grammar
// enforce enums, while some ignore numeric ranges (llama-cpp-python 0.3's converter does, and
// SmolLM2 then scored 2, 3, 4). `maxLength` bounds the answer: seven analyses of at most 240
// characters cannot run past max_tokens under constrained decoding.
const criterionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['analysis', 'score'],
  properties: { analysis: { type: 'string', minLength: 1, maxLength: 240 }, score: { type: 'integer', enum: [0, 1] } },
}

export const SCORING_V2: Prompt<ScoringInput> = {
  id: 'scoring',
  version: '2',
  system: SYSTEM,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: [...CRITERIA],
    properties: Object.fromEntries(CRITERIA.map((c) => [c, criterionSchema])),
  },
  messages: ({ query }) => [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `Query:\n${query}` },
  ],
}
