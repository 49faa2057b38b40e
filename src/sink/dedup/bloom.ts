/**
 * A Bloom filter: "have I seen this before?" over an unbounded stream in fixed memory. No false
 * negatives; false positives at the rate chosen for the expected number of items (Bloom 1970;
 * sizing m = −n·ln p / (ln 2)², k = (m/n)·ln 2). The sink uses it to drop duplicate ids and
 * duplicate texts across the whole run while its state stays O(K + m): a false positive makes a
 * new instruction count as a duplicate, at about `falsePositiveRate` while fewer than
 * `capacity` items were added (estimatedFalsePositiveRate() says how far past that a run is).
 *
 * Hand-written rather than the `bloom-filters` package because the sink checkpoints its state
 * as bytes: the bit array here is one Uint8Array that snapshots as itself, where that package
 * serialises to JSON objects. Indices come from double hashing (Kirsch & Mitzenmacher 2006) of
 * two seeded 32-bit MurmurHash3 values, so the filter is the same on every machine.
 */
import { ConfigError, RecordInvalidError } from '../../errors.ts'
import { hash32 } from '../reservoir/hash.ts'

export interface BloomOptions {
  /** Items the rate is sized for. */
  capacity: number
  /** False-positive rate at `capacity` items, in (0, 0.5). */
  falsePositiveRate: number
}

export interface BloomSnapshot {
  format: 'synthq.bloom/1'
  capacity: number
  falsePositiveRate: number
  hashes: number
  added: number
  /** The bit array, base64. */
  bits: string
}

export class BloomFilter {
  readonly capacity: number
  readonly falsePositiveRate: number
  readonly bitCount: number
  readonly hashes: number
  #bits: Uint8Array
  #added = 0

  constructor (o: BloomOptions) {
    if (!Number.isSafeInteger(o.capacity) || o.capacity < 1) throw new ConfigError(`bloom filter: capacity must be an integer ≥ 1, got ${String(o.capacity)}`)
    if (!(o.falsePositiveRate > 0 && o.falsePositiveRate < 0.5)) throw new ConfigError(`bloom filter: falsePositiveRate must be in (0, 0.5), got ${String(o.falsePositiveRate)}`)
    this.capacity = o.capacity
    this.falsePositiveRate = o.falsePositiveRate
    const m = Math.ceil(-o.capacity * Math.log(o.falsePositiveRate) / (Math.LN2 * Math.LN2))
    this.bitCount = Math.max(64, Math.ceil(m / 8) * 8)
    this.hashes = Math.max(1, Math.round(this.bitCount / o.capacity * Math.LN2))
    this.#bits = new Uint8Array(this.bitCount / 8)
  }

  /** Items added (each counted once, whether or not it was already present). */
  get added (): number { return this.#added }
  get bytes (): number { return this.#bits.length }

  #indices (item: string, visit: (bit: number) => boolean): boolean {
    const h1 = hash32(0x5bd1e995, item)
    const h2 = hash32(0x1b873593, item) | 1
    for (let i = 0; i < this.hashes; i++) {
      const bit = ((h1 + Math.imul(i, h2)) >>> 0) % this.bitCount
      if (!visit(bit)) return false
    }
    return true
  }

  has (item: string): boolean {
    return this.#indices(item, (b) => (this.#bits[b >>> 3]! & (1 << (b & 7))) !== 0)
  }

  /** Adds `item`; returns whether it was (probably) present already. */
  add (item: string): boolean {
    let present = true
    this.#indices(item, (b) => {
      const mask = 1 << (b & 7)
      if ((this.#bits[b >>> 3]! & mask) === 0) { present = false; this.#bits[b >>> 3]! |= mask }
      return true
    })
    this.#added++
    return present
  }

  /** (1 − e^(−k·n/m))^k for the items added so far. */
  estimatedFalsePositiveRate (): number {
    return (1 - Math.exp(-this.hashes * this.#added / this.bitCount)) ** this.hashes
  }

  snapshot (): BloomSnapshot {
    return { format: 'synthq.bloom/1', capacity: this.capacity, falsePositiveRate: this.falsePositiveRate, hashes: this.hashes, added: this.#added, bits: Buffer.from(this.#bits).toString('base64') }
  }

  static restore (s: BloomSnapshot): BloomFilter {
    if (s?.format !== 'synthq.bloom/1') throw new RecordInvalidError(`not a bloom filter snapshot (format ${String(s?.format)})`, ['format'])
    const f = new BloomFilter({ capacity: s.capacity, falsePositiveRate: s.falsePositiveRate })
    const bits = Buffer.from(s.bits, 'base64')
    if (bits.length !== f.#bits.length || f.hashes !== s.hashes) throw new RecordInvalidError(`bloom filter snapshot has ${bits.length} bytes and ${s.hashes} hashes, expected ${f.#bits.length} and ${f.hashes}`, ['bits'])
    f.#bits = new Uint8Array(bits)
    f.#added = s.added
    return f
  }
}
