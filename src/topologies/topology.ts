/**
 * A topology declares stages — input topic → processor → output topics — and the tables
 * (compacted topics read fully into memory) its stages look things up in. It knows nothing of
 * the transport: the Kafka runner and the embedded runner both run it unchanged.
 *
 *   const t = new TopologyBuilder('synthesis')
 *     .table('demonstrations')
 *     .stage({ name: 'situation-envisioning', input: 'cleanDocuments', outputs: ['situations'],
 *              tables: ['demonstrations'], llm: true, processor: () => situationEnvisioning(options) })
 *     .build()
 *   console.log(describe(t))
 */
import { ConfigError } from '../errors.ts'
import type { Processor } from '../processors/processor.ts'
import type { PromptStage } from '../processors/prompts.ts'
import type { StatefulProcessor } from '../processors/stateful.ts'
import { TOPICS, topicSpec, type TopicName } from '../topics.ts'

export interface StageSpec {
  /** Unique in the topology; also names the stage's consumer group (`<prefix>.<stage>`). */
  name: string
  input: TopicName
  outputs: TopicName[]
  /**
   * A fresh processor for each runner instance. A stage that sends a prompt (`prompt`) builds
   * it for another version when asked: what a shadow run and a promotion need.
   */
  processor: (o?: ProcessorVariant) => Processor
  /** The prompt this stage sends and the version it runs (what `synthq shadow` and promotions change). */
  prompt?: StagePrompt
  /** Tables the processor may read through `ctx.table(name)`. */
  tables?: TopicName[]
  /** Records in flight at once (default from the runner's config). */
  concurrency?: number
  /** The processor calls an LLM through `ctx.llm()`; the stage gets LLM settings under its name. */
  llm?: boolean
}

/** Another variant of a stage's processor: the same settings with another prompt version. */
export interface ProcessorVariant {
  promptVersion?: string
}

export interface StagePrompt {
  /** The prompt's id in the registry (src/processors/prompts.ts). */
  id: PromptStage
  /** The version the stage runs unless a shadow run or a promotion says otherwise. */
  version: string
}

/**
 * A stage whose processor keeps state across records (the sink): one consumer reads its input
 * in order, in batches, and checkpoints the processor's state with the outputs and the input
 * offsets in one transaction (see processors/stateful.ts). Its state is written to `state`.
 */
export interface StatefulStageSpec {
  name: string
  input: TopicName
  outputs: TopicName[]
  /** The compacted topic checkpoints go to. */
  state: TopicName
  processor: () => StatefulProcessor
  /** 'embeddings': the stage calls /v1/embeddings (its default model is an embedding model). */
  llm?: boolean | 'embeddings'
  /** Records per batch (default 256: one embeddings request). */
  batchSize?: number
  /** Checkpoint at least this often (default 5 s) … */
  checkpointIntervalMs?: number
  /** … and after at most this many records (default 20,000). */
  checkpointRecords?: number
  /** Punctuate (time-driven work) this often while input is idle (default 1 s). */
  punctuateMs?: number
}

export interface Topology {
  readonly name: string
  readonly stages: readonly StageSpec[]
  readonly statefulStages: readonly StatefulStageSpec[]
  readonly tables: readonly TopicName[]
}

const STAGE_NAME = /^[a-z][a-z0-9-]*$/

export class TopologyBuilder {
  readonly #name: string
  readonly #stages: StageSpec[] = []
  readonly #stateful: StatefulStageSpec[] = []
  readonly #tables: TopicName[] = []

  constructor (name: string) {
    if (!STAGE_NAME.test(name)) throw new ConfigError(`Topology name "${name}" must be lowercase letters, digits and dashes`)
    this.#name = name
  }

