/**
 * deploy/grafana/synthq-dashboard.json cannot be loaded into a Grafana here, so it is checked
 * three ways: (a) it is an importable dashboard of the current schema (unique panel ids, every
 * panel on the Prometheus datasource variable with at least one query, a grid without
 * overlaps); (b) every metric, label and label value its PromQL names exists in what a real
 * PipelineMetrics registry serves — the stages of the real topologies, the real scoring and sink
 * processors' figures, Node's default metrics — so renaming a metric, a label or a figure fails
 * here instead of leaving an empty panel; (c) every expression parses with Prometheus's own
 * grammar (@prometheus-io/lezer-promql, the one Prometheus's and Grafana's query editors use).
 * deploy/prometheus/ (scrape config, file_sd example) and docs/metrics.md are checked against
 * the same registry.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { parser } from '@prometheus-io/lezer-promql'
import { parse as parseYaml } from 'yaml'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import type { LlmClient } from '../../src/llm/client.ts'
import { createLogger } from '../../src/log.ts'
import { parseExposition, type Sample } from '../../src/metrics/exposition.ts'
import { channels } from '../../src/diagnostics/channels.ts'
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.ts'
import { pipelineStages } from '../../src/ops/lag.ts'
import { buildLineage } from '../../src/processors/lineage.ts'
import type { InputRecord, ProcessorContext } from '../../src/processors/processor.ts'
import { scoring } from '../../src/processors/scoring/scoring.ts'
import { TopicBalancedSink, type ScoredInstructionValue } from '../../src/processors/sink/topic-balanced-sink.ts'
import { THEMES, VERBS } from '../fixtures/instruction-themes.ts'
import { SAMPLES } from '../fixtures/records.ts'

interface Target { refId: string, expr?: string, datasource?: { type?: string, uid?: string }, legendFormat?: string }
interface Panel {
  id: number
  type: string
  title: string
  gridPos: { h: number, w: number, x: number, y: number }
  datasource?: { type?: string, uid?: string }
  targets?: Target[]
  panels?: Panel[]
  fieldConfig?: { defaults?: { unit?: string } }
}
interface Variable { name: string, type: string, query: string | { query?: string }, datasource?: { type?: string, uid?: string } }
interface Dashboard { uid: string, title: string, schemaVersion: number, panels: Panel[], templating: { list: Variable[] }, __inputs?: Array<{ name: string, type: string, pluginId: string }> }

const DASHBOARD_FILE = join(REPO_ROOT, 'deploy/grafana/synthq-dashboard.json')
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard

/** Every panel, rows included, with the panels of collapsed rows. */
const allPanels = (ps: readonly Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
const queryPanels = allPanels(dashboard.panels).filter((p) => p.type !== 'row')
const expressions = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr ?? '' })))

/** Labels Prometheus attaches at scrape time; no process serves them. */
const TARGET_LABELS = new Set(['job', 'instance'])
/** Series Prometheus makes itself for every target. */
const SCRAPE_SERIES = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped'])
/** Grafana's interval variables, replaced by a duration before parsing (Grafana does the same). */
const GRAFANA_DURATIONS = /\$__(rate_interval|interval|range)\b/g
const UNITS = new Set(['ops/s', 's', 'short', 'currencyUSD', 'percentunit', 'bytes'])

// ── a real registry's exposition ──────────────────────────────────────────────────────────────

/** The figures of a real sink after 90 scored instructions (K = 12, six themes: topics form and fill). */
async function sinkFigures (): Promise<Record<string, number>> {
  const base = SAMPLES.scoredInstructions as unknown as ScoredInstructionValue
  const ctx: ProcessorContext = {
    stage: 'sink', runId: 'run-dashboard-test', logger: createLogger({ level: 'silent' }), now: () => 1, signal: new AbortController().signal,
    llm: () => { throw new Error('no LLM: lexical vectors') },
    table: () => { throw new Error('no tables in a stateful stage') },
    lineage: (inputs, opts = {}) => buildLineage('sink', 'run-dashboard-test', () => 'synthq.instructions.scored', Array.isArray(inputs) ? inputs : [inputs], opts, 1),
  }
  const { signal: _signal, ...stateful } = ctx
  const sink = new TopicBalancedSink({ vectors: 'lexical', k: 12, dedup: { capacity: 1000, falsePositiveRate: 1e-6 }, topics: { warmup: 30, maxTopics: 8, maxWarmupMs: 60_000, newTopicThreshold: 'auto' } })
  sink.init(stateful)
  sink.restore(null, stateful)
  const records: Array<InputRecord<ScoredInstructionValue>> = Array.from({ length: 90 }, (_, i) => {
    const w = THEMES[i % THEMES.length]!
    const instruction = `${VERBS[i % VERBS.length]} the ${w[i % 6]} and ${w[(i + 2) % 6]} of ${w[(i + 4) % 6]} case ${i}`
    return { topic: 'scoredInstructions', key: `ins-${i}`, value: { ...base, id: `ins-${i}`, instruction, total: 1 + (i % 7) }, partition: 0, offset: String(i), timestamp: 1 }
  })
  await sink.processBatch(records, ctx)
  sink.flush(stateful)
  return sink.metrics()
}

