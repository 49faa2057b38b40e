/**
 * `synthq start` (= `npm start`): the whole method end to end on the embedded runner, with no
 * servers to install, on the real data shipped in data/:
 *
 * 1. builds the embedded BM25 search index over the shipped documents (once);
 * 2. runs attribution on the OpenAssistant prompts: concepts → search → demonstrations;
 * 3. runs synthesis on the web, math and physics documents with those demonstrations:
 *    hygiene → situations → instructions → scores;
 * 4. prints what it produced and where to look.
 *
 * LLM stages use the configured endpoints (SYNTHQ_LLM_*, --config) and, for anything not
 * configured, the built-in simulator — whose records say simulated in their lineage.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_DATA } from '../data-paths.ts'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { EmbeddedRunner } from '../runtime/embedded/embedded-runner.ts'
import { Bm25Index } from '../search/bm25-index.ts'
import { buildIndex } from '../search/index-build.ts'
import { formatReject, readDocuments } from '../search/readers.ts'
import { attributionTopology } from '../topologies/attribution.ts'
import { DEFAULT_PIPELINE_OPTIONS, type PipelineOptions } from '../topologies/options.ts'
import { TOPOLOGIES } from '../topologies/registry.ts'
import { embeddingStages, llmStages, type Topology } from '../topologies/topology.ts'
import { topicName, type TopicName } from '../topics.ts'
import { defaultSearchIndex, startLlm } from './run.ts'
import { stopOnSignals } from './exit.ts'
import { firstAnswersNote, processUsage } from '../llm/usage.ts'
import type { StageStats } from '../llm/client.ts'
import { processEndpoint, type MetricsSettings } from '../metrics/process-endpoint.ts'
import { SYNTHQ_VERSION } from '../version.ts'
import { exportContents } from './export.ts'
import { deadLetterCheck } from '../ops/status.ts'
import type { HealthCheck as PipelineCheck } from '../ops/status-model.ts'
import { formatSinkReport } from '../sink/report.ts'
import { readSinkContents, type SinkContents } from '../sink/sample-store.ts'
import { exportTrainable, readTrainable } from '../sink/export/trainable.ts'

export const SHIPPED_DOCUMENTS = [
  join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'),
  join(REPO_DATA, 'math', 'math-stackexchange-200.jsonl'),
  join(REPO_DATA, 'tech', 'physics-stackexchange-100.jsonl'),
]
export const SHIPPED_SEEDS = join(REPO_DATA, 'seeds', 'oasst-prompts-en.jsonl')

export interface StartOptions {
  db: string
  prefix: string
  untilIdle: boolean
  drainTimeoutMs: number
  concurrency?: number
  config?: string
  pipeline?: PipelineOptions
  /** Feed the shipped data when the input topics are empty (default true). */
  demoData: boolean
  /** Where the dataset is exported at the end (default .synthq/dataset). */
  datasetDir?: string
  /** The Prometheus endpoint (default on, 127.0.0.1, any free port). */
  metrics?: MetricsSettings
}

const DEMO_SAMPLE_SIZE = 400

const out = (line: string): void => { process.stderr.write(`${line}\n`) }

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Waits until every runner has nothing left to do, printing progress every few seconds. */
async function untilIdle (runners: EmbeddedRunner[], stopping: () => boolean): Promise<void> {
  let last = Date.now()
  while (!stopping() && !runners.every((r) => r.idle())) {
    await sleep(100)
    if (Date.now() - last > 3_000) {
      last = Date.now()
      out(`synthq: ${runners.flatMap((r) => Object.entries(r.stats()).map(([n, s]) => `${n} ${s.processed}${s.deadLettered ? ` (${s.deadLettered} dead)` : ''}`)).join(' · ')}`)
    }
  }
}

