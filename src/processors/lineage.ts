/**
 * Lineage: what every derived record carries about its origin (see schemas/common/lineage.avsc).
 */
import type { InputRecord } from './processor.ts'

export interface Lineage {
  stage: string
  run_id: string
  upstream: Array<{ topic: string, id: string, partition: number | null, offset: number | null }>
  prompt: { id: string, version: string } | null
  model: { endpoint: string, name: string } | null
  demonstration_ids: string[]
  sampling_seed: number | null
  simulated: boolean
  source_created_at: number | null
  created_at: number
  /** Every upstream step, oldest first, with its prompt and model. */
  steps: LineageStep[]
  /** Tokens of this stage's LLM call(s) for the record; null without a call (or written before the field existed). */
  usage: LineageUsage | null
}

/** synthq.LlmUsage: snake_case, as the record carries it. */
export interface LineageUsage {
  prompt_tokens: number
  completion_tokens: number
  /** Answered from synthq's response cache: no tokens spent this time; the counts are the original call's. */
  cached: boolean
}

/** What a processor knows of a call's usage: the fields of the LLM client's JsonResult. */
export interface LlmCallUsage { promptTokens: number, completionTokens: number, cached: boolean }

export interface LineageStep {
  stage: string
  record_id: string
  prompt: { id: string, version: string } | null
  model: { endpoint: string, name: string } | null
}

export interface LineageOptions {
  prompt?: { id: string, version: string }
  model?: { endpoint: string, name: string }
  demonstrationIds?: string[]
  samplingSeed?: number
  /** This stage's own output came from a simulator (e.g. the LLM simulator). */
  simulated?: boolean
  /** Usage of the LLM call that produced the record (several calls: {@link sumUsage}). */
  usage?: LlmCallUsage
}

/**
 * The usage of a record made from several calls (the judge's two orders, a seed gate and the
 * extraction): tokens add up; it counts as cached only when no call spent tokens this time.
 */
export function sumUsage (...calls: LlmCallUsage[]): LlmCallUsage {
  return {
    promptTokens: calls.reduce((n, c) => n + c.promptTokens, 0),
    completionTokens: calls.reduce((n, c) => n + c.completionTokens, 0),
    cached: calls.length > 0 && calls.every((c) => c.cached),
  }
}

/** The id of a record: its key, else its `id`/`instruction_id` field, else its position. */
export function recordId (r: InputRecord): string {
  if (r.key) return r.key
  const v = r.value as Record<string, unknown> | null
  for (const f of ['id', 'instruction_id']) if (v && typeof v[f] === 'string') return v[f] as string
  return `${r.topic}-${r.partition}-${r.offset}`
}

function upstreamLineage (r: InputRecord): Partial<Lineage> | undefined {
  const v = r.value as { lineage?: Partial<Lineage> } | null
  return v && typeof v === 'object' ? v.lineage : undefined
}

export function buildLineage (
  stage: string, runId: string, physicalTopic: (r: InputRecord) => string,
  inputs: InputRecord[], opts: LineageOptions, now: number,
): Lineage {
  const upstream = inputs.map(upstreamLineage)
  const times = inputs.map((r, i) => upstream[i]?.source_created_at ?? upstream[i]?.created_at ?? r.timestamp).filter((t): t is number => typeof t === 'number')
  return {
    stage,
    run_id: runId,
    upstream: inputs.map((r) => ({ topic: physicalTopic(r), id: recordId(r), partition: r.partition, offset: Number(r.offset) })),
    prompt: opts.prompt ?? null,
    model: opts.model ?? null,
    demonstration_ids: opts.demonstrationIds ?? [],
    sampling_seed: opts.samplingSeed ?? null,
    // Simulated anywhere upstream means simulated here: the label follows the data.
    simulated: Boolean(opts.simulated) || upstream.some((l) => l?.simulated === true),
    source_created_at: times.length ? Math.min(...times) : null,
    created_at: now,
    steps: stepsOf(inputs, upstream),
    // Only this stage's own calls: upstream stages' tokens are on their own records.
    usage: opts.usage ? { prompt_tokens: opts.usage.promptTokens, completion_tokens: opts.usage.completionTokens, cached: opts.usage.cached } : null,
  }
}

/** The inputs' own histories followed by the steps that wrote the inputs, each once. */
function stepsOf (inputs: InputRecord[], upstream: Array<Partial<Lineage> | undefined>): LineageStep[] {
  const out: LineageStep[] = []
  const seen = new Set<string>()
  const add = (s: LineageStep): void => {
    const k = `${s.stage}\u0000${s.record_id}`
    if (!seen.has(k)) { seen.add(k); out.push(s) }
  }
  inputs.forEach((r, i) => {
    const up = upstream[i]
    if (!up?.stage) return
    for (const s of up.steps ?? []) add({ stage: s.stage, record_id: s.record_id, prompt: s.prompt ? { id: s.prompt.id, version: s.prompt.version } : null, model: s.model ? { endpoint: s.model.endpoint, name: s.model.name } : null })
    add({ stage: up.stage, record_id: recordId(r), prompt: up.prompt ? { id: up.prompt.id, version: up.prompt.version } : null, model: up.model ? { endpoint: up.model.endpoint, name: up.model.name } : null })
  })
  return out
}
