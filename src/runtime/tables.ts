/**
 * In-memory tables (GlobalKTable-like): the latest value per key of a compacted topic, shared by
 * every stage of a runner that declares it. A null value (tombstone) deletes the key.
 */
import type { TableView } from '../processors/processor.ts'

export class MemoryTable<V = unknown> implements TableView<V> {
  readonly #rows = new Map<string, V>()
  #version = 0

  get size (): number { return this.#rows.size }
  /** Increases on every change: lets tests and processors see that the table moved. */
  get version (): number { return this.#version }

  get (key: string): V | undefined { return this.#rows.get(key) }
  keys (): IterableIterator<string> { return this.#rows.keys() }
  values (): IterableIterator<V> { return this.#rows.values() }

  apply (key: string, value: V | null): void {
    if (value === null) this.#rows.delete(key)
    else this.#rows.set(key, value)
    this.#version++
  }
}
