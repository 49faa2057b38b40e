/**
 * `synthq status`: the state of a pipeline at a glance — per stage lag, throughput, records in
 * flight, retries, dead letters and LLM latency/tokens/cache; the filter's acceptance rate; the
 * sample's size, topic balance and diversity; and health checks. Exit code 3 when a check
 * fails, so scripts and cron jobs can act on it.
 */
import { parseArgs } from 'node:util'
import { prefixOf, runnerOf } from '../config/defaults.ts'
import { UsageError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { StatusCollector } from '../ops/status.ts'
import type { StatusSnapshot } from '../ops/status-model.ts'
import { DEFAULT_TOPIC_PREFIX } from '../topics.ts'

export const STATUS_HELP = `synthq status — lag, throughput, dead letters, LLM figures, sample balance and health

usage: synthq status [options]

Durable figures (lag, dead letters, LLM tokens and cache, filter and sample) come from the
database or Kafka and are there even when nothing runs. Live figures (throughput, in flight,
retries, LLM latency) come from the metrics endpoints of running synthq processes: those on
this machine are found in .synthq/run/ ($SYNTHQ_RUN_DIR); name others with --metrics-url.
On Kafka, lag and done count records, not offsets: transaction markers and aborted records
are read and left out (within the last 2,000 offsets of each input partition).

options:
  --runner R          embedded (default: the database of npm start) or kafka
  --db FILE           embedded database (default .synthq/embedded/synthq.db or $SYNTHQ_DB)
  --prefix P          topic prefix (default ${DEFAULT_TOPIC_PREFIX})
  --metrics-url URL   a process's Prometheus endpoint, e.g. http://host:9464/metrics (repeatable)
  --window S          seconds between the two samples throughput is measured over (default 2;
                      0: one sample, no throughput)
  --topology T        report only this topology's stages (repeatable; default attribution, synthesis)
  --watch S           print again every S seconds until Ctrl-C
  --json              one JSON snapshot (the dashboard's /api/status format)
  -h, --help          this help

exit codes: 0 healthy · 3 a health check failed (listed) · 1 could not read the pipeline · 2 usage

examples:
  synthq status
  synthq status --json | jq '.stages[] | {stage, lag, throughputPerSec}'
  synthq status --runner kafka --metrics-url http://worker-1:9464/metrics --metrics-url http://worker-2:9464/metrics
  synthq status --watch 5
  synthq status >/dev/null || echo "pipeline unhealthy"
`

export async function runStatus (argv: string[], defaults: { db: string }, logger: Logger): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runner: { type: 'string' }, db: { type: 'string' }, prefix: { type: 'string' }, 'metrics-url': { type: 'string', multiple: true },
      window: { type: 'string' }, topology: { type: 'string', multiple: true }, watch: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(STATUS_HELP)
    return 0
  }
  const runner = runnerOf(values.runner)
  const windowS = Number(values.window ?? 2)
  if (!(windowS >= 0)) throw new UsageError(`--window must be a number of seconds ≥ 0, got "${values.window}"`)
  const watchS = values.watch === undefined ? undefined : Number(values.watch)
  if (watchS !== undefined && !(watchS > 0)) throw new UsageError(`--watch must be a number of seconds > 0, got "${values.watch}"`)
  const collector = new StatusCollector({
    runner, prefix: prefixOf(values.prefix),
    ...(runner === 'embedded' ? { db: values.db ?? defaults.db } : {}),
    ...(values['metrics-url'] ? { metricsUrls: values['metrics-url'] } : {}),
    ...(values.topology ? { topologies: values.topology } : {}),
  }, logger)
  let stop = false
  const onSignal = (): void => { stop = true }
  process.once('SIGINT', onSignal)
  try {
    let snapshot = await collector.collect()
    if (windowS > 0 && snapshot.processes.some((p) => p.up)) {
      await sleep(windowS * 1000)
      snapshot = await collector.collect()
    }
    for (;;) {
      process.stdout.write(values.json ? JSON.stringify(snapshot) + '\n' : formatStatus(snapshot))
      if (watchS === undefined || stop) break
      await sleep(watchS * 1000, () => stop)
      if (stop) break
      snapshot = await collector.collect()
      if (!values.json) process.stdout.write('\n')
    }
    return snapshot.health.healthy ? 0 : 3
  } finally {
    process.off('SIGINT', onSignal)
    await collector.close()
  }
}

