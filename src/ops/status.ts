/**
 * Takes {@link StatusSnapshot}s of a pipeline for `synthq status` and `synthq dashboard`.
 *
 * Durable figures come from where the pipeline keeps its state, so they are right even when
 * nothing runs: topic sizes and each stage's committed position (lag), the dead-letter topic,
 * the LLM usage ledger (requests, tokens, cost, cache hits), the sink's latest checkpoint
 * (filter acceptance, score histogram, sample balance and diversity) and the newest scored
 * instructions. Live figures — throughput, records in flight, retries, LLM latency — come from
 * the Prometheus endpoints of the running processes (found in the run directory, or named with
 * `metricsUrls`); throughput is the difference between two collects, so the first snapshot of
 * a collector has none (`synthq status` samples twice, `--window` apart).
 *
 * A collector keeps its transport (src/runtime/transport.ts: the database or the Kafka
 * clients) and read positions between collects: dead letters and the newest instructions are
 * read incrementally, and the sink's report is recomputed only when a new checkpoint appears.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { ConfigError } from '../errors.ts'
import { openLlmDatabase, type LlmDatabase } from '../llm/store.ts'
import { UsageLedger, type UsageRow } from '../llm/usage.ts'
import type { Logger } from '../log.ts'
import { histogramQuantile, parseExposition, sumOf, type Sample } from '../metrics/exposition.ts'
import { openTransport } from '../runtime/open-transport.ts'
import type { Tail, TailRecord, Transport } from '../runtime/transport.ts'
import type { AvroSerde } from '../serde/avro-serde.ts'
import { sinkReport, type SinkReport } from '../sink/report.ts'
import { readSinkContents } from '../sink/sample-store.ts'
import { topicName } from '../topics.ts'
import { defaultRunDir, discover } from './discovery.ts'
import { pipelineStages, type PipelineStage, type StageLagFigures } from './lag.ts'
import type { HealthCheck, LatestInstruction, ProcessStatus, StageStatus, StatusSnapshot } from './status-model.ts'

export interface StatusCollectorOptions {
  runner: 'embedded' | 'kafka'
  /** embedded: the database file. */
  db?: string
  prefix: string
  /** Endpoints of processes not in the run directory (other machines). */
  metricsUrls?: string[]
  /** Newest scored instructions to include (default 20). */
  latest?: number
  /** Topologies whose stages to report (default attribution and synthesis). */
  topologies?: string[]
  runDir?: string
  /** Kafka: the LLM database of this machine's processes (default .synthq/llm/llm.db when it exists). */
  llmDb?: string
  /** Re-read the sink's checkpoint, when its topic changed, at most this often (default: Kafka 10 s, embedded at once). */
  sinkRefreshMs?: number
  /** Kafka: offsets of each input partition read back to tell records from transaction markers (default CENSUS_WINDOW). */
  censusWindow?: number
  /**
   * Where the topics are (default: the database `db`, or Kafka and the registry from
   * SYNTHQ_KAFKA_* / SYNTHQ_REGISTRY_* or the local infrastructure). Closed with the collector.
   */
  transport?: Transport
}

/** A stage dead-letters more than this share of what it commits: unhealthy (judged from 20 records on). */
export const DEAD_LETTER_LIMIT = 0.1
const DEAD_LETTER_MIN = 20
/** Before 20 records a stage is judged from 5 on, against a majority: 11 of 11 dead-lettered is never healthy. */
export const DEAD_LETTER_MAJORITY = 0.5
const DEAD_LETTER_MIN_SMALL = 5

/** The dead-letter verdict on one stage, shared by `synthq status`, `synthq start`'s summary and the dataset card; undefined while healthy. */
export function deadLetterCheck (stage: string, judged: number, deadLetters: number, mostly?: string): HealthCheck | undefined {
  const share = judged > 0 ? deadLetters / judged : 0
  const bad = (judged >= DEAD_LETTER_MIN && share > DEAD_LETTER_LIMIT) || (judged >= DEAD_LETTER_MIN_SMALL && share > DEAD_LETTER_MAJORITY)
  if (!bad) return undefined
  const limit = judged >= DEAD_LETTER_MIN ? `unhealthy above ${DEAD_LETTER_LIMIT * 100} %` : `unhealthy above ${DEAD_LETTER_MAJORITY * 100} % until ${DEAD_LETTER_MIN} records`
  return { name: 'dead_letters', ok: false, message: `${stage}: ${deadLetters} of ${judged} records dead-lettered (${(100 * share).toFixed(1)} %, ${limit})${mostly ? `, mostly ${mostly}` : ''} — see synthq dlq summary` }
}

