/**
 * Embeddings kept per text in the client's SQLite database (table `llm_embeddings`, made by
 * store.ts), so a text embedded once — by this run or an earlier one — costs no request again.
 * The key covers the endpoint, the model and the dimensions asked for, as well as the text.
 */
import { createHash } from 'node:crypto'
import type { Statement } from 'better-sqlite3'
import type { LlmDatabase } from './store.ts'

export interface CachedEmbedding { vector: Float32Array, simulated: boolean }

export class EmbeddingCache {
  readonly #get: Statement<[string], { vector: Buffer, simulated: number }>
  readonly #put: Statement<[string, string, Buffer, number]>

  constructor (db: LlmDatabase) {
    this.#get = db.prepare<[string], { vector: Buffer, simulated: number }>('SELECT vector, simulated FROM llm_embeddings WHERE key = ?')
    this.#put = db.prepare<[string, string, Buffer, number]>('INSERT OR REPLACE INTO llm_embeddings (key, model, vector, simulated) VALUES (?, ?, ?, ?)')
  }

  /** The cache key of `text` embedded by `model` at `baseUrl`, shortened to `dimensions` if set. */
  static key (baseUrl: string, model: string, dimensions: number | undefined, text: string): string {
    return createHash('sha256').update(JSON.stringify([baseUrl, model, dimensions ?? null, text])).digest('hex')
  }

  get (key: string): CachedEmbedding | undefined {
    const row = this.#get.get(key)
    if (!row) return undefined
    // A copy: the row's buffer belongs to SQLite's result and may be reused.
    return { vector: new Float32Array(row.vector.buffer.slice(row.vector.byteOffset, row.vector.byteOffset + row.vector.byteLength)), simulated: row.simulated === 1 }
  }

  put (key: string, model: string, vector: Float32Array, simulated: boolean): void {
    this.#put.run(key, model, Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength), simulated ? 1 : 0)
  }
}