async function sleep (ms: number, cancelled: () => boolean = () => false): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until && !cancelled()) await new Promise((resolve) => setTimeout(resolve, Math.min(200, until - Date.now())))
}

const num = (v: number | null | undefined, digits = 0): string => v === null || v === undefined ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const pct = (v: number | null | undefined): string => v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)} %`

/** The snapshot as text for a terminal ("–": not known, e.g. no running process to ask). */
export function formatStatus (s: StatusSnapshot): string {
  const lines: string[] = []
  const up = s.processes.filter((p) => p.up)
  lines.push(`pipeline ${s.prefix} on ${s.runner === 'embedded' ? `the embedded runner (${s.source})` : 'Kafka'} — ${new Date(s.at).toISOString()}`)
  lines.push(up.length
    ? `processes: ${s.processes.map((p) => `${p.topology ?? '?'}${p.pid ? ` pid ${p.pid}` : ''} ${p.up ? 'up' : `DOWN (${p.error ?? ''})`} ${p.metricsUrl}`).join('; ')}`
    : 'processes: none running (live figures –; durable figures below)')
  lines.push('')
  const header = ['stage', 'lag', 'done', 'rec/s', 'in flight', 'retries', 'dead', 'LLM p50/p95 ms', 'LLM tokens in/out', 'cache hits']
  const rows = s.stages.map((st) => [
    st.stage, num(st.lag), num(st.committed), num(st.throughputPerSec, 1), num(st.inFlight), num(st.retries), num(st.deadLetters),
    st.llm ? `${num(st.llm.latencyP50Ms)}/${num(st.llm.latencyP95Ms)}` : '', st.llm ? `${num(st.llm.promptTokens)}/${num(st.llm.completionTokens)}` : '', st.llm ? pct(st.llm.cacheHitRate) : '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  ').trimEnd()
  lines.push(line(header), ...rows.map(line))
  const dead = s.stages.filter((st) => st.deadLetters > 0)
  if (dead.length) lines.push(`dead letters: ${dead.map((st) => `${st.stage} ${st.deadLetterReasons.map((r) => `${r.errorClass} ${r.count}`).join(', ')}`).join('; ')} (synthq dlq summary)`)
  lines.push('')
  if (s.filter) {
    const f = s.filter
    lines.push(`filter: ${num(f.accepted)} of ${num(f.scored)} scored instructions reached ${f.minScore}/7 (acceptance ${pct(f.acceptanceRate)}); totals 0–7: ${f.scoreHistogram.join(' ')}`)
  } else lines.push('filter: no sink checkpoint yet')
  if (s.sample) {
    const m = s.sample
    lines.push(`sample: ${num(m.size)} of K ${num(m.k)} in ${m.topics.length} topics; balance ratio ${m.balanceRatio === null ? '–' : m.balanceRatio.toFixed(2)}, topic entropy ${m.topicEntropy.toFixed(3)} (${m.effectiveTopics.toFixed(1)} effective topics), Vendi ${m.vendi === null ? '–' : m.vendi.toFixed(2)}${m.simulated ? ' (SIMULATED vectors)' : ''}`)
    const top = [...m.topics].sort((a, b) => b.kept - a.kept).slice(0, 6)
    if (top.length) lines.push(`  largest topics: ${top.map((t) => `${t.label} ${t.kept}/${t.quota}`).join(' · ')}`)
  }
  lines.push(`LLM: ${num(s.llm.requests)} requests, ${num(s.llm.promptTokens)} prompt + ${num(s.llm.completionTokens)} completion tokens, $${s.llm.costUsd.toFixed(4)}, cache hit rate ${pct(s.llm.cacheHitRate)}`)
  lines.push('')
  const failed = s.health.checks.filter((c) => !c.ok)
  lines.push(failed.length ? `health: UNHEALTHY (${failed.length} of ${s.health.checks.length} checks failed)` : `health: ok (${s.health.checks.length} checks)`)
  for (const c of s.health.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.message}`)
  return lines.join('\n') + '\n'
}
