/**
 * Records a stage keeps in flight. The topology's figure for the stage wins, then the operator's
 * (`--concurrency`), else 64 — except for a stage that calls an LLM: it gets as many as its
 * endpoint's concurrency ceiling (`maxConcurrency`, 256 by default). The endpoint's adaptive limit,
 * shared by every stage that calls it, decides what is sent; a stage limit below it would cap
 * the pipeline under the server's knee (three LLM stages at 64 keep at most 192 requests in
 * flight against a server that serves 256 at once), and callers queued at the endpoint cost a
 * promise each.
 */
import type { LlmClient } from '../llm/client.ts'

export const DEFAULT_STAGE_CONCURRENCY = 64

export function stageConcurrency (spec: { name: string, concurrency?: number, llm?: boolean | 'embeddings' }, o: { concurrency?: number, llm?: LlmClient }): number {
  if (spec.concurrency !== undefined) return spec.concurrency
  if (o.concurrency !== undefined) return o.concurrency
  if (spec.llm === true && o.llm && o.llm.settings.stageNames.includes(spec.name)) {
    return Math.max(DEFAULT_STAGE_CONCURRENCY, o.llm.settings.stage(spec.name).endpoint.maxConcurrency)
  }
  return DEFAULT_STAGE_CONCURRENCY
}
