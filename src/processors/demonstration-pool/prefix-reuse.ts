/**
 * How much of each prompt repeats the previous request's prefix — what a server with prefix
 * caching (vLLM automatic prefix caching, SGLang RadixAttention) can serve without prefill.
 * Measured on characters of the serialised messages, as a share: an estimate of the token
 * share (tokens and characters are close to proportional within one prompt).
 */
import type { ChatMessage } from '../../llm/client.ts'

export class PrefixReuse {
  #previous = ''
  #shared = 0
  #total = 0

  observe (messages: readonly ChatMessage[]): void {
    const text = messages.map((m) => `${m.role}\n${m.content}`).join('\n')
    const prev = this.#previous
    const n = Math.min(prev.length, text.length)
    let i = 0
    while (i < n && prev.charCodeAt(i) === text.charCodeAt(i)) i++
    this.#shared += i
    this.#total += text.length
    this.#previous = text
  }

  /** Share (0–1) of prompt text that repeated the previous prompt's prefix. */
  get share (): number {
    return this.#total === 0 ? 0 : this.#shared / this.#total
  }
}
