/**
 * `synthq shadow <stage> --prompt-version <v>` runs a second prompt version of a stage beside the
 * live one, on the same input records, into shadow topics (src/topologies/shadow.ts);
 * `synthq compare <stage>` puts the two side by side (src/ops/compare/);
 * `synthq shadow promote <stage> --prompt-version <v>` makes the version live from chosen
 * offsets (src/ops/shadow.ts). On the embedded runner (default) or Kafka (--runner kafka).
 */
import { UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { readLlmConfigFile } from '../llm/config.ts'
import { compareSides, formatCompareReport } from '../ops/compare/compare-report.ts'
import { readSides } from '../ops/compare/read-sides.ts'
import { describeOffsets, listShadows, parsePromoteFrom, promote, promptStage, type ShadowStart } from '../ops/shadow.ts'
import { openTransport } from '../runtime/open-transport.ts'
import type { RunnerKind } from '../runtime/transport.ts'
import type { PipelineOptions } from '../topologies/options.ts'
import { TOPOLOGIES } from '../topologies/registry.ts'
import type { Topology } from '../topologies/topology.ts'
import { defaultSearchIndex } from './run.ts'

/** The topology that has `stage` (stage names are unique across synthq's topologies). */
export function topologyWithStage (stage: string | undefined, pipeline: PipelineOptions, command: string): Topology {
  const all = Object.values(TOPOLOGIES).map((make) => make({ options: pipeline, searchIndex: defaultSearchIndex() }))
  const withPrompts = all.flatMap((t) => t.stages.filter((s) => s.prompt).map((s) => s.name))
  if (!stage) throw new UsageError(`${command} needs a stage, e.g. ${command} instruction-generation (stages that send a prompt: ${withPrompts.join(', ')})`)
  const t = all.find((x) => x.stages.some((s) => s.name === stage))
  if (!t) throw new UsageError(`${command}: no stage "${stage}" (stages that send a prompt: ${withPrompts.join(', ')})`)
  return t
}

/** The single --prompt-version of shadow, promote and compare: a version ("2", "v2"), or <stage>=<version> naming this stage. */
export function versionArg (stage: string, values: string[] | undefined, command: string): string {
  if (!values || values.length !== 1) throw new UsageError(`${command} needs one --prompt-version, e.g. --prompt-version 2 (synthq prompts lists the versions)`)
  const v = values[0]!
  const at = v.indexOf('=')
  if (at < 0) return v.trim()
  if (v.slice(0, at).trim() !== stage) throw new UsageError(`${command} ${stage}: --prompt-version ${v} names another stage`)
  return v.slice(at + 1).trim()
}

export function shadowStartArg (raw: string | undefined): ShadowStart {
  if (raw === undefined || raw === 'live') return 'live'
  if (raw === 'earliest') return 'earliest'
  throw new UsageError(`synthq shadow --from takes live (where the live stage is now: the records both see from now on) or earliest (every record of the input), got "${raw}"`)
}

export interface PromoteCommand {
  stage: string
  version: string
  from: string | undefined
  runner: RunnerKind
  db: string
  prefix: string
  pipeline: PipelineOptions
}

export async function runPromote (c: PromoteCommand, logger: Logger): Promise<number> {
  const topology = topologyWithStage(c.stage, c.pipeline, 'synthq shadow promote')
  const transport = openTransport({ runner: c.runner, db: c.db, prefix: c.prefix }, logger)
  try {
    const r = await promote(transport, { topology, stage: c.stage, version: c.version, prefix: c.prefix, from: parsePromoteFrom(c.from), logger })
    const p = r.promotion
    const from = new Map(p.offsets.map((x) => [x.partition, x.offset]))
    process.stdout.write([
      `promoted ${p.stage}: prompt ${p.prompt_id} version ${p.version} is live from ${p.input_topic} offsets ${describeOffsets(from)} (previous version ${p.previous_version} keeps the records before them, and its outputs stay as they are).`,
      r.rewound.size > 0
        ? `the live group moved back from ${describeOffsets(r.committed)} to ${describeOffsets(new Map([...r.committed, ...r.rewound]))}: ${r.redo} record(s) are redone with version ${p.version}; requests the shadow already made are answered from the LLM cache.`
        : `the live stage is at ${describeOffsets(r.committed)}: nothing is redone.`,
      'running stages pick the promotion up without a restart; the shadow\'s topics are left as they are.',
      '',
    ].join('\n'))
    return 0
  } finally {
    await transport.close()
  }
}

/** `synthq shadow list`: the shadow runs under the prefix and the promotions in effect. */
export async function runShadowList (c: { runner: RunnerKind, db: string, prefix: string, json: boolean }, logger: Logger): Promise<number> {
  const transport = openTransport({ runner: c.runner, db: c.db, prefix: c.prefix, ...(c.runner === 'embedded' ? { readOnly: true } : {}) }, logger)
  try {
    const l = await listShadows(transport, c.prefix)
    if (c.json) {
      process.stdout.write(`${JSON.stringify(l, null, 2)}\n`)
      return 0
    }
    // Kafka numbers transaction markers with offsets too: its sizes are offsets, not records.
    const lines = [l.shadows.length ? `shadow runs${c.runner === 'kafka' ? ' (topic sizes in offsets, transaction markers included)' : ''}:` : `no shadow runs under ${c.prefix}`]
    for (const s of l.shadows) lines.push(`  ${s.stage} v${s.version} (${s.prefix}.*): ${s.topics.map((t) => `${t.topic.slice(s.prefix.length + 1)} ${t.records}`).join(', ')}`)
    lines.push(l.promotions.length ? 'promotions in effect:' : 'no promotions: every stage sends the version it was started with')
    for (const p of l.promotions) lines.push(`  ${p.stage}: version ${p.version} (was ${p.previous_version}) from ${p.input_topic} offsets ${describeOffsets(new Map(p.offsets.map((o) => [o.partition, o.offset])))}, promoted ${new Date(p.promoted_at).toISOString()}`)
    process.stdout.write(`${lines.join('\n')}\n`)
    return 0
  } finally {
    await transport.close()
  }
}

export interface CompareCommand {
  stage: string
  version: string
  runner: RunnerKind
  db: string
  prefix: string
  pipeline: PipelineOptions
  config: string | undefined
  json: boolean
  examples: number
  minScore: number
}

export async function runCompare (c: CompareCommand, logger: Logger): Promise<number> {
  const topology = topologyWithStage(c.stage, c.pipeline, 'synthq compare')
  const stage = promptStage(topology, c.stage)
  const prices = c.config ? readLlmConfigFile(c.config).prices : undefined
  const transport = openTransport({ runner: c.runner, db: c.db, prefix: c.prefix, ...(c.runner === 'embedded' ? { readOnly: true } : {}) }, logger)
  try {
    const { live, shadow } = await readSides({ transport, stage, version: c.version, prefix: c.prefix, ...(prices ? { prices } : {}) })
    const report = compareSides(live, shadow, { minScore: c.minScore, examples: c.examples })
    process.stdout.write(c.json ? `${JSON.stringify(report, null, 2)}\n` : formatCompareReport(report))
    return 0
  } finally {
    await transport.close()
  }
}
