import assert from 'node:assert/strict'
import { test } from 'node:test'
import { histogramQuantile, parseExposition, sumOf } from '../../src/metrics/exposition.ts'
import { channels } from '../../src/diagnostics/channels.ts'
import { PipelineMetrics } from '../../src/metrics/pipeline-metrics.ts'

test('parses samples with escaped label values, +Inf and timestamps', () => {
  const s = parseExposition([
    '# HELP x_total A counter',
    '# TYPE x_total counter',
    'x_total{stage="a",why="say \\"hi\\"\\nnow"} 3',
    'x_total{stage="b"} 4 1700000000000',
    'y_bucket{le="+Inf",stage="a"} 7',
    'plain 1.5e3',
  ].join('\n'))
  assert.deepEqual(s.map((x) => x.name), ['x_total', 'x_total', 'y_bucket', 'plain'])
  assert.equal(s[0]!.labels.why, 'say "hi"\nnow')
  assert.equal(s[1]!.value, 4)
  assert.equal(s[2]!.labels.le, '+Inf')
  assert.equal(s[3]!.value, 1500)
  assert.equal(sumOf(s, 'x_total'), 7)
  assert.equal(sumOf(s, 'x_total', { stage: 'b' }), 4)
})

test('histogram quantiles of prom-client output match the observations, per label set', async () => {
  const m = new PipelineMetrics({ processMetrics: false })
  // 100 requests of stage a: 50 at 0.3 s, 45 at 1.5 s, 5 at 10 s; stage b: all at 40 s.
  for (let i = 0; i < 50; i++) m.request({ stage: 'a', model: 'm', endpoint: 'e', kind: 'chat', outcome: 'ok', seconds: 0.3 })
  for (let i = 0; i < 45; i++) m.request({ stage: 'a', model: 'm', endpoint: 'e', kind: 'chat', outcome: 'ok', seconds: 1.5 })
  for (let i = 0; i < 5; i++) m.request({ stage: 'a', model: 'm', endpoint: 'e', kind: 'chat', outcome: 'ok', seconds: 10 })
  for (let i = 0; i < 10; i++) m.request({ stage: 'b', model: 'm', endpoint: 'e', kind: 'chat', outcome: 'ok', seconds: 40 })
  m.request({ stage: 'a', model: 'm', endpoint: 'e', kind: 'chat', outcome: 'connection failed (ECONNRESET)', seconds: 0.01 })
  const s = parseExposition(await m.text())
  const p50 = histogramQuantile(s, 'synthq_llm_request_duration_seconds', 0.5, { stage: 'a' })!
  const p95 = histogramQuantile(s, 'synthq_llm_request_duration_seconds', 0.95, { stage: 'a' })!
  assert.ok(p50 > 0.25 && p50 <= 0.5, `p50 ${p50} in the 0.25–0.5 bucket`)
  assert.ok(p95 > 1 && p95 <= 2, `p95 ${p95} in the 1–2 bucket`)
  const b = histogramQuantile(s, 'synthq_llm_request_duration_seconds', 0.5, { stage: 'b' })!
  assert.ok(b > 30 && b <= 60, `stage b p50 ${b}`)
  assert.equal(histogramQuantile(s, 'synthq_llm_request_duration_seconds', 0.5, { stage: 'none' }), null)
  assert.equal(sumOf(s, 'synthq_llm_requests_total', { stage: 'a', outcome: 'ok' }), 100)
  assert.equal(sumOf(s, 'synthq_llm_requests_total', { stage: 'a', outcome: 'connection failed' }), 1, 'failure reasons are labels without their detail')
})