/** What a `synthq run --runner kafka` process serves after some work: every series with samples. */
async function exposition (): Promise<string> {
  const m = new PipelineMetrics({ labels: { runner: 'kafka' } }) // the labels process-endpoint.ts sets
  const stages = pipelineStages('synthq')
  const scorer = scoring()
  const figures: Record<string, Record<string, number>> = { scoring: scorer.metrics!(), sink: await sinkFigures() }
  for (const topology of new Set(stages.map((s) => s.topology))) {
    const mine = stages.filter((s) => s.topology === topology)
    m.addRunner(topology, {
      stats: () => Object.fromEntries(mine.map((s) => [s.stage, { processed: 40, deadLettered: 2, inFlight: 3, queued: 5, skipped: 1 }])),
      metrics: () => Object.fromEntries(mine.map((s) => [s.stage, figures[s.stage] ?? {}])),
    })
  }
  const llmStages = stages.filter((s) => s.stage !== 'document-hygiene' && s.stage !== 'search-retrieval')
  const stageStats = { calls: 10, cacheHits: 2, cacheMisses: 8, requests: 9, retries: 1, repairs: 1, invalidOutputs: 1, firstAnswers: 8, validFirstTry: 7, failures: {}, latency: { count: 8, totalMs: 800, maxMs: 300 }, promptTokens: 1000, completionTokens: 200, costUsd: 0.02 }
  // PipelineMetrics reads stats() and settings.stage(); the rest of an LlmClient is not needed.
  // stats() is typed as the client's, so a renamed figure fails to compile here.
  const llm = {
    stats: (): ReturnType<LlmClient['stats']> => ({ stages: Object.fromEntries(llmStages.map((s) => [s.stage, stageStats])), endpoints: [{ endpoint: 'sim', concurrencyLimit: 16, inFlight: 2, queued: 0, circuit: 'closed', pausedMs: 0 }], cache: { hits: 2, misses: 8 }, budgetPaused: false }),
    settings: { stage: () => ({ model: 'sim-chat-8b' }) },
  }
  m.addLlm(llm as unknown as LlmClient)
  m.setLagSource(async () => stages.map((s) => ({ stage: s.stage, topic: s.input, lag: 7 })))
  for (const s of stages) { // records finish as the runners say so: on the synthq:stage:record channel
    const record = { stage: s.stage, topology: s.topology, runner: 'kafka', runId: 'dashboard-test', topic: s.input, partition: 0, outputs: 1 } as const
    channels.stageRecord.publish({ ...record, offset: '0', outcome: 'processed', attempts: 2, durationMs: 200 })
    channels.stageRecord.publish({ ...record, offset: '1', outcome: 'deadLettered', attempts: 4, durationMs: 3000 })
  }
  m.close()
  for (const s of llmStages) {
    const kind = s.stage === 'sink' ? 'embeddings' : 'chat'
    m.request({ stage: s.stage, model: 'sim-chat-8b', endpoint: 'sim', kind, outcome: 'ok', seconds: 0.4 })
    m.request({ stage: s.stage, model: 'sim-chat-8b', endpoint: 'sim', kind, outcome: 'HTTP 429', seconds: 0.1 })
  }
  return await m.text()
}

interface Exposed {
  /** Series names a scrape can contain (histograms as _bucket, _sum, _count). */
  names: Set<string>
  samples: Sample[]
  /** Label names seen on each series name (without samples: the default labels). */
  labels: (name: string) => Set<string>
}

function exposed (text: string): Exposed {
  const samples = parseExposition(text)
  const names = new Set(samples.map((s) => s.name))
  for (const m of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string]
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix)
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(name + suffix)
    else names.add(name)
  }
  const defaults = new Set(['runner'])
  return {
    names,
    samples,
    labels: (name) => {
      const of = samples.filter((s) => s.name === name)
      return of.length ? new Set(of.flatMap((s) => Object.keys(s.labels))) : defaults
    },
  }
}

