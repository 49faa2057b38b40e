/**
 * Response cache: a validated answer is stored under a hash of everything that decides it —
 * endpoint, model, messages, sampling parameters, the requested JSON shape and the prompt's id
 * and version — so a replay, a restart or a rerun of the same input pays nothing for work
 * already done, and changing a prompt's version (or any parameter) misses cleanly.
 */
import { createHash } from 'node:crypto'
import type { LlmDatabase } from './store.ts'

export interface CacheKeyParts {
  baseUrl: string
  model: string
  messages: ReadonlyArray<{ role: string, content: string }>
  params: Record<string, unknown>
  prompt: { id: string, version: string }
  schema?: object
}

/** JSON with sorted object keys, so equal inputs hash equally whatever their key order. */
function canonical (v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}

export function cacheKey (parts: CacheKeyParts): string {
  return createHash('sha256').update(canonical(parts)).digest('hex')
}

export interface CachedAnswer {
  content: string
  promptTokens: number
  completionTokens: number
  simulated: boolean
}

export class ResponseCache {
  readonly #get
  readonly #put
  hits = 0
  misses = 0

  constructor (db: LlmDatabase) {
    this.#get = db.prepare<[string], { content: string, prompt_tokens: number, completion_tokens: number, simulated: number }>(
      'SELECT content, prompt_tokens, completion_tokens, simulated FROM llm_cache WHERE key = ?')
    this.#put = db.prepare('INSERT OR REPLACE INTO llm_cache (key, stage, model, content, prompt_tokens, completion_tokens, simulated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  }

  get (key: string): CachedAnswer | undefined {
    const row = this.#get.get(key)
    if (!row) {
      this.misses++
      return undefined
    }
    this.hits++
    return { content: row.content, promptTokens: row.prompt_tokens, completionTokens: row.completion_tokens, simulated: row.simulated === 1 }
  }

  put (key: string, stage: string, model: string, answer: CachedAnswer, now: number = Date.now()): void {
    this.#put.run(key, stage, model, answer.content, answer.promptTokens, answer.completionTokens, answer.simulated ? 1 : 0, now)
  }
}