export async function startPipeline (opts: StartOptions, logger: Logger): Promise<number> {
  let options = opts.pipeline ?? DEFAULT_PIPELINE_OPTIONS
  if (options.sink.k === DEFAULT_PIPELINE_OPTIONS.sink.k) {
    // ~870 instructions would all fit the default K = 100,000: a smaller sample shows the
    // topic balancing at work (set pipeline.sink.k in a --config file to choose).
    options = { ...options, sink: { ...options.sink, k: DEMO_SAMPLE_SIZE } }
    out(`synthq: sample size K = ${DEMO_SAMPLE_SIZE} for this demo (pipeline.sink.k in --config to change)`)
  }
  if (options.responses.enabled === null || options.responses.preferences === null) {
    // The demo ends with trainable data: responses and preference pairs, unless --config chose.
    const enabled = options.responses.enabled ?? true
    options = { ...options, responses: { ...options.responses, enabled, preferences: options.responses.preferences ?? enabled } }
  }
  const index = defaultSearchIndex()
  if (!existsSync(index)) {
    out(`synthq: building the search index ${index} from the shipped documents and SQuAD paragraphs…`)
    const t0 = Date.now()
    const bm25 = Bm25Index.open(index)
    try {
      const r = await buildIndex(bm25, [...SHIPPED_DOCUMENTS, join(REPO_DATA, 'seeds', 'squad-v2-dev-3articles.json')], { onReject: (x) => logger.warn(formatReject(x)) })
      out(`synthq: indexed ${r.docs} documents in ${((Date.now() - t0) / 1000).toFixed(1)} s${r.rejects ? ` (${r.rejects} records rejected)` : ''}`)
    } finally {
      await bm25.close()
    }
  }
  const context = { options, searchIndex: index }
  const attribution: Topology = attributionTopology({ options, search: async () => (await import('../search/config.ts')).searchBackendFromEnv(process.env, { defaultIndexPath: index }) })
  const synthesis: Topology = TOPOLOGIES.synthesis!(context)
  const endpoint = processEndpoint(opts.metrics ?? { enabled: true, host: '127.0.0.1', port: 0 }, { runner: 'embedded' }, logger, { topology: 'attribution+synthesis', prefix: opts.prefix, version: SYNTHQ_VERSION })
  const llm = await startLlm([...llmStages(attribution), ...llmStages(synthesis)], { llm: 'sim', runner: 'embedded', db: opts.db, ...(opts.config ? { config: opts.config } : {}) }, logger, embeddingStages(synthesis), endpoint.metrics)
  if (!llm) throw new ConfigError('the pipeline has no LLM stages')
  const common = { path: opts.db, logger, prefix: opts.prefix, drainTimeoutMs: opts.drainTimeoutMs, llm: llm.client, ...(opts.concurrency ? { concurrency: opts.concurrency } : {}) }
  const attr = new EmbeddedRunner(TOPOLOGIES.attribution!(context), common)
  const synth = new EmbeddedRunner(synthesis, common)

  // SIGINT/SIGTERM finish the records in flight and commit within --drain-timeout (plus a grace
  // to close); a second signal exits at once.
  const signals = stopOnSignals(async (why) => {
    if (why === 'SIGINT' || why === 'SIGTERM') out('synthq: finishing records in flight, then committing…')
    await Promise.all([attr.stop(), synth.stop()])
  }, { drainTimeoutMs: opts.drainTimeoutMs, out })
  const stopAll = (): Promise<void> => signals.stop('done')
  const stopping = (): boolean => signals.stopping

  const t0 = Date.now()
  await endpoint.listen() // /healthz and /readyz answer while the runners start (docs/metrics.md)
  await attr.start()
  endpoint.metrics.addRunner('attribution', attr)
  endpoint.metrics.addRunner('synthesis', synth)
  endpoint.metrics.addLlm(llm.client)
  await endpoint.start({ topologies: ['attribution', 'synthesis'], prefix: opts.prefix, runner: attr })
  if (endpoint.url) out(`synthq: metrics at ${endpoint.url} — watch with: npx synthq status, npx synthq dashboard`)
  if (opts.demoData && attr.log.head(topicName('realInstructions', opts.prefix)) === 0) {
    const seeds = readFileSync(SHIPPED_SEEDS, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string, prompt: string, source: string })
    await attr.produce('realInstructions', seeds.map((s) => ({ key: s.id, value: { id: s.id, prompt: s.prompt, source: s.source, metadata: {}, ingested_at: Date.now() } })))
    out(`synthq: attribution — fed ${seeds.length} real user prompts (OpenAssistant, data/seeds)`)
  }
  await untilIdle([attr], stopping)
  out(`synthq: attribution caught up after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${attr.log.head(topicName('demonstrations', opts.prefix))} demonstrations`)

  try {
    await synth.start()
  } catch (err) {
    // E.g. a saved sample whose vectors came from another model: stop everything, say why.
    await stopAll().catch(() => {})
    await endpoint.close()
    await llm.close()
    signals.dispose()
    throw err
  }
  if (opts.demoData && synth.log.head(topicName('documents', opts.prefix)) === 0) {
    let n = 0
    for (const file of SHIPPED_DOCUMENTS) {
      const batch: Array<{ key: string, value: unknown }> = []
      for await (const d of readDocuments(file, {}, { onReject: (x) => out(`synthq: skipped ${formatReject(x)}`) })) {
        batch.push({ key: d.id, value: { id: d.id, text: d.text, url: d.url ?? null, title: d.title ?? null, corpus: d.corpus ?? 'unknown', license: null, metadata: {}, ingested_at: Date.now() } })
      }
      await synth.produce('documents', batch)
      n += batch.length
    }
    out(`synthq: synthesis — fed ${n} documents (C4 web, math and physics Stack Exchange, data/)`)
  }
  await untilIdle([attr, synth], stopping)
  // The input is finite here: let the sink place what its topic warm-up still holds.
  if (!stopping()) await synth.flush()
  // The flushed sample's last rows still get their responses (and pairs) before the export.
  if (!stopping() && options.responses.enabled) await untilIdle([synth], stopping)
  // This run's own LLM calls (others may share the database and its ledger).
  if (!stopping()) await summary(attr, synth, opts, Date.now() - t0, processUsage(), llm.client.stats().stages)
  const healthy = stopping() ? true : await exportSample(synth, [attr, synth], opts, options)

  if (opts.untilIdle && !stopping()) await stopAll()
  else if (!stopping()) {
    out('synthq: waiting for new records (Ctrl-C to stop)')
    while (!stopping()) await sleep(200)
  }
  try {
    await signals.done
    await endpoint.close()
    await llm.close()
  } finally {
    signals.dispose() // the command line then exits with the code returned (src/cli/exit.ts)
  }
  out('synthq: stopped cleanly')
  // Like status and export: 3 = done, with findings (a health check failed, listed above).
  return opts.untilIdle && !healthy ? 3 : 0
}

