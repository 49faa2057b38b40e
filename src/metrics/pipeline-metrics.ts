/**
 * The Prometheus metrics of one synthq process, on prom-client: per-stage counters and
 * histograms, the LLM client's requests, latencies, tokens and cache, the sink's sample, and
 * Node's process metrics. docs/metrics.md lists every series; deploy/grafana/ charts them.
 *
 * Two ways figures arrive. Events that carry a duration are pushed into histograms: a record
 * finished comes from the `synthq:stage:record` diagnostics channel (src/diagnostics/), an LLM
 * request answered through the LLM client's {@link LlmObserver}. Everything else — counts the
 * runners and the LLM client already keep — is pulled when Prometheus scrapes, so the hot path
 * pays nothing for it: counters advance by the difference since the last scrape, gauges take
 * the current value. docs/diagnostics.md says which figures stay pulled and why.
 *
 * The channel is process-wide: the metrics count the records of every runner in the process
 * (one registry per process, as `synthq run` and `synthq start` make it). close() unsubscribes.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { subscribe, type StageRecordMessage } from '../diagnostics/channels.ts'
import type { LlmClient, LlmObserver, LlmRequestEvent } from '../llm/client.ts'
import type { Logger } from '../log.ts'
import type { Runner } from '../runtime/runner.ts'

/** What the metrics pull from a runner on every scrape. */
export type MetricsRunner = Pick<Runner, 'stats' | 'metrics'>

/** Records of an input topic a stage has not yet committed. */
export interface StageLag { stage: string, topic: string, lag: number }

export interface PipelineMetricsOptions {
  /** Labels on every series, e.g. { runner: 'kafka' }. */
  labels?: Record<string, string>
  /** Labels of the synthq_process_info series, e.g. { topology: 'synthesis', prefix: 'synthq', version: '0.1.0' }. */
  info?: Record<string, string>
  logger?: Logger
  /** Node's own metrics (CPU, memory, event-loop lag, GC); default true. */
  processMetrics?: boolean
}

/** Seconds: from a cached LLM answer (~ms) to a 70B model writing 1,000 tokens (minutes). */
const LLM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120]
const RECORD_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120]

const LAG_TIMEOUT_MS = 5_000
/** Runner stats with series of their own; the other numeric ones go to synthq_stage_runtime_figure. */
const PULLED_STATS = new Set(['processed', 'deadLettered', 'skipped', 'inFlight', 'queued'])

async function withTimeout<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** Failure reasons become a label: keep it to the reason's name ("connection failed (ECONNRESET)" → "connection failed"). */
const reasonLabel = (r: string): string => r.replace(/\s*\(.*\)$/, '').slice(0, 40)

export class PipelineMetrics implements LlmObserver {
  readonly registry = new Registry()
  readonly #runners: Array<{ topology: string, runner: MetricsRunner }> = []
  readonly #llm: LlmClient[] = []
  #lag: (() => Promise<StageLag[]>) | undefined
  /** Last pulled value of each counter series, to advance counters by differences. */
  readonly #pulled = new Map<string, number>()

  readonly #recordSeconds: Histogram<'stage' | 'outcome'>
  readonly #retries: Counter<'stage'>
  readonly #llmSeconds: Histogram<'stage' | 'model' | 'kind'>
  readonly #llmRequests: Counter<'stage' | 'model' | 'endpoint' | 'outcome'>
  readonly #unsubscribe: () => void