interface Scrape { at: number, samples: Sample[] }
interface ScoredValue { id: string, instruction: string, total: number, document: { id: string, url: string | null }, lineage: { simulated: boolean, demonstration_ids: string[], created_at: number, steps: Array<{ stage: string, prompt: { id: string, version: string } | null, model: { name: string } | null }>, prompt: { id: string, version: string } | null, model: { name: string } | null, stage: string } }

export class StatusCollector {
  readonly #o: StatusCollectorOptions
  readonly #logger: Logger
  readonly #stages: PipelineStage[]
  #transport: Transport | undefined
  /** The dead letters, and the newest scored instructions. */
  #tails: Tail[] = []
  #llmDb: LlmDatabase | undefined
  /** Previous scrape per metrics URL, for throughput. */
  #previous = new Map<string, Scrape>()
  readonly #deadLetters = new Map<string, Map<string, number>>()
  #latest: LatestInstruction[] = []
  #sink: { key: string, size: number, report: SinkReport | null, at: number } | undefined
  #started = false
  readonly #pendingDecodes: Array<Promise<void>> = []

  constructor (o: StatusCollectorOptions, logger: Logger) {
    this.#o = o
    this.#logger = logger
    this.#stages = pipelineStages(o.prefix, o.topologies)
  }

  async #start (): Promise<void> {
    if (this.#started) return
    try {
      await this.#open()
    } catch (err) {
      await this.close() // what did open is closed; the next collect starts afresh
      throw err
    }
    this.#started = true // only once everything opened: a failed start is tried again by the next collect
  }