// ── PromQL, through Prometheus's grammar ──────────────────────────────────────────────────────

type Tree = ReturnType<typeof parser.parse>
type Node = Tree['topNode']

interface Matcher { label: string, op: '=' | '!=' | '=~' | '!~', value: string }
interface Selector { metric: string, matchers: Matcher[] }
interface Parsed { errors: number[], selectors: Selector[], grouping: string[] }

const OPS: Record<string, Matcher['op']> = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' }

/** PromQL string literals: "…" with Go escapes, '…', or `…` (raw). */
function unquote (s: string): string {
  if (s.startsWith('`')) return s.slice(1, -1)
  if (s.startsWith("'")) return s.slice(1, -1).replace(/\\'/g, "'").replace(/\\\\/g, '\\')
  return JSON.parse(s) as string
}

function promql (expr: string): Parsed {
  const text = expr.replace(GRAFANA_DURATIONS, '5m')
  const tree = parser.parse(text)
  const out: Parsed = { errors: [], selectors: [], grouping: [] }
  const src = (n: Node): string => text.slice(n.from, n.to)
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError) out.errors.push(ref.from)
      const n = ref.node
      if (n.name === 'VectorSelector') {
        const metric = n.getChild('Identifier')
        const matchers: Matcher[] = []
        for (const m of n.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
          const op = OPS[m.getChild('MatchOp')?.firstChild?.name ?? '']
          const label = m.getChild('LabelName')
          const value = m.getChild('StringLiteral')
          if (op && label && value) matchers.push({ label: src(label), op, value: unquote(src(value)) })
        }
        // {__name__="…"} or a quoted metric name would come here without an Identifier: not supported.
        out.selectors.push({ metric: metric ? src(metric) : '', matchers })
      }
      if (n.name === 'GroupingLabels') for (const l of n.getChildren('LabelName')) out.grouping.push(src(l))
    },
  })
  return out
}

// ── the tests ─────────────────────────────────────────────────────────────────────────────────

