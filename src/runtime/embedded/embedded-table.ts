/** A table on the embedded log: the latest value per key of a topic, updated as records append. */
import type { Logger } from '../../log.ts'
import type { AvroSerde } from '../../serde/avro-serde.ts'
import { MemoryTable } from '../tables.ts'
import type { EmbeddedLog } from './embedded-log.ts'

export class EmbeddedTable {
  readonly table = new MemoryTable()
  readonly #log: EmbeddedLog
  readonly #serde: AvroSerde
  readonly #topic: string
  readonly #logger: Logger
  #next = 0
  #reading: Promise<void> | undefined
  #again = false
  #unsubscribe: (() => void) | undefined
  #timer: NodeJS.Timeout | undefined

  constructor (log: EmbeddedLog, serde: AvroSerde, topic: string, logger: Logger) {
    this.#log = log
    this.#serde = serde
    this.#topic = topic
    this.#logger = logger.child({ table: topic })
  }

  async start (pollMs: number): Promise<void> {
    this.#unsubscribe = this.#log.onAppend((t) => { if (t === this.#topic) void this.catchUp() })
    this.#timer = setInterval(() => void this.catchUp(), pollMs)
    await this.catchUp()
  }

  /** Reads everything appended since the last call. */
  catchUp (): Promise<void> {
    if (this.#reading) { this.#again = true; return this.#reading }
    this.#reading = (async () => {
      do {
        this.#again = false
        for (;;) {
          const rows = this.#log.read(this.#topic, this.#next, 1000)
          if (rows.length === 0) break
          for (const r of rows) {
            this.#next = r.offset + 1
            if (r.key === null) continue
            try {
              this.table.apply(r.key, r.value === null ? null : await this.#serde.decode(this.#topic, r.value))
            } catch (err) {
              this.#logger.error({ key: r.key, offset: r.offset, err: (err as Error).message }, 'table record skipped: it cannot be decoded')
            }
          }
        }
      } while (this.#again)
    })().finally(() => { this.#reading = undefined })
    return this.#reading
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#unsubscribe?.()
  }
}
