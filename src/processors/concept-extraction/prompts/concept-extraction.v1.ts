/**
 * concept-extraction, version 1 (live): a real user instruction → the user's intention in one
 * sentence and at most five keywords (domain, topic, task) that a search engine can use to find
 * the material behind it. Worked examples show the style: summarised concepts, titles kept
 * whole, typos fixed. The id and version are in the LLM cache key and in lineage: never change
 * this file's text — add a version file instead (docs/pipeline.md#prompts).
 */
import type { Prompt } from '../../prompt.ts'
import type { ConceptInput, Concepts } from '../prompt.ts'

const EXAMPLES: Array<{ instruction: string, answer: Concepts }> = [
  {
    instruction: 'Should cities ban cars from their centres? Give me arguments for both sides for a debate club.',
    answer: { intention: 'The user wants balanced arguments on banning cars from city centres to prepare for a debate.', keywords: ['car-free city centres', 'urban transport policy', 'debate arguments'] },
  },
  {
    instruction: 'summarise the findings of "Intermittent fasting and metabolic health" from pubmed in 5 bullet points',
    answer: { intention: 'The user wants a short summary of a specific medical research article.', keywords: ['Intermittent fasting and metabolic health', 'PubMed', 'research summary'] },
  },
  {
    instruction: 'my etsy shop sells hand made candels but nobody buys, how do i get more customers?',
    answer: { intention: 'The user wants ways to attract customers to a small handmade candle shop on Etsy.', keywords: ['Etsy shop marketing', 'handmade candles', 'small business sales'] },
  },
  {
    instruction: 'Write a cover letter for this job: Junior Data Analyst at a logistics company, SQL and Tableau required.',
    answer: { intention: 'The user wants a cover letter tailored to a junior data analyst job posting.', keywords: ['cover letter', 'junior data analyst', 'SQL', 'Tableau', 'logistics'] },
  },
  {
    instruction: 'Give me a vegan lasagna recipe without tofu that my kids will eat',
    answer: { intention: 'The user wants a family-friendly vegan lasagna recipe that avoids tofu.', keywords: ['vegan lasagna', 'tofu-free recipe', 'cooking for children'] },
  },
]

const SYSTEM = `You analyse what real users ask AI assistants.
For the user instruction you are given:
1. State the user's intention in one sentence: what they want to achieve.
2. Extract at most 5 keywords that describe its domain, topic and task, as someone would type them into a search engine to find the material the instruction is about.
Rules for keywords:
- They may summarise concepts that are not literally in the text.
- Keep titles of books, articles, songs, films and products whole, exactly as titled.
- Correct obvious spelling mistakes.
- Prefer specific terms over generic ones ("Etsy shop marketing", not "business").
Answer with a JSON object {"intention": string, "keywords": [string]}.

Examples:
${EXAMPLES.map((e) => `Instruction: ${e.instruction}\nAnswer: ${JSON.stringify(e.answer)}`).join('\n\n')}`

export const CONCEPT_EXTRACTION_V1: Prompt<ConceptInput> = {
  id: 'concept-extraction',
  version: '1',
  system: SYSTEM,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['intention', 'keywords'],
    properties: {
      intention: { type: 'string', minLength: 1 },
      keywords: { type: 'array', minItems: 1, maxItems: 5, items: { type: 'string', minLength: 1 } },
    },
  },
  messages: ({ instruction }) => [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `Instruction: ${instruction}` },
  ],
}