  table (name: TopicName): this {
    if (!TOPICS.some((t) => t.name === name)) throw new ConfigError(`Unknown topic "${name}" for a table`)
    if (topicSpec(name).cleanupPolicy !== 'compact') throw new ConfigError(`Table "${name}" must be a compacted topic (its cleanup policy is ${topicSpec(name).cleanupPolicy})`)
    if (!this.#tables.includes(name)) this.#tables.push(name)
    return this
  }

  stage (spec: StageSpec): this {
    if (!STAGE_NAME.test(spec.name)) throw new ConfigError(`Stage name "${spec.name}" must be lowercase letters, digits and dashes`)
    if ([...this.#stages, ...this.#stateful].some((s) => s.name === spec.name)) throw new ConfigError(`Stage "${spec.name}" is declared twice in topology ${this.#name}`)
    for (const t of [spec.input, ...spec.outputs]) if (!TOPICS.some((x) => x.name === t)) throw new ConfigError(`Stage "${spec.name}": unknown topic "${t}"`)
    if (spec.outputs.includes(spec.input)) throw new ConfigError(`Stage "${spec.name}" writes its own input topic ${spec.input}: that would loop`)
    if (spec.outputs.includes('deadLetters')) throw new ConfigError(`Stage "${spec.name}": dead letters are written by the runtime; do not list deadLetters as an output`)
    for (const t of spec.tables ?? []) if (!this.#tables.includes(t)) throw new ConfigError(`Stage "${spec.name}" reads table "${t}", which the topology does not declare: call .table('${t}') first`)
    if (spec.concurrency !== undefined && (!Number.isInteger(spec.concurrency) || spec.concurrency < 1)) throw new ConfigError(`Stage "${spec.name}": concurrency must be a positive integer`)
    this.#stages.push(spec)
    return this
  }

  /** A stateful stage (see StatefulStageSpec). */
  statefulStage (spec: StatefulStageSpec): this {
    if (!STAGE_NAME.test(spec.name)) throw new ConfigError(`Stage name "${spec.name}" must be lowercase letters, digits and dashes`)
    if ([...this.#stages, ...this.#stateful].some((s) => s.name === spec.name)) throw new ConfigError(`Stage "${spec.name}" is declared twice in topology ${this.#name}`)
    for (const t of [spec.input, spec.state, ...spec.outputs]) if (!TOPICS.some((x) => x.name === t)) throw new ConfigError(`Stage "${spec.name}": unknown topic "${t}"`)
    if (spec.outputs.includes(spec.input)) throw new ConfigError(`Stage "${spec.name}" writes its own input topic ${spec.input}: that would loop`)
    if (topicSpec(spec.state).cleanupPolicy !== 'compact') throw new ConfigError(`Stage "${spec.name}": its state topic ${spec.state} must be compacted`)
    if (spec.outputs.includes(spec.state)) throw new ConfigError(`Stage "${spec.name}": the state topic is written by the runtime; do not list it as an output`)
    for (const [k, v] of [['batchSize', spec.batchSize], ['checkpointIntervalMs', spec.checkpointIntervalMs], ['checkpointRecords', spec.checkpointRecords], ['punctuateMs', spec.punctuateMs]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new ConfigError(`Stage "${spec.name}": ${k} must be a positive integer`)
    }
    this.#stateful.push(spec)
    return this
  }

  build (): Topology {
    if (this.#stages.length + this.#stateful.length === 0) throw new ConfigError(`Topology ${this.#name} has no stages`)
    return { name: this.#name, stages: [...this.#stages], statefulStages: [...this.#stateful], tables: [...this.#tables] }
  }
}

/** The stages that call an LLM (those the LLM settings configure). */
export function llmStages (t: Topology, only?: readonly string[]): string[] {
  return [...t.stages, ...t.statefulStages].filter((s) => s.llm && (!only || only.includes(s.name))).map((s) => s.name)
}

/** The LLM stages that call /v1/embeddings rather than chat completions. */
export function embeddingStages (t: Topology): string[] {
  return t.statefulStages.filter((s) => s.llm === 'embeddings').map((s) => s.name)
}

/** Every stage name, record and stateful. */
export function stageNames (t: Topology): string[] {
  return [...t.stages, ...t.statefulStages].map((s) => s.name)
}

/** Every topic the topology reads or writes, dead letters included. */
export function topologyTopics (t: Topology): TopicName[] {
  const set = new Set<TopicName>(['deadLetters', ...t.tables])
  for (const s of t.stages) { set.add(s.input); for (const o of s.outputs) set.add(o) }
  for (const s of t.statefulStages) { set.add(s.input); set.add(s.state); for (const o of s.outputs) set.add(o) }
  return [...set]
}

/** A printable description, in the spirit of Kafka Streams' TopologyDescription. */
export function describe (t: Topology): string {
  const lines = [`topology ${t.name}`]
  if (t.tables.length) lines.push(`  tables: ${t.tables.join(', ')}`)
  for (const s of t.stages) {
    lines.push(`  stage ${s.name}: ${s.input} -> [${s.outputs.join(', ')}]${s.tables?.length ? ` reads ${s.tables.join(', ')}` : ''}${s.concurrency ? ` (concurrency ${s.concurrency})` : ''}`)
  }
  for (const s of t.statefulStages) {
    lines.push(`  stateful stage ${s.name}: ${s.input} -> [${s.outputs.join(', ')}] checkpoints to ${s.state}`)
  }
  lines.push('  dead letters -> deadLetters')
  return lines.join('\n')
}
