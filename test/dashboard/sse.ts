/** A minimal Server-Sent Events reader for tests: yields { event, data } as they arrive. */
export interface SseEvent { event: string, data: string }

export class SseClient {
  readonly #controller = new AbortController()
  readonly #queue: SseEvent[] = []
  #waiters: Array<() => void> = []
  #buffer = ''
  status = 0
  headers: Headers | null = null
  readonly ready: Promise<void>

  constructor (url: string) {
    this.ready = fetch(url, { signal: this.#controller.signal, headers: { Accept: 'text/event-stream' } }).then((res) => {
      this.status = res.status
      this.headers = res.headers
      void this.#pump(res.body!.getReader())
    })
  }

  async #pump (reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        this.#buffer += decoder.decode(value, { stream: true })
        let cut: number
        while ((cut = this.#buffer.indexOf('\n\n')) !== -1) {
          const block = this.#buffer.slice(0, cut)
          this.#buffer = this.#buffer.slice(cut + 2)
          let event = 'message'
          const data: string[] = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('data: ')) data.push(line.slice(6))
          }
          if (data.length) this.#queue.push({ event, data: data.join('\n') })
          for (const w of this.#waiters.splice(0)) w()
        }
      }
    } catch { /* aborted */ }
  }

  /** The next event (of the given type, skipping others), or a rejection after timeoutMs. */
  async next (event?: string, timeoutMs = 5000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.#queue.findIndex((e) => !event || e.event === event)
      if (i !== -1) return this.#queue.splice(i, 1)[0]!
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no ${event ?? ''} event within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.#waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
  }

  close (): void { this.#controller.abort() }
}