describe('the Grafana dashboard', () => {
  let x: Exposed
  before(async () => { x = exposed(await exposition()) })

  it('is an importable dashboard of the current schema with datasource, job, runner and stage variables', () => {
    assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`)
    assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/)
    assert.ok(dashboard.title)
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]))
    const ds = vars.get('datasource')
    assert.equal(ds?.type, 'datasource')
    assert.equal(ds?.query, 'prometheus')
    for (const name of ['job', 'runner', 'stage']) {
      const v = vars.get(name)
      assert.equal(v?.type, 'query', name)
      assert.deepEqual(v?.datasource, { type: 'prometheus', uid: '${datasource}' }, name)
    }
    const query = (v: Variable | undefined): string => typeof v?.query === 'string' ? v.query : v?.query.query ?? ''
    assert.match(query(vars.get('stage')), /^label_values\(synthq_stage_records_total(\{.*\})?, stage\)$/)
    assert.match(query(vars.get('runner')), /^label_values\(synthq_stage_records_total(\{.*\})?, runner\)$/)
  })

  it('has unique panel ids, and every panel queries the Prometheus variable with at least one expression', () => {
    const ids = allPanels(dashboard.panels).map((p) => p.id)
    assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids.filter((id, i) => ids.indexOf(id) !== i).join(', ')}`)
    assert.ok(queryPanels.length >= 20, `${queryPanels.length} panels`)
    for (const p of queryPanels) {
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}: datasource`)
      assert.ok(p.targets && p.targets.length > 0, `${p.title}: no targets`)
      const refIds = p.targets.map((t) => t.refId)
      assert.equal(new Set(refIds).size, refIds.length, `${p.title}: duplicate refIds`)
      for (const t of p.targets) {
        assert.ok(t.expr && t.expr.trim(), `${p.title} ${t.refId}: empty expression`)
        assert.deepEqual(t.datasource, p.datasource, `${p.title} ${t.refId}: datasource`)
      }
      const unit = p.fieldConfig?.defaults?.unit
      assert.ok(unit && UNITS.has(unit), `${p.title}: unit ${unit}`)
    }
  })

  it('lays its panels out on the 24-column grid without overlaps', () => {
    const placed = allPanels(dashboard.panels)
    for (const p of placed) assert.ok(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24 && p.gridPos.h > 0, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`)
    for (let i = 0; i < placed.length; i++) {
      for (let j = i + 1; j < placed.length; j++) {
        const a = placed[i]!.gridPos
        const b = placed[j]!.gridPos
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
        assert.ok(!overlap, `${placed[i]!.title} overlaps ${placed[j]!.title}`)
      }
    }
  })

  it('has the panels the pipeline needs', () => {
    const all = expressions.map((e) => e.expr).join('\n')
    for (const needle of [
      'sum by (stage) (rate(synthq_stage_records_total{', 'outcome="dead_lettered"', 'max by (stage) (synthq_stage_lag_records{',
      'synthq_stage_in_flight', 'synthq_stage_queued', 'synthq_stage_record_duration_seconds_bucket', 'synthq_stage_retries_total',
      'synthq_llm_requests_total', 'synthq_llm_request_duration_seconds_bucket', 'synthq_llm_tokens_total', 'synthq_llm_cost_usd_total',
      'synthq_llm_cache_lookups_total', 'synthq_llm_concurrency_limit', 'synthq_llm_in_flight', 'synthq_llm_circuit_open', 'synthq_llm_budget_paused',
      'figure=~"seen_total_[0-7]"', 'figure="kept"', 'figure="topics"', 'figure="balanceRatio"',
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds',
    ]) assert.ok(all.includes(needle), `no panel uses ${needle}`)
    // Several processes report the lag of the same stage: summing would count it once per process.
    for (const e of expressions) assert.doesNotMatch(e.expr, /sum by \(stage\) \(synthq_stage_lag_records/, `${e.panel}: lag must be max by (stage)`)
    const bars = queryPanels.find((p) => p.type === 'bargauge')
    assert.ok(bars?.targets?.[0]?.expr?.includes('seen_total_'), 'the score histogram is a bar gauge')
    for (const title of ['LLM circuit', 'LLM budget']) assert.equal(queryPanels.find((p) => p.title === title)?.type, 'stat', title)
  })

  it('parses every expression with Prometheus\'s PromQL grammar', () => {
    assert.ok(expressions.length > 0)
    for (const e of expressions) {
      const p = promql(e.expr)
      assert.deepEqual(p.errors, [], `${e.panel} ${e.refId}: syntax error at ${p.errors.map((at) => JSON.stringify(e.expr.replace(GRAFANA_DURATIONS, '5m').slice(at, at + 20))).join(', ')} in ${e.expr}`)
      assert.ok(p.selectors.length > 0, `${e.panel} ${e.refId}: selects no series`)
      assert.doesNotMatch(e.expr.replace(GRAFANA_DURATIONS, '5m').replace(/"[^"]*"/g, '""'), /\$/, `${e.panel} ${e.refId}: a variable outside a label value`)
    }
    assert.ok(promql('sum by (stage (rate(x[5m]))').errors.length > 0, 'the grammar reports errors')
    assert.ok(promql('rate(x[$__rate_interval])'.replace('$__rate_interval', '$__rate_intervl')).errors.length > 0, 'unknown variables are errors')
  })

  it('names only metrics a real synthq process serves', () => {
    for (const e of expressions) {
      for (const s of promql(e.expr).selectors) {
        assert.ok(s.metric, `${e.panel} ${e.refId}: a selector without a metric name`)
        assert.ok(x.names.has(s.metric) || SCRAPE_SERIES.has(s.metric), `${e.panel} ${e.refId}: no metric ${s.metric} in a synthq process's /metrics (renamed?)`)
      }
    }
  })

  it('names only labels those metrics carry, and label values that occur', () => {
    for (const e of expressions) {
      const p = promql(e.expr)
      const known = new Set([...TARGET_LABELS, ...p.selectors.flatMap((s) => [...x.labels(s.metric)])])
      for (const l of p.grouping) assert.ok(known.has(l), `${e.panel} ${e.refId}: groups by ${l}, which none of its metrics has`)
      for (const s of p.selectors) {
        if (SCRAPE_SERIES.has(s.metric)) continue
        const labels = x.labels(s.metric)
        for (const m of s.matchers) assert.ok(labels.has(m.label) || TARGET_LABELS.has(m.label), `${e.panel} ${e.refId}: ${s.metric} has no label ${m.label}`)
        // Literal = and =~ matchers must select something; each word of an alternation a|b|c must.
        const literal = s.matchers.filter((m) => (m.op === '=' || m.op === '=~') && !m.value.includes('$'))
        const series = x.samples.filter((sample) => sample.name === s.metric)
        if (series.length === 0) {
          // Node's GC histogram has samples only after a collection; synthq's own series all have some here.
          assert.ok(!s.metric.startsWith('synthq_'), `${e.panel} ${e.refId}: ${s.metric} has no samples in the test's registry`)
          continue
        }
        const selects = (ms: Matcher[]): boolean => series.some((sample) => ms.every((m) => new RegExp(`^(?:${m.value})$`).test(sample.labels[m.label] ?? '')))
        assert.ok(selects(literal), `${e.panel} ${e.refId}: ${s.metric}{${literal.map((m) => `${m.label}${m.op}"${m.value}"`).join(', ')}} selects no series`)
        for (const m of literal.filter((m) => m.op === '=~' && /^[\w.-]+(\|[\w.-]+)+$/.test(m.value))) {
          for (const word of m.value.split('|')) {
            const others = literal.filter((o) => o !== m)
            assert.ok(selects([...others, { ...m, op: '=', value: word }]), `${e.panel} ${e.refId}: ${s.metric} has no series with ${m.label}="${word}"`)
          }
        }
      }
    }
  })

  it('reads the score histogram as eight figures seen_total_0 … seen_total_7 of the sink', () => {
    const totals = x.samples.filter((s) => s.name === 'synthq_processor_figure' && s.labels.stage === 'sink' && /^seen_total_\d$/.test(s.labels.figure ?? ''))
    assert.deepEqual(totals.map((s) => s.labels.figure).sort(), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `seen_total_${i}`))
    assert.equal(totals.reduce((n, s) => n + s.value, 0), x.samples.find((s) => s.labels.stage === 'sink' && s.labels.figure === 'seen')!.value, 'every record the sink read, by total')
  })

  it('takes its variables from metrics and labels that exist', () => {
    for (const v of dashboard.templating.list.filter((t) => t.type === 'query')) {
      const q = typeof v.query === 'string' ? v.query : v.query.query ?? ''
      const m = /^label_values\((.+), (\w+)\)$/.exec(q)
      assert.ok(m, `${v.name}: ${q}`)
      const p = promql(m[1]!)
      assert.deepEqual(p.errors, [], `${v.name}: ${m[1]}`)
      const metric = p.selectors[0]!.metric
      assert.ok(x.names.has(metric), `${v.name}: no metric ${metric}`)
      assert.ok(x.labels(metric).has(m[2]!) || TARGET_LABELS.has(m[2]!), `${v.name}: ${metric} has no label ${m[2]}`)
    }
  })
})