  async #open (): Promise<void> {
    const o = this.#o
    if (o.runner === 'embedded' && !o.transport && (!o.db || !existsSync(o.db))) throw new ConfigError(`no synthq database at ${o.db ?? '(none given)'}: run \`npm start\` (or synthq run … ) first, or pass --db FILE`)
    const transport = this.#transport = o.transport ?? openTransport({ runner: o.runner, db: o.db ?? '', prefix: o.prefix, ...(o.censusWindow === undefined ? {} : { censusWindow: o.censusWindow }) }, this.#logger)
    // The LLM usage ledger: on the embedded runner in the pipeline's database; on Kafka in this machine's.
    const llmDb = o.runner === 'embedded' ? o.db : o.llmDb ?? join(process.cwd(), '.synthq', 'llm', 'llm.db')
    if (llmDb && (o.runner === 'embedded' || existsSync(llmDb))) this.#llmDb = openLlmDatabase(llmDb)
    const serde = transport.serde
    const dlq = topicName('deadLetters', o.prefix)
    const scored = topicName('scoredInstructions', o.prefix)
    const started = await Promise.allSettled([
      transport.tail(dlq, (r) => { this.#pendingDecodes.push(this.#countDeadLetter(serde, dlq, r.value)) }),
      transport.tail(scored, (r) => { this.#pendingDecodes.push(this.#addLatest(serde, scored, r)) }, { fromEnd: o.latest ?? 20 }),
    ])
    for (const t of started) if (t.status === 'fulfilled') this.#tails.push(t.value)
    for (const t of started) if (t.status === 'rejected') throw t.reason
    await Promise.all(this.#tails.map(async (t) => await t.waitCaughtUp()))
  }

  async #countDeadLetter (serde: AvroSerde, topic: string, value: Buffer | null): Promise<void> {
    if (!value) return
    try {
      const l = await serde.decode<{ stage: string, error_class: string }>(topic, value)
      const m = this.#deadLetters.get(l.stage) ?? new Map<string, number>()
      m.set(l.error_class, (m.get(l.error_class) ?? 0) + 1)
      this.#deadLetters.set(l.stage, m)
    } catch (err) {
      this.#logger.warn({ err, topic }, 'status: a dead letter could not be decoded')
    }
  }

  async #addLatest (serde: AvroSerde, topic: string, r: Pick<TailRecord, 'value' | 'timestamp'>): Promise<void> {
    if (!r.value) return
    try {
      const v = await serde.decode<ScoredValue>(topic, r.value)
      this.#latest.push({
        id: v.id,
        instruction: v.instruction,
        total: v.total,
        documentId: v.document.id,
        documentUrl: v.document.url,
        demonstrationIds: v.lineage.demonstration_ids,
        steps: [...v.lineage.steps, { stage: v.lineage.stage, prompt: v.lineage.prompt, model: v.lineage.model }].map((s) => `${s.stage}${s.prompt ? `@${s.prompt.version}` : ''}${s.model ? ` (${s.model.name})` : ''}`),
        simulated: v.lineage.simulated,
        at: v.lineage.created_at ?? r.timestamp,
      })
      const keep = this.#o.latest ?? 20
      if (this.#latest.length > keep * 4) this.#latest = this.#latest.slice(-keep)
    } catch (err) {
      this.#logger.warn({ err, topic }, 'status: a scored instruction could not be decoded')
    }
  }

  async collect (): Promise<StatusSnapshot> {
    await this.#start()
    const o = this.#o
    const at = Date.now()
    const [processes, scrapes] = await this.#scrape()
    const transport = this.#transport!
    await Promise.all(this.#tails.map(async (t) => await t.poll()))
    const lags: StageLagFigures[] = await transport.lag(this.#stages, { census: true })
    const topics = await transport.topicSizes(o.prefix)
    await Promise.all(this.#pendingDecodes.splice(0))
    const usage = this.#llmDb ? new UsageLedger(this.#llmDb, new Map()).rows() : []
    const report = await this.#sinkReport(topics)

    const live = scrapes.filter((s) => s.current)
    const stages: StageStatus[] = lags.map((l) => this.#stageStatus(l, live, usage, processes))
    const latest = [...this.#latest].sort((a, b) => a.at - b.at).slice(-(o.latest ?? 20)).reverse()
    const totalUsage = usage.reduce((t, u) => ({ requests: t.requests + u.requests, promptTokens: t.promptTokens + u.promptTokens, completionTokens: t.completionTokens + u.completionTokens, costUsd: t.costUsd + u.costUsd, hits: t.hits + u.cacheHits, calls: t.calls + u.cacheHits + u.cacheMisses }), { requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, hits: 0, calls: 0 })

    const snapshot: StatusSnapshot = {
      at,
      runner: o.runner,
      source: o.runner === 'embedded' ? o.db! : 'kafka',
      prefix: o.prefix,
      processes,
      stages,
      topics,
      filter: report
        ? {
            minScore: report.minScore,
            scored: report.seen - report.rejected,
            accepted: report.seen - report.rejected - (report.dropped.below_min_score ?? 0),
            acceptanceRate: report.seen - report.rejected > 0 ? 1 - (report.dropped.below_min_score ?? 0) / (report.seen - report.rejected) : null,
            scoreHistogram: report.seenHistogram ?? report.scoreHistogram,
          }
        : null,
      sample: report
        ? {
            size: report.kept,
            k: report.k,
            topics: report.topics.map((t) => ({ topic: t.topic, label: t.label, kept: t.kept, quota: t.quota, seen: t.seen })),
            balanceRatio: report.balanceRatio,
            topicEntropy: report.topicEntropy.normalized,
            effectiveTopics: report.topicEntropy.effective,
            vendi: report.vendi?.score ?? null,
            simulated: report.simulated,
          }
        : null,
      llm: { requests: totalUsage.requests, promptTokens: totalUsage.promptTokens, completionTokens: totalUsage.completionTokens, costUsd: totalUsage.costUsd, cacheHitRate: totalUsage.calls ? totalUsage.hits / totalUsage.calls : null },
      latest,
      health: { healthy: true, checks: [] },
    }
    snapshot.health = healthOf(snapshot, report, live.map((s) => s.current!.samples), new Map(lags.map((l) => [l.stage, l.exact ? 0 : (l.partitions ?? 0)])))
    return snapshot
  }

  /** Scrapes every known process; returns their status and this and the previous scrape of each. */
  async #scrape (): Promise<[ProcessStatus[], Array<{ url: string, current: Scrape | undefined, previous: Scrape | undefined }>]> {
    const o = this.#o
    const found = discover({ runner: o.runner, ...(o.db ? { db: o.db } : {}), prefix: o.prefix }, o.runDir ?? defaultRunDir())
    const listed = [
      ...found.map((a) => ({ pid: a.pid, metricsUrl: a.metricsUrl, topology: a.topology, runner: a.runner })),
      ...(o.metricsUrls ?? []).filter((u) => !found.some((a) => a.metricsUrl === u)).map((u) => ({ pid: null, metricsUrl: u, topology: null, runner: null })),
    ]
    const processes: ProcessStatus[] = []
    const scrapes: Array<{ url: string, current: Scrape | undefined, previous: Scrape | undefined }> = []
    await Promise.all(listed.map(async (p) => {
      try {
        const res = await request(p.metricsUrl, { headersTimeout: 3_000, bodyTimeout: 3_000 })
        if (res.statusCode !== 200) {
          await res.body.dump()
          throw new Error(`HTTP ${res.statusCode}`)
        }
        const current: Scrape = { at: Date.now(), samples: parseExposition(await res.body.text()) }
        const topology = p.topology ?? current.samples.find((s) => s.labels.topology)?.labels.topology ?? null
        processes.push({ ...p, topology, up: true })
        scrapes.push({ url: p.metricsUrl, current, previous: this.#previous.get(p.metricsUrl) })
        this.#previous.set(p.metricsUrl, current)
      } catch (err) {
        processes.push({ ...p, up: false, error: (err as Error).message })
        scrapes.push({ url: p.metricsUrl, current: undefined, previous: undefined })
      }
    }))
    return [processes.sort((a, b) => a.metricsUrl.localeCompare(b.metricsUrl)), scrapes]
  }

  #stageStatus (l: StageLagFigures, live: Array<{ current: Scrape | undefined, previous: Scrape | undefined }>, usage: UsageRow[], processes: ProcessStatus[]): StageStatus {
    const byStage = { stage: l.stage }
    const has = live.some((s) => s.current!.samples.some((x) => x.labels.stage === l.stage && x.name.startsWith('synthq_stage_')))
    let throughput: number | null = null
    for (const s of live) {
      if (!s.previous) continue
      const now = sumOf(s.current!.samples, 'synthq_stage_records_total', byStage) - sumOf(s.current!.samples, 'synthq_stage_records_total', { ...byStage, outcome: 'skipped' })
      const before = sumOf(s.previous.samples, 'synthq_stage_records_total', byStage) - sumOf(s.previous.samples, 'synthq_stage_records_total', { ...byStage, outcome: 'skipped' })
      const dt = (s.current!.at - s.previous.at) / 1000
      if (dt <= 0 || now < before) continue // a restarted process: its counters began again
      throughput = (throughput ?? 0) + (now - before) / dt
    }
    const samples = live.flatMap((s) => s.current!.samples)
    const u = usage.filter((r) => r.stage === l.stage)
    const letters = this.#deadLetters.get(l.stage) ?? new Map<string, number>()
    const p50 = histogramQuantile(samples, 'synthq_llm_request_duration_seconds', 0.5, byStage)
    const p95 = histogramQuantile(samples, 'synthq_llm_request_duration_seconds', 0.95, byStage)
    const calls = u.reduce((n, r) => n + r.cacheHits + r.cacheMisses, 0)
    return {
      stage: l.stage,
      topology: l.topology,
      input: l.input,
      lag: l.lag,
      committed: l.committed,
      throughputPerSec: has ? (throughput ?? (live.some((s) => s.previous) ? 0 : null)) : null,
      inFlight: has ? sumOf(samples, 'synthq_stage_in_flight', byStage) : null,
      queued: has ? sumOf(samples, 'synthq_stage_queued', byStage) : null,
      retries: has ? sumOf(samples, 'synthq_stage_retries_total', byStage) : null,
      deadLetters: [...letters.values()].reduce((a, b) => a + b, 0),
      deadLetterReasons: [...letters].map(([errorClass, count]) => ({ errorClass, count })).sort((a, b) => b.count - a.count),
      consumers: l.consumers ?? processes.filter((p) => p.up && (p.topology ?? '').split('+').includes(l.topology)).length,
      llm: u.length
        ? {
            model: [...new Set(u.map((r) => r.model))].join(', '),
            requests: u.reduce((n, r) => n + r.requests, 0),
            promptTokens: u.reduce((n, r) => n + r.promptTokens, 0),
            completionTokens: u.reduce((n, r) => n + r.completionTokens, 0),
            costUsd: u.reduce((n, r) => n + r.costUsd, 0),
            cacheHitRate: calls ? u.reduce((n, r) => n + r.cacheHits, 0) / calls : null,
            latencyP50Ms: p50 === null ? null : p50 * 1000,
            latencyP95Ms: p95 === null ? null : p95 * 1000,
          }
        : null,
    }
  }

  /** The sink's report from its newest checkpoint (recomputed only when a new one is there). */
  async #sinkReport (topics: ReadonlyArray<{ topic: string, records: number }>): Promise<SinkReport | null> {
    const o = this.#o
    const stateTopic = topicName('sinkState', o.prefix)
    // A new checkpoint grows the state topic; on Kafka reading it costs a consumer group's join, so not more often than every 10 s.
    const size = topics.find((t) => t.topic === stateTopic)?.records ?? 0
    const refreshMs = o.sinkRefreshMs ?? (o.runner === 'kafka' ? 10_000 : 0)
    if (this.#sink && (this.#sink.size === size || Date.now() - this.#sink.at < refreshMs)) return this.#sink.report
    const state = await this.#transport!.readToEnd(stateTopic)
    const contents = await readSinkContents(this.#transport!.serde, o.prefix, [], state)
    const key = `${contents.generation ?? 'none'}`
    const report = this.#sink?.key === key ? this.#sink.report : (contents.state ? sinkReport(contents.state) : null)
    this.#sink = { key, size, report, at: Date.now() }
    return report
  }

  async close (): Promise<void> {
    await Promise.all(this.#tails.map(async (t) => await t.close()))
    await this.#transport?.close()
    this.#llmDb?.close()
    this.#tails = []
    this.#transport = undefined
    this.#llmDb = undefined
    this.#started = false
  }
}

/** The checks `synthq status` exits 3 on, and the dashboard shows red. */
export function healthOf (s: StatusSnapshot, report: SinkReport | null, live: Sample[][], slack: ReadonlyMap<string, number> = new Map()): { healthy: boolean, checks: HealthCheck[] } {
  // slack: on Kafka, where lag could not be counted in records, a stopped exactly-once stage keeps
  // up to one transaction marker per partition as "lag".
  const checks: HealthCheck[] = []
  for (const p of s.processes) {
    if (!p.up) checks.push({ name: 'process_down', ok: false, message: `${p.metricsUrl}${p.pid ? ` (pid ${p.pid})` : ''} did not answer: ${p.error ?? 'no response'}` })
  }
  for (const st of s.stages) {
    const dead = deadLetterCheck(st.stage, st.committed ?? 0, st.deadLetters, st.deadLetterReasons[0]?.errorClass)
    if (dead) checks.push(dead)
    if ((st.lag ?? 0) > (s.runner === 'kafka' ? (slack.get(st.stage) ?? 0) : 0) && st.consumers === 0) {
      checks.push({ name: 'stalled', ok: false, message: s.runner === 'kafka'
        ? `${st.stage}: ${st.lag} records wait in ${st.input} and its consumer group has no members — start it with synthq run ${st.topology} --runner kafka`
        : `${st.stage}: ${st.lag} records wait in ${st.input} and no synthq process runs ${st.topology} on this database — start it with synthq run ${st.topology}` })
    }
  }
  for (const samples of live) {
    for (const c of samples.filter((x) => x.name === 'synthq_llm_circuit_open' && x.value > 0)) {
      const last = samples.find((x) => x.name === 'synthq_llm_last_error_timestamp_seconds' && x.labels.endpoint === c.labels.endpoint)
      checks.push({ name: 'llm_circuit_open', ok: false, message: `LLM endpoint ${c.labels.endpoint} is failing: its circuit breaker holds requests (consumption paused)${last ? `; last error: ${last.labels.error}` : ''}` })
    }
    if (samples.some((x) => x.name === 'synthq_llm_budget_paused' && x.value > 0)) checks.push({ name: 'llm_budget', ok: false, message: 'the LLM budget is spent: calls are held (raise llm.budget, or wait for the new period)' })
  }
  if (report) for (const c of report.health.checks) checks.push({ name: c.name, ok: c.ok, message: c.message })
  return { healthy: checks.every((c) => c.ok), checks }
}