/** Writes the sample as a dataset beside the database (`.synthq/dataset`) and prints its figures. */
/** Each stage's dead-letter verdict from this run's counts (src/ops/status.ts sets the limits). */
function deadLetterChecks (runners: EmbeddedRunner[]): PipelineCheck[] {
  const checks: PipelineCheck[] = []
  for (const r of runners) {
    for (const [stage, st] of Object.entries(r.stats())) {
      const c = deadLetterCheck(stage, st.processed + st.deadLettered, st.deadLettered)
      if (c) checks.push(c)
    }
  }
  return checks
}

async function exportSample (synth: EmbeddedRunner, runners: EmbeddedRunner[], opts: StartOptions, options: PipelineOptions): Promise<boolean> {
  const outDir = opts.datasetDir ?? join(process.cwd(), '.synthq', 'dataset')
  const { sample, state } = synth.log.db.transaction(() => ({ sample: [...synth.log.scan(topicName('sample', opts.prefix))], state: [...synth.log.scan(topicName('sinkState', opts.prefix))] }))()
  const contents = await readSinkContents(synth.serde, opts.prefix, sample, state)
  const pipelineChecks = deadLetterChecks(runners)
  const { result, report, health } = exportContents(contents, { outDir, format: 'jsonl', config: { pipeline: options }, pipelineChecks })
  out(`synthq: dataset — ${result.rows} instructions in ${report?.topics.length ?? 0} topics → ${join(outDir, result.files[0]!)} with its card ${join(outDir, 'README.md')} (Parquet, other thresholds: npx synthq export --help)`)
  if (report) {
    const lines = formatSinkReport(report).split('\n')
    const health = lines.findIndex((l) => l.trim().startsWith('health:'))
    // The sink's figures; its health checks are printed below with the pipeline's.
    for (const line of lines.slice(0, Math.min(8, health < 0 ? lines.length : health))) out(`synthq: ${line.trim()}`)
  }
  if (options.responses.enabled) await exportTrainableData(synth, opts, outDir, contents, options.responses.preferences === true)
  if (health) {
    out(`synthq: health: ${health.healthy ? 'healthy' : 'UNHEALTHY'}`)
    for (const c of health.checks) out(`synthq:   ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.message}`)
  }
  return health?.healthy ?? true
}

/** The SFT dataset (and the DPO one with preference pairs) beside the instructions: `<dataset>/sft`, `<dataset>/dpo`. */
async function exportTrainableData (synth: EmbeddedRunner, opts: StartOptions, outDir: string, contents: SinkContents, preferences: boolean): Promise<void> {
  const scan = (t: TopicName): Array<{ key: string | null, value: Buffer | null }> => [...synth.log.scan(topicName(t, opts.prefix))]
  const t = await readTrainable(synth.serde, opts.prefix, contents.rows, { sample: scan('sample'), responses: scan('responses'), preferences: scan('preferences') })
  const sft = exportTrainable(t, { outDir: join(outDir, 'sft'), format: 'sft', file: 'jsonl' })
  out(`synthq: SFT — ${sft.rows} instruction–response rows (responders ${Object.keys(sft.stats.responseModels).join(', ') || 'none'}; ${sft.stats.evictedBeforeResponse} instructions evicted before their response) → ${join(outDir, 'sft', sft.files[0]!)} with its card (Parquet, Alpaca: npx synthq export --format sft|alpaca --file parquet)`)
  if (!preferences) return
  const dpo = exportTrainable(t, { outDir: join(outDir, 'dpo'), format: 'dpo', file: 'jsonl' })
  const s = dpo.stats
  out(`synthq: DPO — ${dpo.rows} preference pairs of ${s.judged} judged in both orders (ties ${s.ties}, inconsistent ${s.inconsistent}, agreement ${s.agreement === null ? 'n/a' : `${(100 * s.agreement).toFixed(1)} %`}) → ${join(outDir, 'dpo', dpo.files[0]!)} (npx synthq export --format dpo)`)
}