describe('deploy/prometheus and docs/metrics.md', () => {
  it('the example scrape config parses and scrapes /metrics from static and file_sd targets', () => {
    const config = parseYaml(readFileSync(join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ job_name: string, metrics_path?: string, static_configs?: Array<{ targets: string[] }>, file_sd_configs?: Array<{ files: string[] }> }> }
    const jobs = config.scrape_configs
    assert.ok(jobs.length >= 2)
    assert.equal(new Set(jobs.map((j) => j.job_name)).size, jobs.length, 'job names are unique')
    for (const j of jobs) assert.equal(j.metrics_path ?? '/metrics', '/metrics', j.job_name)
    const statics = jobs.flatMap((j) => j.static_configs ?? []).flatMap((s) => s.targets)
    assert.ok(statics.length > 0, 'a static target')
    for (const t of statics) assert.match(t, /^[\w.-]+:\d{2,5}$/, t)
    const files = jobs.flatMap((j) => j.file_sd_configs ?? []).flatMap((f) => f.files)
    assert.ok(files.length > 0, 'a file_sd example')
    // file_sd paths are relative to the config file's directory.
    const example = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus', files[0]!.replace(/\*\.json$/, 'synthq.json')), 'utf8')) as Array<{ targets: string[], labels?: Record<string, string> }>
    assert.ok(example.length > 0 && example.every((g) => g.targets.every((t) => /^[\w.-]+:\d{2,5}$/.test(t))))
  })

  it('docs/metrics.md documents every synthq series a process serves', async () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/metrics.md'), 'utf8')
    const text = await new PipelineMetrics({ processMetrics: false }).text()
    const names = [...text.matchAll(/^# TYPE (synthq_\w+) \w+$/gm)].map((m) => m[1]!)
    assert.ok(names.length >= 15)
    for (const n of names) assert.ok(doc.includes(`\`${n}\``), `docs/metrics.md does not mention ${n}`)
    assert.ok(doc.includes('deploy/grafana/synthq-dashboard.json'))
  })
})
