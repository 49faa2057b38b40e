/**
 * `synthq llm check <topology>` (every LLM stage's endpoint answers with its model, and which
 * structured-output dialect it takes; exit 1 when a probe failed) and `synthq llm usage` (tokens,
 * cost and cache hits recorded in the database, per stage and model).
 */
import { UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { EndpointProbe } from '../llm/client.ts'

export async function checkLlm (name: string | undefined, config: string | undefined, logger: Logger): Promise<number> {
  const { defaultSearchIndex, TOPOLOGIES } = await import('./run.ts')
  const { DEFAULT_PIPELINE_OPTIONS } = await import('../topologies/options.ts')
  const { embeddingStages, llmStages } = await import('../topologies/topology.ts')
  const { readLlmConfigFile, resolveLlmSettings } = await import('../llm/config.ts')
  const { LlmClient } = await import('../llm/client.ts')
  const { describeProbe } = await import('../llm/dialect-probe.ts')
  const { isConstrained } = await import('../llm/dialects.ts')
  const make = name ? TOPOLOGIES[name] : undefined
  if (!make) throw new UsageError(`synthq llm check needs a topology name (known: ${Object.keys(TOPOLOGIES).join(', ')})`)
  const topo = make({ options: DEFAULT_PIPELINE_OPTIONS, searchIndex: defaultSearchIndex() })
  const stages = llmStages(topo)
  const embedding = embeddingStages(topo)
  if (stages.length === 0) {
    process.stdout.write(`topology ${name} has no LLM stages\n`)
    return 0
  }
  const settings = resolveLlmSettings({ stages, embeddingStages: embedding, ...(config ? { file: readLlmConfigFile(config) } : {}) })
  const client = new LlmClient({ settings, logger })
  let probes: EndpointProbe[]
  try {
    await client.preflight({ probe: false })
    // Its outcome is printed below, once (not also logged).
    probes = await client.probeStructuredOutputs({ report: false })
  } finally {
    await client.close()
  }
  for (const st of stages) {
    if (!settings.stageNames.includes(st)) { process.stdout.write(`${st}  no embedding model configured: lexical vectors (llm.stages.${st}.model or SYNTHQ_LLM_${st.toUpperCase().replace(/-/g, '_')}_MODEL to use one)\n`); continue }
    const s = settings.stage(st)
    process.stdout.write(`${st}  ${s.endpoint.name} ${s.endpoint.baseUrl}  model ${s.model}  temperature ${s.temperature}  max_tokens ${s.maxTokens}  ok\n`)
  }
  let failed = false
  for (const p of probes) {
    failed ||= p.failed
    const how = p.failed ? 'probe FAILED' : isConstrained(p.dialect) ? 'constrained' : 'not enforced by the server: answers are checked and repaired'
    process.stdout.write(`endpoint ${p.endpoint} ${p.baseUrl}  model ${p.model}  structured outputs: ${p.dialect} (${how}) — ${describeProbe(p)}\n`)
  }
  return failed ? 1 : 0
}

export async function printLlmUsage (dbPath: string): Promise<number> {
  const { openLlmDatabase } = await import('../llm/store.ts')
  const { UsageLedger } = await import('../llm/usage.ts')
  const db = openLlmDatabase(dbPath)
  try {
    const rows = new UsageLedger(db, new Map()).rows()
    if (rows.length === 0) process.stdout.write('no LLM usage recorded in this database\n')
    for (const r of rows) {
      process.stdout.write(`${r.stage}  ${r.model}@${r.endpoint}  calls ${r.calls} (cache hits ${r.cacheHits})  requests ${r.requests}  tokens ${r.promptTokens} in / ${r.completionTokens} out${r.estimatedRequests ? ` (${r.estimatedRequests} requests estimated)` : ''}  $${r.costUsd.toFixed(4)}\n`)
    }
  } finally {
    db.close()
  }
  return 0
}
