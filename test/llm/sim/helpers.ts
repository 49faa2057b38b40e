/**
 * Shared pieces of the LLM simulator's tests: a JSON Schema validator (ajv, draft 2020-12),
 * the paper's stage schemas as synthq is likely to write them, the bundled demo documents, and
 * the check that a set of 7-criteria totals looks like the paper's score distribution.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { REPO_ROOT } from '../../../deploy/local/lib/paths.ts'

const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true })
ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/)
ajv.addFormat('date', /^\d{4}-\d\d-\d\d$/)
ajv.addFormat('email', /^[^@\s]+@[^@\s]+\.[^@\s]+$/)
ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:\/\/\S+$/i)
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i)

/** null when `value` is valid against `schema`, else ajv's error text. */
export function schemaErrors (schema: object | boolean, value: unknown): string | null {
  const validate = ajv.compile(schema)
  return validate(value) ? null : ajv.errorsText(validate.errors)
}

export function demoDocs (): string[] {
  return readFileSync(join(REPO_ROOT, 'data/demo/c4-en-validation-sample.jsonl'), 'utf8').trim().split('\n')
    .map((line) => (JSON.parse(line) as { text: string }).text)
}

const str = { type: 'string' }

export const CONCEPTS_SCHEMA = {
  type: 'object',
  properties: { intention: str, keywords: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, maxItems: 5 } },
  required: ['intention', 'keywords'],
  additionalProperties: false,
}

export const SITUATION_SCHEMA = {
  type: 'object',
  properties: {
    scene: { type: 'string', minLength: 40 },
    query_compositions: {
      type: 'object',
      properties: { ability: str, knowledge: str, extra_information: str, output: str },
      required: ['ability', 'knowledge', 'extra_information', 'output'],
      additionalProperties: false,
    },
  },
  required: ['scene', 'query_compositions'],
  additionalProperties: false,
}

export const INSTRUCTION_SCHEMA = {
  type: 'object',
  properties: { thought: str, query: { type: 'string', minLength: 20, maxLength: 2000 } },
  required: ['thought', 'query'],
  additionalProperties: false,
}

export const CRITERIA = ['specificity', 'domain_knowledge', 'complexity', 'problem_solving', 'creativity', 'technical_accuracy', 'real_world_application']

/** Seven criteria, each {analysis, score 0/1}, and their total — via $defs, as generated schemas often are. */
export const SCORING_SCHEMA = {
  type: 'object',
  $defs: {
    criterion: {
      type: 'object',
      properties: { analysis: str, score: { type: 'integer', minimum: 0, maximum: 1 } },
      required: ['analysis', 'score'],
      additionalProperties: false,
    },
  },
  properties: {
    ...Object.fromEntries(CRITERIA.map((c) => [c, { $ref: '#/$defs/criterion' }])),
    total: { type: 'integer', minimum: 0, maximum: 7 },
  },
  required: [...CRITERIA, 'total'],
  additionalProperties: false,
}

/**
 * Why a list of 0–7 totals does not look like the paper's synthetic pool (7: 44.9 %, 6: 38.8 %,
 * 5: 12.9 %; mean ≈ 6.2); empty when it does. Bands are wide enough for 300 samples (the mean's
 * standard error is ≈ 0.05) and narrow enough that constant or uniform scores fail.
 */
export function scoreDistributionProblems (totals: number[]): string[] {
  const n = totals.length
  const mean = totals.reduce((a, b) => a + b, 0) / n
  const share = (k: number): number => totals.filter((t) => t === k).length / n
  const problems: string[] = []
  if (mean < 5.9 || mean > 6.5) problems.push(`mean ${mean.toFixed(2)} outside [5.9, 6.5]`)
  if (share(7) < 0.33 || share(7) > 0.56) problems.push(`share of 7/7 ${share(7).toFixed(2)} outside [0.33, 0.56]`)
  if (share(6) < 0.28 || share(6) > 0.5) problems.push(`share of 6/7 ${share(6).toFixed(2)} outside [0.28, 0.50]`)
  if (share(5) < 0.06 || share(5) > 0.22) problems.push(`share of 5/7 ${share(5).toFixed(2)} outside [0.06, 0.22]`)
  return problems
}
