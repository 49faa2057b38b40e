/**
 * Progress while ingesting. On a terminal: one bar on stderr, redrawn at most 10 times a second,
 * with records/s and an ETA from the bytes read against the inputs' total size (standard input
 * has no size: rate only). Not on a terminal (CI, `2> log`): one plain line every 5 s, so logs
 * show the run is alive without a flood. Hand-written: a few lines do what a dependency would.
 */
export interface ProgressStream {
  write: (s: string) => unknown
  isTTY?: boolean
  columns?: number
}

export interface ProgressOptions {
  stream: ProgressStream
  /** Total bytes of the inputs, when every input has a size. */
  totalBytes?: number
  now?: () => number
  quietEveryMs?: number
}

const fmt = new Intl.NumberFormat('en-US')

export function formatDuration (seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const ss = String(s % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`
}

export class Progress {
  readonly #o: Required<Omit<ProgressOptions, 'totalBytes'>> & { totalBytes?: number }
  readonly #started: number
  #lastDraw = 0
  #shown = false
  #records = 0
  #bytes = 0
  #label = ''

  constructor (o: ProgressOptions) {
    this.#o = { now: Date.now, quietEveryMs: 5000, ...o }
    this.#started = this.#o.now()
    this.#lastDraw = this.#started
  }

  get tty (): boolean {
    return Boolean(this.#o.stream.isTTY)
  }

  update (records: number, bytes: number, label: string): void {
    this.#records = records
    this.#bytes = bytes
    this.#label = label
    const now = this.#o.now()
    if (now - this.#lastDraw < (this.tty ? 100 : this.#o.quietEveryMs)) return
    this.#lastDraw = now
    this.#draw(now)
  }

  /** A message line (a reject, a note) that must not be overwritten by the bar. */
  line (text: string): void {
    this.#clear()
    this.#o.stream.write(text + '\n')
    if (this.tty && this.#shown) this.#draw(this.#o.now())
  }

  /** Removes the bar before the summary. */
  done (): void {
    this.#clear()
  }

  #clear (): void {
    if (this.tty && this.#shown) this.#o.stream.write('\r\x1b[2K')
  }

  #draw (now: number): void {
    const secs = Math.max((now - this.#started) / 1000, 1e-3)
    const rate = this.#records / secs
    const total = this.#o.totalBytes
    const share = total ? Math.min(1, this.#bytes / total) : undefined
    const eta = share !== undefined && share > 0 ? secs * (1 - share) / share : undefined
    const stats = `${fmt.format(this.#records)} records  ${fmt.format(Math.round(rate))} rec/s${eta !== undefined ? `  ETA ${formatDuration(eta)}` : ''}`
    if (!this.tty) {
      this.#o.stream.write(`synthq ingest: ${share !== undefined ? `${(100 * share).toFixed(0)} % · ` : ''}${stats} · ${this.#label}\n`)
      return
    }
    const width = 24
    const bar = share !== undefined ? `[${'█'.repeat(Math.round(width * share)).padEnd(width, '░')}] ${(100 * share).toFixed(0).padStart(3)} %  ` : ''
    let text = `${bar}${stats}  ${this.#label}`
    const cols = this.#o.stream.columns ?? 100
    if (text.length > cols - 1) text = text.slice(0, cols - 2) + '…'
    this.#o.stream.write(`\r\x1b[2K${text}`)
    this.#shown = true
  }
}
