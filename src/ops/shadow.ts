/**
 * The operations behind `synthq shadow` and `synthq shadow promote`, on either transport:
 * where a shadow starts reading, and making a prompt version live from chosen offsets.
 *
 * A promotion is a record of the `promptPromotions` table (src/runtime/promotions.ts). Offsets
 * at or after the live stage's position are simply waited for; offsets before it mean the live
 * stage redoes those records with the new version, so promote moves the stage's consumer group
 * back first (on Kafka the group must be stopped for that; the broker refuses otherwise). The
 * outputs the stage wrote before stay where they are; the LLM cache answers again every request
 * the shadow already made, so a re-run pays only for records the shadow did not see.
 */
import { ConfigError, UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { normalizeVersion, promptVersion } from '../processors/prompts.ts'
import type { PromptPromotion } from '../runtime/promotions.ts'
import type { GroupPositions, Transport } from '../runtime/transport.ts'
import type { ShadowRun } from '../topologies/shadow.ts'
import type { StageSpec, StagePrompt, Topology } from '../topologies/topology.ts'
import { namespacedTopic, parseShadowTopic, shadowPrefix, stageGroup, topicName } from '../topics.ts'

/** Where a new shadow starts: every record of the input, or where the live stage is now. */
export type ShadowStart = 'earliest' | 'live'

/**
 * Positions a new shadow's group on the live input (a shadow that ran before resumes where it
 * was). Returns what it did, in a line for the operator.
 */
export async function positionShadow (t: GroupPositions, run: ShadowRun, prefix: string, from: ShadowStart): Promise<string> {
  const input = topicName(run.stage.input, prefix)
  const group = stageGroup({ prefix, shadow: run.shadow }, run.stage.name)
  const own = await t.committedOffsets(group, input)
  if (own.size > 0) return `resuming where it stopped (${describeOffsets(own)} of ${input})`
  if (from === 'earliest') return `reading ${input} from its beginning`
  const live = await t.committedOffsets(stageGroup({ prefix }, run.stage.name), input)
  if (live.size === 0) return `reading ${input} from its beginning (the live stage has committed nothing yet)`
  await t.seekGroup(group, input, live)
  return `reading ${input} from where the live stage is (${describeOffsets(live)}): the records both will see from now on`
}

export function describeOffsets (offsets: ReadonlyMap<number, number>): string {
  return [...offsets].sort(([a], [b]) => a - b).map(([p, o]) => `${p}:${o}`).join(',') || 'none'
}

export interface ShadowListing {
  /** Each shadow run found: its stage, version and topics with their record counts. */
  shadows: Array<{ stage: string, version: string, prefix: string, topics: Array<{ topic: string, records: number }> }>
  /** The promotions in effect, by stage. */
  promotions: PromptPromotion[]
}

/** The shadow runs whose topics exist under the prefix, and the promotions in effect. */
export async function listShadows (t: Transport, prefix: string): Promise<ShadowListing> {
  const byRun = new Map<string, ShadowListing['shadows'][number]>()
  for (const s of await t.topicSizes(prefix)) {
    const parsed = parseShadowTopic(s.topic, prefix)
    if (!parsed) continue
    const key = `${parsed.stage}\u0000${parsed.version}`
    if (!byRun.has(key)) byRun.set(key, { stage: parsed.stage, version: parsed.version, prefix: shadowPrefix(prefix, parsed.stage, parsed.version), topics: [] })
    byRun.get(key)!.topics.push(s)
  }
  const topic = topicName('promptPromotions', prefix)
  const latest = new Map<string, PromptPromotion | null>()
  for (const r of await t.readToEnd(topic)) {
    if (r.key === null) continue
    latest.set(r.key, r.value ? await t.serde.decode<PromptPromotion>(topic, r.value) : null)
  }
  return { shadows: [...byRun.values()], promotions: [...latest.values()].filter((p): p is PromptPromotion => p !== null) }
}

/** `--from` of promote: the input's end now, where the shadow started, or offsets given per partition. */
export type PromoteFrom = { kind: 'end' } | { kind: 'shadow' } | { kind: 'offsets', offsets: Map<number, number> }

/** Parses --from of `synthq shadow promote`: end, shadow, or <partition>:<offset>[,…]. */
export function parsePromoteFrom (raw: string | undefined): PromoteFrom {
  if (raw === undefined || raw === 'end') return { kind: 'end' }
  if (raw === 'shadow') return { kind: 'shadow' }
  const offsets = new Map<number, number>()
  for (const part of raw.split(',')) {
    const m = /^(\d+):(\d+)$/.exec(part.trim())
    if (!m) throw new UsageError(`--from takes end, shadow, or <partition>:<offset>[,…] (e.g. 0:120,1:98), got "${raw}"`)
    offsets.set(Number(m[1]), Number(m[2]))
  }
  return { kind: 'offsets', offsets }
}

export interface PromotionResult {
  promotion: PromptPromotion
  /** The live stage's committed offsets before the promotion. */
  committed: Map<number, number>
  /** Partitions whose live group was moved back (to redo records with the new version). */
  rewound: Map<number, number>
  /** Records the live stage will redo with the new version. */
  redo: number
}

/** The stage that sends a prompt, or a ConfigError naming the ones that do. */
export function promptStage (t: Topology, stage: string): StageSpec & { prompt: StagePrompt } {
  const spec = t.stages.find((s) => s.name === stage)
  const withPrompts = t.stages.filter((s) => s.prompt).map((s) => s.name).join(', ')
  if (!spec) throw new ConfigError(`topology ${t.name} has no stage "${stage}" (stages that send a prompt: ${withPrompts})`)
  if (!spec.prompt) throw new ConfigError(`stage ${stage} sends no prompt (stages that do: ${withPrompts})`)
  return spec as StageSpec & { prompt: StagePrompt }
}

/**
 * Where the shadow of `stage` at `version` started, per partition: the lowest input offset its
 * outputs and dead letters were made from.
 */
export async function shadowStart (t: Transport, spec: StageSpec, prefix: string, version: string): Promise<Map<number, number>> {
  const ns = { prefix, shadow: { prefix: shadowPrefix(prefix, spec.name, version), topics: [...spec.outputs, 'deadLetters' as const] } }
  const start = new Map<number, number>()
  const note = (p: number | null | undefined, o: number | null | undefined): void => {
    if (p === null || p === undefined || o === null || o === undefined) return
    start.set(p, Math.min(start.get(p) ?? Number.POSITIVE_INFINITY, Number(o)))
  }
  const input = topicName(spec.input, prefix)
  for (const out of spec.outputs) {
    const topic = namespacedTopic(ns, out)
    t.serde.bindTopic(topic, out)
    for (const r of await t.readToEnd(topic)) {
      if (!r.value) continue
      const v = await t.serde.decode<{ lineage?: { upstream?: Array<{ topic: string, partition: number | null, offset: number | null }> } }>(topic, r.value)
      for (const u of v.lineage?.upstream ?? []) if (u.topic === input) note(u.partition, u.offset)
    }
  }
  const dlq = namespacedTopic(ns, 'deadLetters')
  t.serde.bindTopic(dlq, 'deadLetters')
  for (const r of await t.readToEnd(dlq)) {
    const v = await t.serde.decode<{ stage: string, source_topic: string, source_partition: number | null, source_offset: number | null }>(dlq, r.value)
    if (v.stage === spec.name && v.source_topic === input) note(v.source_partition, v.source_offset)
  }
  return start
}

/**
 * Records of `topic` from `from` up to `to` (exclusive), per partition: counted by reading, since
 * on Kafka offsets also number transaction markers.
 */
async function recordsBetween (t: Transport, topic: string, from: ReadonlyMap<number, number>, to: ReadonlyMap<number, number>): Promise<number> {
  let n = 0
  await t.read({ topic, start: { kind: 'offset', partitions: new Map(from) }, follow: false }, (r) => {
    if (r.offset < (to.get(r.partition) ?? 0)) n++
  })
  return n
}

/**
 * Makes `version` of the stage's prompt live from `from`. Moves the live group back first when
 * `from` is before its position (the group must be stopped on Kafka), then writes the promotion.
 */
export async function promote (t: Transport, o: { topology: Topology, stage: string, version: string, prefix: string, from: PromoteFrom, logger: Logger, now?: number }): Promise<PromotionResult> {
  const spec = promptStage(o.topology, o.stage)
  const version = normalizeVersion(o.version)
  promptVersion(spec.prompt.id, version)
  const input = topicName(spec.input, o.prefix)
  const group = stageGroup({ prefix: o.prefix }, spec.name)
  const [committed, ends] = await Promise.all([t.committedOffsets(group, input), t.endOffsets(input)])
  let from: Map<number, number>
  if (o.from.kind === 'end') from = ends
  else if (o.from.kind === 'offsets') from = o.from.offsets
  else {
    from = await shadowStart(t, spec, o.prefix, version)
    if (from.size === 0) throw new ConfigError(`the shadow of ${spec.name} at version ${version} (${shadowPrefix(o.prefix, spec.name, version)}) has written nothing: run synthq shadow ${spec.name} --prompt-version ${version} first, or promote --from end`)
  }
  for (const [p, off] of from) {
    const end = ends.get(p)
    if (end === undefined) throw new ConfigError(`--from: ${input} has no partition ${p} (partitions: ${[...ends.keys()].join(', ') || 'none'})`)
    if (off > end) throw new ConfigError(`--from ${p}:${off}: partition ${p} of ${input} ends at ${end}; a promotion starts at a written offset or at the end`)
  }
  const rewound = new Map<number, number>()
  for (const [p, off] of from) {
    if (off < (committed.get(p) ?? 0)) rewound.set(p, off)
  }
  const redo = rewound.size > 0 ? await recordsBetween(t, input, rewound, committed) : 0
  if (rewound.size > 0) await t.seekGroup(group, input, new Map([...committed, ...rewound]))
  const topic = topicName('promptPromotions', o.prefix)
  const promotion: PromptPromotion = {
    stage: spec.name,
    prompt_id: spec.prompt.id,
    version,
    previous_version: spec.prompt.version,
    input_topic: input,
    offsets: [...from].sort(([a], [b]) => a - b).map(([partition, offset]) => ({ partition, offset })),
    shadow_prefix: o.from.kind === 'shadow' ? shadowPrefix(o.prefix, spec.name, version) : null,
    promoted_at: o.now ?? Date.now(),
  }
  try {
    await t.write([{ topic, key: spec.name, value: await t.serde.encode(topic, promotion) }])
  } catch (err) {
    // The group was moved back for a promotion that was not written: put it where it was.
    if (rewound.size > 0) await t.seekGroup(group, input, committed).catch((e: unknown) => o.logger.error({ err: e, group }, 'could not move the group back to where it was'))
    throw err
  }
  return { promotion, committed, rewound, redo }
}