test('pulled counters advance by differences between scrapes; gauges follow the runner', async () => {
  const m = new PipelineMetrics({ processMetrics: false })
  const stats = { scoring: { processed: 5, deadLettered: 1, inFlight: 3, queued: 2, skipped: 0 } }
  m.addRunner('synthesis', { stats: () => stats, metrics: () => ({ scoring: { total_6: 4, nan: Number.NaN } }) })
  const record = { stage: 'scoring', topology: 'synthesis', runner: 'embedded', runId: 'r', topic: 'synthq.instructions.synthesized', partition: 0, offset: '7', outputs: 1 } as const
  channels.stageRecord.publish({ ...record, outcome: 'processed', attempts: 3, durationMs: 200 })
  // Not record durations: a skipped record, and a stateful stage's record (its batch's time).
  channels.stageRecord.publish({ ...record, outcome: 'skipped', outputs: 0, attempts: 0, durationMs: 0 })
  channels.stageRecord.publish({ ...record, outcome: 'processed', attempts: 1, durationMs: 50, batchSize: 10 })
  m.close()
  channels.stageRecord.publish({ ...record, outcome: 'filtered', attempts: 2, durationMs: 1 })
  let s = parseExposition(await m.text())
  assert.equal(sumOf(s, 'synthq_stage_records_total', { stage: 'scoring', outcome: 'processed' }), 5)
  assert.equal(sumOf(s, 'synthq_stage_in_flight', { stage: 'scoring' }), 3)
  assert.equal(sumOf(s, 'synthq_stage_retries_total', { stage: 'scoring' }), 2, 'three attempts = two retries')
  assert.equal(sumOf(s, 'synthq_processor_figure', { stage: 'scoring', figure: 'total_6' }), 4)
  assert.equal(s.filter((x) => x.labels.figure === 'nan').length, 0, 'non-finite figures are left out')
  stats.scoring = { ...stats.scoring, processed: 12, inFlight: 0 }
  s = parseExposition(await m.text())
  assert.equal(sumOf(s, 'synthq_stage_records_total', { stage: 'scoring', outcome: 'processed' }), 12, 'a scrape later: the runner’s total, not a sum of totals')
  assert.equal(sumOf(s, 'synthq_stage_in_flight', { stage: 'scoring' }), 0)
  assert.equal(sumOf(s, 'synthq_stage_record_duration_seconds_count', { stage: 'scoring' }), 1, 'one record duration; nothing after close()')
  assert.equal(sumOf(s, 'synthq_stage_record_duration_seconds_sum', { stage: 'scoring', outcome: 'processed' }), 0.2)
})

test('a lag source that fails or hangs costs the lag series only: the scrape still answers, the last figures stay', async () => {
  const m = new PipelineMetrics({ processMetrics: false, info: { topology: 'synthesis', prefix: 'synthq', version: '0.1.0' } })
  m.addRunner('synthesis', { stats: () => ({ scoring: { processed: 5, deadLettered: 0, inFlight: 0, queued: 0, commits: 3 } }), metrics: () => ({}) })
  let mode: 'ok' | 'throw' = 'ok'
  m.setLagSource(async () => {
    if (mode === 'throw') throw new Error('broker unreachable')
    return [{ stage: 'scoring', topic: 'synthq.instructions.synthesized', lag: 42 }]
  })
  let s = parseExposition(await m.text())
  assert.equal(sumOf(s, 'synthq_stage_lag_records', { stage: 'scoring' }), 42)
  mode = 'throw'
  s = parseExposition(await m.text())
  assert.equal(sumOf(s, 'synthq_stage_lag_records', { stage: 'scoring' }), 42, 'the last lag stays')
  assert.equal(sumOf(s, 'synthq_stage_lag_errors_total'), 1)
  assert.equal(sumOf(s, 'synthq_stage_records_total', { stage: 'scoring', outcome: 'processed' }), 5, 'the other series are served')
  assert.equal(sumOf(s, 'synthq_stage_runtime_figure', { stage: 'scoring', figure: 'commits' }), 3)
  assert.equal(sumOf(s, 'synthq_process_info', { topology: 'synthesis', prefix: 'synthq' }), 1)
})
