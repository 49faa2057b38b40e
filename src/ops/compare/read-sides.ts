/**
 * Reads what `synthq compare` compares: the outputs the live stage wrote with its prompt version
 * and those its shadow wrote with the other, each with its score (its own `total`, or the
 * scoring stage's for it: live scoring for live outputs, the shadow's scoring copy for shadow
 * outputs, when the shadow ran `--through scoring`), its token usage and the dead letters of
 * the stage on each side.
 */
import type { Price } from '../../llm/config.ts'
import { normalizeVersion } from '../../processors/prompts.ts'
import type { Transport } from '../../runtime/transport.ts'
import type { StageSpec } from '../../topologies/topology.ts'
import { namespacedTopic, shadowPrefix, type TopicName, type TopicNamespace } from '../../topics.ts'
import type { CompareRecord, CompareSide } from './compare-report.ts'

interface AnyOutput {
  id?: string
  total?: number
  instruction?: string
  response?: string
  scene?: string
  lineage?: {
    stage: string
    prompt: { id: string, version: string } | null
    model: { endpoint: string, name: string } | null
    upstream: Array<{ topic: string, id: string }>
    steps?: Array<{ stage: string, prompt: { id: string, version: string } | null }>
    simulated: boolean
    usage?: { prompt_tokens: number, completion_tokens: number, cached: boolean } | null
  }
}

/** The text a version wrote, for the examples and the diversity figures. */
function textOf (v: AnyOutput): string {
  return v.instruction ?? v.response ?? v.scene ?? JSON.stringify(v).slice(0, 2_000)
}

async function decodeAll (t: Transport, topic: string, name: TopicName): Promise<Array<{ key: string | null, value: unknown }>> {
  t.serde.bindTopic(topic, name)
  const out = []
  for (const r of await t.readToEnd(topic)) {
    if (!r.value) continue
    out.push({ key: r.key, value: await t.serde.decode(topic, r.value) })
  }
  return out
}

export interface ReadSidesOptions {
  transport: Transport
  stage: StageSpec & { prompt: { version: string } }
  /** The shadow's version. */
  version: string
  prefix: string
  /** USD per million tokens by model (the config file's llm.prices). */
  prices?: Readonly<Record<string, Price>>
}

export async function readSides (o: ReadSidesOptions): Promise<{ live: CompareSide, shadow: CompareSide }> {
  const version = normalizeVersion(o.version)
  const out = o.stage.outputs[0]!
  const shadowNs: TopicNamespace = { prefix: o.prefix, shadow: { prefix: shadowPrefix(o.prefix, o.stage.name, version), topics: [out, 'scoredInstructions', 'deadLetters'] } }
  const liveNs: TopicNamespace = { prefix: o.prefix }
  const side = async (label: string, ns: TopicNamespace, v: string): Promise<CompareSide> => {
    const rows = (await decodeAll(o.transport, namespacedTopic(ns, out), out)).map((r) => r.value as AnyOutput)
    const mine = rows.filter((r) => r.lineage?.stage === o.stage.name && r.lineage.prompt?.version === v)
    // Scores of outputs that are not scored themselves: the scoring stage's records, by the output's id.
    const scores = new Map<string, number>()
    if (out !== 'scoredInstructions') {
      for (const r of await decodeAll(o.transport, namespacedTopic(ns, 'scoredInstructions'), 'scoredInstructions')) {
        const s = r.value as AnyOutput
        const of = s.lineage?.upstream[0]?.id
        // Both versions' outputs of one input may share an id (instruction-generation's is the
        // document's): a score belongs to this side only if its history went through this version.
        const step = s.lineage?.steps?.find((st) => st.stage === o.stage.name)
        if (step?.prompt?.version !== v) continue
        if (of !== undefined && typeof s.total === 'number') scores.set(of, s.total)
      }
    }
    const outputs: CompareRecord[] = mine.map((r) => {
      const u = r.lineage?.usage
      return {
        inputKey: r.lineage?.upstream[0]?.id ?? '',
        text: textOf(r),
        score: typeof r.total === 'number' ? r.total : (r.id !== undefined ? scores.get(r.id) ?? null : null),
        promptTokens: u ? u.prompt_tokens : null,
        completionTokens: u ? u.completion_tokens : null,
        cached: u ? u.cached : null,
        model: r.lineage?.model?.name ?? null,
        simulated: r.lineage?.simulated === true,
      }
    })
    const deadLetters = (await decodeAll(o.transport, namespacedTopic(ns, 'deadLetters'), 'deadLetters'))
      .map((r) => ({ key: r.key, value: r.value as { stage: string, error_class: string, message: string } }))
      .filter((r) => r.value.stage === o.stage.name)
      .map((r) => ({ inputKey: r.key ?? '', errorClass: r.value.error_class, message: r.value.message }))
    const model = outputs.find((r) => r.model)?.model
    const price = model ? o.prices?.[model] : undefined
    return { label, version: v, outputs, deadLetters, ...(price ? { price } : {}) }
  }
  return { live: await side('live', liveNs, o.stage.prompt.version), shadow: await side('shadow', shadowNs, version) }
}