async function summary (attr: EmbeddedRunner, synth: EmbeddedRunner, opts: StartOptions, ms: number, usage: Array<{ stage: string, requests: number, promptTokens: number, completionTokens: number, cacheHits: number }>, llmStages: Record<string, StageStats>): Promise<void> {
  const count = (r: EmbeddedRunner, t: TopicName): number => r.log.head(topicName(t, opts.prefix))
  out(`synthq: done in ${(ms / 1000).toFixed(1)} s — database ${opts.db}`)
  const flow: Array<[TopicName, EmbeddedRunner]> = [['realInstructions', attr], ['concepts', attr], ['groundedInstructions', attr], ['demonstrations', attr], ['documents', synth], ['cleanDocuments', synth], ['situations', synth], ['synthesizedInstructions', synth], ['scoredInstructions', synth], ['deadLetters', synth]]
  out(`synthq: records — ${flow.map(([t, r]) => `${topicName(t, opts.prefix)} ${count(r, t)}`).join(', ')}`)
  const m = { ...attr.metrics(), ...synth.metrics() }
  const env = m['situation-envisioning'] ?? {}
  const hyg = m['document-hygiene'] ?? {}
  const sc = m.scoring ?? {}
  out(`synthq: hygiene — ${hyg.admitted ?? 0} admitted, ${hyg.exactDuplicates ?? 0} exact duplicates, ${hyg.rejected ?? 0} rejected, ${hyg.truncated ?? 0} truncated to ${(opts.pipeline ?? DEFAULT_PIPELINE_OPTIONS).budget.documentTokens} tokens`)
  out(`synthq: prompts — ${(100 * (env.prefixReuseShare ?? 0)).toFixed(1)} % of envisioning prompt text repeated the previous prompt's prefix (prefix-cache friendly); ${env.distinctDemonstrationsPer1000Documents ?? 0} distinct demonstrations over the last ≤1,000 documents in ${env.demonstrationDraws ?? 0} draws`)
  out(`synthq: scores — ${[0, 1, 2, 3, 4, 5, 6, 7].map((i) => `${i}:${sc[`total_${i}`] ?? 0}`).join(' ')}; decontaminated ${(m['concept-extraction']?.decontaminated ?? 0) + (sc.decontaminated ?? 0)}`)
  out(`synthq: LLM — ${usage.map((u) => `${u.stage} ${u.requests} req ${u.promptTokens}+${u.completionTokens} tok${u.cacheHits ? ` (${u.cacheHits} cached)` : ''}${firstAnswersNote(llmStages[u.stage])}`).join(' · ')}`)
  const dlq = topicName('deadLetters', opts.prefix)
  const reasons = new Map<string, number>()
  for (const r of synth.log.read(dlq, 0, 1e9)) {
    const l = await synth.serde.decode<{ stage: string, error_class: string }>(dlq, r.value)
    const k = `${l.stage}/${l.error_class}`
    reasons.set(k, (reasons.get(k) ?? 0) + 1)
  }
  if (reasons.size) out(`synthq: dead letters — ${[...reasons].map(([k, n]) => `${k} ${n}`).join(', ')} (reasons: npx synthq dlq summary)`)
  const topic = topicName('scoredInstructions', opts.prefix)
  const rows = synth.log.read(topic, Math.max(0, synth.log.head(topic) - 2), 2)
  for (const r of rows) {
    const v = await synth.serde.decode<{ instruction: string, total: number, document: { id: string }, lineage: { simulated: boolean, demonstration_ids: string[] } }>(topic, r.value)
    out(`synthq: sample ${topic}[${r.offset}] total ${v.total}/7 from ${v.document.id}, ${v.lineage.demonstration_ids.length} demonstrations${v.lineage.simulated ? ', SIMULATED' : ''}: ${v.instruction.slice(0, 200)}${v.instruction.length > 200 ? '…' : ''}`)
  }
  out(`synthq: look inside any topic with: npx synthq tap ${topic} --limit 3   (all topics: npx synthq topics)`)
}
