/**
 * A shadow of a stage: the same stage with another version of its prompt, reading the live
 * stage's input (and tables) and writing copies of its outputs under a shadow prefix, so nothing
 * downstream of the live stage sees them. Optionally the shadow also runs copies of the stages
 * downstream of it, up to `through`, on its own outputs (e.g. scoring, to compare the scores of
 * what each version writes).
 *
 *   live:    situations ─instruction-generation v1─▶ instructions.synthesized ─scoring─▶ …
 *   shadow:  situations ─instruction-generation v2─▶ shadow.instruction-generation.v2.instructions.synthesized
 *                        (--through scoring)       ─scoring─▶ shadow.instruction-generation.v2.instructions.scored
 *
 * The shadow's consumer groups live under its prefix too (`<shadow prefix>.<stage>`), so it
 * moves no live offset. `synthq compare` reads both sides; `synthq shadow promote` makes the
 * version live (src/runtime/promotions.ts).
 */
import { ConfigError } from '../errors.ts'
import { normalizeVersion, promptVersion } from '../processors/prompts.ts'
import { shadowPrefix, type TopicName, type TopicNamespace } from '../topics.ts'
import { TopologyBuilder, type StagePrompt, type StageSpec, type StatefulStageSpec, type Topology } from './topology.ts'

export interface ShadowPlan {
  /** The stage whose prompt the shadow changes. */
  stage: string
  /** The prompt version the shadow sends ("2" or "v2"). */
  version: string
  /** Also run copies of the downstream stages up to this one (default: the shadowed stage alone). */
  through?: string
}

export interface ShadowRun {
  /** The shadow's stages: the shadowed one (with the other version) and its downstream copies. */
  topology: Topology
  /** What the runner needs: the shadow prefix and the topics written under it. */
  shadow: NonNullable<TopicNamespace['shadow']>
  /** The shadowed stage. */
  stage: StageSpec & { prompt: StagePrompt }
  version: string
}

/** Stages that send a prompt, for messages. */
function promptStages (t: Topology): string {
  return t.stages.filter((s) => s.prompt).map((s) => s.name).join(', ')
}

export function shadowTopology (t: Topology, plan: ShadowPlan, prefix: string): ShadowRun {
  const spec = t.stages.find((s) => s.name === plan.stage)
  if (!spec) throw new ConfigError(`topology ${t.name} has no stage "${plan.stage}" (stages that send a prompt: ${promptStages(t)})`)
  if (!spec.prompt) throw new ConfigError(`stage ${plan.stage} sends no prompt, so it has no version to shadow (stages that do: ${promptStages(t)})`)
  const version = normalizeVersion(plan.version)
  promptVersion(spec.prompt.id, version) // an unknown version is a ConfigError naming the ones that exist
  if (version === spec.prompt.version) throw new ConfigError(`stage ${plan.stage} already runs prompt version ${version}: shadow another one (synthq prompts lists them)`)

  // The stages downstream of the shadowed one, in the topology's order, up to `through`.
  type AnyStage = (StageSpec & { stateful?: false }) | (StatefulStageSpec & { stateful: true })
  const all: AnyStage[] = [...t.stages.map((s) => ({ ...s, stateful: false as const })), ...t.statefulStages.map((s) => ({ ...s, stateful: true as const }))]
  const chain: AnyStage[] = [{ ...spec, stateful: false }]
  if (plan.through !== undefined && plan.through !== plan.stage) {
    if (!all.some((s) => s.name === plan.through)) throw new ConfigError(`--through ${plan.through}: topology ${t.name} has no such stage`)
    const produced = new Set<TopicName>(spec.outputs)
    let added = true
    while (added && !chain.some((s) => s.name === plan.through)) {
      added = false
      for (const s of all) {
        if (chain.includes(s) || chain.some((c) => c.name === s.name) || !produced.has(s.input)) continue
        chain.push(s)
        for (const o of s.outputs) produced.add(o)
        if (s.stateful) produced.add(s.state)
        added = true
      }
    }
    if (!chain.some((s) => s.name === plan.through)) throw new ConfigError(`--through ${plan.through}: that stage is not downstream of ${plan.stage}`)
    // Keep only what leads to `through`: a stage the target does not depend on is not copied.
    for (let i = chain.length - 1; i > 0; i--) {
      const s = chain[i]!
      const needed = s.name === plan.through || chain.slice(i + 1).some((d) => s.outputs.includes(d.input))
      if (!needed) chain.splice(i, 1)
    }
  }

  const written = new Set<TopicName>(['deadLetters'])
  for (const s of chain) {
    for (const o of s.outputs) written.add(o)
    if (s.stateful) written.add(s.state)
  }
  const b = new TopologyBuilder(t.name)
  for (const name of new Set(chain.flatMap((s) => s.stateful ? [] : s.tables ?? []))) b.table(name)
  for (const s of chain) {
    const { stateful: _s, ...rest } = s
    if (s.stateful) b.statefulStage(rest as StatefulStageSpec)
    else if (s.name === spec.name) b.stage({ ...(rest as StageSpec), processor: () => spec.processor({ promptVersion: version }), prompt: { id: spec.prompt.id, version } })
    else b.stage(rest as StageSpec)
  }
  return {
    topology: b.build(),
    shadow: { prefix: shadowPrefix(prefix, spec.name, version), topics: [...written] },
    stage: spec as StageSpec & { prompt: StagePrompt },
    version,
  }
}
