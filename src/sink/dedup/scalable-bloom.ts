/**
 * A scalable Bloom filter (Almeida, Baquero, Preguiça & Hutchison, "Scalable Bloom Filters",
 * 2007): a series of Bloom filters, each twice the capacity of the one before and with half its
 * false-positive rate, so the whole stays below the configured rate however many items arrive.
 * A fixed-size filter past its capacity drops genuinely new items as duplicates at a growing
 * rate (1.2 M unique instructions through a filter sized for 1 M items lost 0.8 % of them); this
 * one grows instead — memory and checkpoint size grow with the stream, about 3 bytes per item at
 * the default rate.
 *
 * Only new items count towards a slice's capacity: add() of an item already present adds
 * nothing.
 */
import { ConfigError, RecordInvalidError } from '../../errors.ts'
import { BloomFilter, type BloomOptions, type BloomSnapshot } from './bloom.ts'

const GROWTH = 2
const TIGHTENING = 0.5

export interface ScalableBloomSnapshot {
  format: 'synthq.scalable-bloom/1'
  capacity: number
  falsePositiveRate: number
  slices: BloomSnapshot[]
}

export class ScalableBloomFilter {
  readonly capacity: number
  readonly falsePositiveRate: number
  #slices: BloomFilter[]

  /** `capacity`: items of the first slice; `falsePositiveRate`: the bound for the whole filter. */
  constructor (o: BloomOptions) {
    if (!(o.falsePositiveRate > 0 && o.falsePositiveRate < 0.5)) throw new ConfigError(`bloom filter: falsePositiveRate must be in (0, 0.5), got ${String(o.falsePositiveRate)}`)
    this.capacity = o.capacity
    this.falsePositiveRate = o.falsePositiveRate
    // Σ p·(1−r)·r^i = p: the first slice gets p·(1−r), each next one r times its predecessor's.
    this.#slices = [new BloomFilter({ capacity: o.capacity, falsePositiveRate: o.falsePositiveRate * (1 - TIGHTENING) })]
  }

  get slices (): number { return this.#slices.length }
  get bytes (): number { return this.#slices.reduce((n, s) => n + s.bytes, 0) }
  /** New items added. */
  get added (): number { return this.#slices.reduce((n, s) => n + s.added, 0) }

  has (item: string): boolean {
    return this.#slices.some((s) => s.has(item))
  }

  /** Adds `item` unless (probably) present; returns whether it was present. */
  add (item: string): boolean {
    if (this.has(item)) return true
    let last = this.#slices[this.#slices.length - 1]!
    if (last.added >= last.capacity) {
      last = new BloomFilter({ capacity: last.capacity * GROWTH, falsePositiveRate: last.falsePositiveRate * TIGHTENING })
      this.#slices.push(last)
    }
    last.add(item)
    return false
  }

  /** 1 − Π(1 − p_i) over the slices' current estimated rates. */
  estimatedFalsePositiveRate (): number {
    // In logs: tiny rates would round 1 − (1 − p) to 0.
    return -Math.expm1(this.#slices.reduce((q, s) => q + Math.log1p(-s.estimatedFalsePositiveRate()), 0))
  }

  snapshot (): ScalableBloomSnapshot {
    return { format: 'synthq.scalable-bloom/1', capacity: this.capacity, falsePositiveRate: this.falsePositiveRate, slices: this.#slices.map((s) => s.snapshot()) }
  }

  static restore (s: ScalableBloomSnapshot): ScalableBloomFilter {
    if (s?.format !== 'synthq.scalable-bloom/1' || !Array.isArray(s.slices) || s.slices.length === 0) throw new RecordInvalidError(`not a scalable bloom filter snapshot (format ${String(s?.format)})`, ['format'])
    const f = new ScalableBloomFilter({ capacity: s.capacity, falsePositiveRate: s.falsePositiveRate })
    f.#slices = s.slices.map((x) => BloomFilter.restore(x))
    return f
  }
}