  constructor (o: PipelineMetricsOptions = {}) {
    if (o.labels) this.registry.setDefaultLabels(o.labels)
    if (o.processMetrics ?? true) collectDefaultMetrics({ register: this.registry })
    const r = [this.registry]
    this.#recordSeconds = new Histogram({ name: 'synthq_stage_record_duration_seconds', help: 'Time from a record entering a stage to its outcome, retries included', labelNames: ['stage', 'outcome'], buckets: RECORD_BUCKETS, registers: r })
    this.#retries = new Counter({ name: 'synthq_stage_retries_total', help: 'Retried attempts of records after transient failures', labelNames: ['stage'], registers: r })
    this.#llmSeconds = new Histogram({ name: 'synthq_llm_request_duration_seconds', help: 'LLM HTTP request latency (answered requests)', labelNames: ['stage', 'model', 'kind'], buckets: LLM_BUCKETS, registers: r })
    this.#llmRequests = new Counter({ name: 'synthq_llm_requests_total', help: 'LLM HTTP requests by outcome (ok or the failure reason)', labelNames: ['stage', 'model', 'endpoint', 'outcome'], registers: r })
    this.#unsubscribe = subscribe('synthq:stage:record', (m) => this.#recordDone(m))

    const pullCounter = (key: string, metric: Counter<string>, labels: Record<string, string>, value: number): void => {
      const id = `${key}\u0000${JSON.stringify(labels)}`
      const delta = value - (this.#pulled.get(id) ?? 0)
      this.#pulled.set(id, value)
      if (delta > 0) metric.inc(labels, delta)
    }

    const records: Counter<'stage' | 'topology' | 'outcome'> = new Counter({
      name: 'synthq_stage_records_total', help: 'Input records finished by a stage: processed, dead_lettered, or skipped (already done before a restart)', labelNames: ['stage', 'topology', 'outcome'], registers: r,
      collect: () => {
        for (const { topology, stage, st } of this.#stageStats()) {
          pullCounter('records', records, { stage, topology, outcome: 'processed' }, st.processed)
          pullCounter('records', records, { stage, topology, outcome: 'dead_lettered' }, st.deadLettered)
          if (st.skipped !== undefined) pullCounter('records', records, { stage, topology, outcome: 'skipped' }, st.skipped)
        }
      },
    })
    const inFlight: Gauge<'stage'> = new Gauge({
      name: 'synthq_stage_in_flight', help: 'Records a stage is working on now', labelNames: ['stage'], registers: r,
      collect: () => { for (const { stage, st } of this.#stageStats()) inFlight.set({ stage }, st.inFlight) },
    })
    const queued: Gauge<'stage'> = new Gauge({
      name: 'synthq_stage_queued', help: 'Records fetched and waiting for a free slot', labelNames: ['stage'], registers: r,
      collect: () => { for (const { stage, st } of this.#stageStats()) queued.set({ stage }, st.queued) },
    })
    const figures: Gauge<'stage' | 'figure'> = new Gauge({
      name: 'synthq_processor_figure', help: "A processor's own figure: counted by this process since it started (e.g. scoring total_5, document-hygiene admitted), or, for a stateful stage like the sink, restored from its checkpoint (kept, seen_total_5, vendi)", labelNames: ['stage', 'figure'], registers: r,
      collect: () => {
        for (const { runner } of this.#runners) {
          for (const [stage, m] of Object.entries(runner.metrics())) for (const [figure, v] of Object.entries(m)) if (Number.isFinite(v)) figures.set({ stage, figure }, v)
        }
      },
    })
    // Lag is read once per scrape, shared by the two series below (prom-client collects all series
    // of a scrape at once). A broker that does not answer must not take every other series down
    // with the scrape: the last figures stay and the failure is counted.
    let pending: Promise<void> | undefined
    let failing = false
    const refreshLag = (): Promise<void> => pending ??= (async () => {
      if (!this.#lag) return
      try {
        const figures = await withTimeout(this.#lag(), LAG_TIMEOUT_MS)
        failing = false
        lag.reset()
        for (const l of figures) lag.set({ stage: l.stage, topic: l.topic }, l.lag)
      } catch (err) {
        lagErrors.inc()
        if (!failing) o.logger?.warn({ err }, 'metrics: reading consumer lag failed; the last figures are served')
        failing = true
      }
    })().finally(() => { pending = undefined })
    const lag: Gauge<'stage' | 'topic'> = new Gauge({
      name: 'synthq_stage_lag_records', help: "Records of a stage's input topic not yet committed by it", labelNames: ['stage', 'topic'], registers: r,
      collect: refreshLag,
    })
    const lagErrors = new Counter({ name: 'synthq_stage_lag_errors_total', help: 'Scrapes whose lag could not be read (the previous lag figures are kept)', registers: r, collect: refreshLag })
    const runtime: Gauge<'stage' | 'figure'> = new Gauge({
      name: 'synthq_stage_runtime_figure', help: "A runner's own figure for a stage (Kafka: commits, abortedCommits, bufferedBytes; stateful stages: checkpoints, rollbacks, uncheckpointed, generation)", labelNames: ['stage', 'figure'], registers: r,
      collect: () => {
        for (const { stage, st } of this.#stageStats()) {
          for (const [figure, v] of Object.entries(st as object)) if (!PULLED_STATS.has(figure) && typeof v === 'number' && Number.isFinite(v)) runtime.set({ stage, figure }, v)
        }
      },
    })
    const llmFaults: Counter<'stage' | 'kind'> = new Counter({
      name: 'synthq_llm_call_faults_total', help: 'LLM calls retried after a transient failure (kind=retry) or answered with output that never became valid (kind=invalid_output)', labelNames: ['stage', 'kind'], registers: r,
      collect: () => {
        for (const { stage, s } of this.#llmStages()) {
          pullCounter('llmFaults', llmFaults, { stage, kind: 'retry' }, s.retries)
          pullCounter('llmFaults', llmFaults, { stage, kind: 'invalid_output' }, s.invalidOutputs)
        }
      },
    })
    const llmQueued: Gauge<'endpoint'> = new Gauge({
      name: 'synthq_llm_queued', help: 'LLM requests waiting for a free slot at an endpoint', labelNames: ['endpoint'], registers: r,
      collect: () => { for (const e of this.#llmEndpoints()) llmQueued.set({ endpoint: e.endpoint }, e.queued) },
    })
    if (o.info) new Gauge({ name: 'synthq_process_info', help: 'Always 1; its labels say what this process runs', labelNames: Object.keys(o.info), registers: r }).set(o.info, 1)
    const tokens: Counter<'stage' | 'model' | 'kind'> = new Counter({
      name: 'synthq_llm_tokens_total', help: 'LLM tokens by kind (prompt, completion), as the endpoint reported them', labelNames: ['stage', 'model', 'kind'], registers: r,
      collect: () => {
        for (const { stage, model, s } of this.#llmStages()) {
          pullCounter('tokens', tokens, { stage, model, kind: 'prompt' }, s.promptTokens)
          pullCounter('tokens', tokens, { stage, model, kind: 'completion' }, s.completionTokens)
        }
      },
    })
    const cost: Counter<'stage' | 'model'> = new Counter({
      name: 'synthq_llm_cost_usd_total', help: 'LLM spend in USD from the configured prices (0 without prices)', labelNames: ['stage', 'model'], registers: r,
      collect: () => { for (const { stage, model, s } of this.#llmStages()) pullCounter('cost', cost, { stage, model }, s.costUsd) },
    })
    const cache: Counter<'stage' | 'result'> = new Counter({
      name: 'synthq_llm_cache_lookups_total', help: 'LLM response-cache lookups by result (hit, miss)', labelNames: ['stage', 'result'], registers: r,
      collect: () => {
        for (const { stage, s } of this.#llmStages()) {
          pullCounter('cache', cache, { stage, result: 'hit' }, s.cacheHits)
          pullCounter('cache', cache, { stage, result: 'miss' }, s.cacheMisses)
        }
      },
    })
    const repairs: Counter<'stage'> = new Counter({
      name: 'synthq_llm_repairs_total', help: 'Answers that failed their JSON schema and were asked again with the error', labelNames: ['stage'], registers: r,
      collect: () => { for (const { stage, s } of this.#llmStages()) pullCounter('repairs', repairs, { stage }, s.repairs) },
    })
    const firstAnswers: Counter<'stage' | 'result'> = new Counter({
      name: 'synthq_llm_first_answers_total', help: 'Each call\'s first answer from the model, by whether it was usable as it came (valid) or needed a repair (invalid)', labelNames: ['stage', 'result'], registers: r,
      collect: () => {
        for (const { stage, s } of this.#llmStages()) {
          pullCounter('firstAnswers', firstAnswers, { stage, result: 'valid' }, s.validFirstTry)
          pullCounter('firstAnswers', firstAnswers, { stage, result: 'invalid' }, s.firstAnswers - s.validFirstTry)
        }
      },
    })
    const limit: Gauge<'endpoint'> = new Gauge({
      name: 'synthq_llm_concurrency_limit', help: 'Requests the client lets run at once against an endpoint (adaptive)', labelNames: ['endpoint'], registers: r,
      collect: () => { for (const e of this.#llmEndpoints()) limit.set({ endpoint: e.endpoint }, e.concurrencyLimit) },
    })
    const lastError: Gauge<'endpoint' | 'error'> = new Gauge({
      name: 'synthq_llm_last_error_timestamp_seconds', help: 'When an LLM endpoint last failed (not a 429); the error label is its own words, keys scrubbed — one series per endpoint', labelNames: ['endpoint', 'error'], registers: r,
      collect: () => {
        lastError.reset()
        for (const e of this.#llmEndpoints()) if (e.lastError) lastError.set({ endpoint: e.endpoint, error: e.lastError.message.slice(0, 200) }, e.lastError.at / 1000)
      },
    })
    const llmInFlight: Gauge<'endpoint'> = new Gauge({
      name: 'synthq_llm_in_flight', help: 'LLM requests running now', labelNames: ['endpoint'], registers: r,
      collect: () => { for (const e of this.#llmEndpoints()) llmInFlight.set({ endpoint: e.endpoint }, e.inFlight) },
    })
    const circuit: Gauge<'endpoint'> = new Gauge({
      name: 'synthq_llm_circuit_open', help: '1 while the circuit breaker holds requests to an endpoint', labelNames: ['endpoint'], registers: r,
      collect: () => { for (const e of this.#llmEndpoints()) circuit.set({ endpoint: e.endpoint }, e.circuit === 'closed' ? 0 : 1) },
    })
    const paused: Gauge = new Gauge({
      name: 'synthq_llm_budget_paused', help: '1 while the LLM budget is spent and calls are held', registers: r,
      collect: () => { paused.set(this.#llm.some((c) => c.stats().budgetPaused) ? 1 : 0) },
    })
  }

  /** Every stage of every runner with its runner figures. */
  * #stageStats (): Generator<{ topology: string, stage: string, st: ReturnType<MetricsRunner['stats']>[string] }> {
    for (const { topology, runner } of this.#runners) for (const [stage, st] of Object.entries(runner.stats())) yield { topology, stage, st }
  }

  /** Every LLM stage of every client with its figures and model. */
  * #llmStages (): Generator<{ stage: string, model: string, s: ReturnType<LlmClient['statsFor']> }> {
    for (const c of this.#llm) for (const [stage, s] of Object.entries(c.stats().stages)) yield { stage, model: modelOf(c, stage), s }
  }

  * #llmEndpoints (): Generator<ReturnType<LlmClient['stats']>['endpoints'][number]> {
    for (const c of this.#llm) yield * c.stats().endpoints
  }

  /** Pull this runner's figures on every scrape. */
  addRunner (topology: string, runner: MetricsRunner): void {
    this.#runners.push({ topology, runner })
  }

  addLlm (client: LlmClient): void {
    this.#llm.push(client)
  }

  /** Where lag comes from (embedded log positions, or Kafka group offsets). Called at most once per scrape. */
  setLagSource (source: () => Promise<StageLag[]>): void {
    this.#lag = source
  }

  /**
   * A record finished (synthq:stage:record). Skipped records took no time, and a stateful
   * stage's records have only their batch's time: neither is a record duration. A filtered
   * record (no outputs) is `processed` here, as in synthq_stage_records_total.
   */
  #recordDone (m: StageRecordMessage): void {
    if (m.outcome === 'skipped' || m.batchSize !== undefined) return
    this.#recordSeconds.observe({ stage: m.stage, outcome: m.outcome === 'deadLettered' ? 'dead_lettered' : 'processed' }, m.durationMs / 1000)
    if (m.attempts > 1) this.#retries.inc({ stage: m.stage }, m.attempts - 1)
  }

  /** Stops listening to the diagnostics channels (the registry keeps what it has). */
  close (): void {
    this.#unsubscribe()
  }

  request (e: LlmRequestEvent): void {
    this.#llmRequests.inc({ stage: e.stage, model: e.model, endpoint: e.endpoint, outcome: e.outcome === 'ok' ? 'ok' : reasonLabel(e.outcome) })
    if (e.outcome === 'ok') this.#llmSeconds.observe({ stage: e.stage, model: e.model, kind: e.kind }, e.seconds)
  }

  /** The text exposition format, as served on /metrics. */
  async text (): Promise<string> {
    return await this.registry.metrics()
  }
}

function modelOf (c: LlmClient, stage: string): string {
  try {
    return c.settings.stage(stage).model
  } catch {
    return 'unknown'
  }
}
