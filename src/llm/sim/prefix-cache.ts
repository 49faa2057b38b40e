/**
 * Automatic prefix caching, as vLLM (automatic prefix caching) and SGLang (RadixAttention) do
 * it: the prompt is cut into fixed blocks, each block is keyed by the hash of everything up to
 * and including it, and a request pays prefill only for the blocks after the longest cached
 * prefix. synthq's prompts share long prefixes (instructions and demonstrations before the
 * document), so this is where much of a real server's prefill time goes — or does not.
 *
 * Blocks are 256 characters (≈ 64 tokens at the simulator's 4 characters per token); only
 * whole blocks are cached, and the least recently used block is evicted first.
 */
import { createHash } from 'node:crypto'

export const BLOCK_CHARS = 256

export class PrefixCache {
  private readonly blocks = new Map<string, true>()

  constructor (private capacity: number) {}

  /** Characters of `prompt` already cached (a multiple of BLOCK_CHARS); caches its blocks for next time. */
  lookupAndInsert (prompt: string): number {
    if (this.capacity <= 0) return 0
    let cached = 0
    let prefixHit = true
    let chain = createHash('sha256')
    for (let at = 0; at + BLOCK_CHARS <= prompt.length; at += BLOCK_CHARS) {
      chain = chain.copy().update(prompt.slice(at, at + BLOCK_CHARS))
      const key = chain.copy().digest('base64url')
      if (prefixHit && this.blocks.has(key)) cached += BLOCK_CHARS
      else prefixHit = false
      this.blocks.delete(key)
      this.blocks.set(key, true)
      while (this.blocks.size > this.capacity) this.blocks.delete(this.blocks.keys().next().value!)
    }
    return cached
  }

  setCapacity (capacity: number): void {
    this.capacity = capacity
    while (this.blocks.size > Math.max(0, capacity)) this.blocks.delete(this.blocks.keys().next().value!)
  }
}
