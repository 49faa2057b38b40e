/**
 * `synthq status` figures against a known run on the embedded runner: the whole method on 30
 * real prompts and 60 real documents (2 of them unusable) with the LLM simulator; every figure
 * the snapshot reports is recounted here from the database and the simulator's own counters.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { REPO_DATA } from '../../src/data-paths.ts'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { processEndpoint, type ProcessEndpoint } from '../../src/metrics/process-endpoint.ts'
import { StatusCollector } from '../../src/ops/status.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { Bm25Index } from '../../src/search/bm25-index.ts'
import { buildIndex } from '../../src/search/index-build.ts'
import { readDocuments } from '../../src/search/readers.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import { TOPOLOGIES } from '../../src/topologies/registry.ts'
import { embeddingStages, llmStages } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'synthq.js')
const dir = testTmpDir('status-embedded')
const db = join(dir, 'synthq.db')
const runDir = join(dir, 'run')
const prefix = 'synthq'
let sim: LlmSim
let llm: LlmClient
let endpoint: ProcessEndpoint
let attr: EmbeddedRunner
let synth: EmbeddedRunner

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

before(async () => {
  sim = await startLlmSim()
  const index = join(dir, 'index.db')
  const bm25 = Bm25Index.open(index)
  await buildIndex(bm25, [join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'), join(REPO_DATA, 'seeds', 'squad-v2-dev-3articles.json')])
  await bm25.close()
  process.env.SYNTHQ_SEARCH_INDEX = index
  const options = { ...DEFAULT_PIPELINE_OPTIONS, sink: { ...DEFAULT_PIPELINE_OPTIONS.sink, k: 20, topics: { ...DEFAULT_PIPELINE_OPTIONS.sink.topics, warmup: 10 } } }
  const context = { options, searchIndex: index }
  const attribution = TOPOLOGIES.attribution!(context)
  const synthesis = TOPOLOGIES.synthesis!(context)
  const logger = testLogger()
  endpoint = processEndpoint({ enabled: true, host: '127.0.0.1', port: 0 }, { runner: 'embedded' }, logger)
  const settings = resolveLlmSettings({ stages: [...llmStages(attribution), ...llmStages(synthesis)], embeddingStages: embeddingStages(synthesis), fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 64, initialConcurrency: 16, adaptiveConcurrency: true }, fallbackModel: 'sim-chat-8b', fallbackEmbeddingModel: 'sim-embed-small' })
  llm = new LlmClient({ settings, logger, dbPath: db, observer: endpoint.metrics })
  const common = { path: db, logger, prefix, llm }
  attr = new EmbeddedRunner(attribution, common)
  synth = new EmbeddedRunner(synthesis, common)
  await attr.start()
  await synth.start()
  endpoint.metrics.addRunner('attribution', attr)
  endpoint.metrics.addRunner('synthesis', synth)
  endpoint.metrics.addLlm(llm)
  process.env.SYNTHQ_RUN_DIR = runDir
  await endpoint.start({ topologies: ['attribution', 'synthesis'], prefix, runner: attr })

  const seeds = readFileSync(join(REPO_DATA, 'seeds', 'oasst-prompts-en.jsonl'), 'utf8').trim().split('\n').slice(0, 30).map((l) => JSON.parse(l) as { id: string, prompt: string, source: string })
  await attr.produce('realInstructions', seeds.map((s) => ({ key: s.id, value: { id: s.id, prompt: s.prompt, source: s.source, metadata: {}, ingested_at: Date.now() } })))
  while (!attr.idle()) await sleep(50)
  const docs: Array<{ key: string, value: unknown }> = []
  for await (const d of readDocuments(join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'), {}, { onReject: () => {} })) {
    if (docs.length >= 60) break
    docs.push({ key: d.id, value: { id: d.id, text: d.text, url: d.url ?? null, title: null, corpus: 'c4', license: null, metadata: {}, ingested_at: Date.now() } })
  }
  docs.push({ key: 'bad-1', value: { id: 'bad-1', text: '   ', url: null, title: null, corpus: 'c4', license: null, metadata: {}, ingested_at: Date.now() } })
  docs.push({ key: 'bad-2', value: { id: 'bad-2', text: 'Too short.', url: null, title: null, corpus: 'c4', license: null, metadata: {}, ingested_at: Date.now() } })
  await synth.produce('documents', docs)
  while (!(attr.idle() && synth.idle())) await sleep(50)
  await synth.flush()
})

after(async () => {
  await endpoint?.close()
  await synth?.stop()
  await attr?.stop()
  await llm?.close()
  await sim?.close()
  delete process.env.SYNTHQ_RUN_DIR
  delete process.env.SYNTHQ_SEARCH_INDEX
})

test('every figure of a snapshot equals what the database and the simulator hold', async () => {
  const collector = new StatusCollector({ runner: 'embedded', db, prefix, runDir }, testLogger())
  try {
    const first = await collector.collect()
    await sleep(300)
    const s = await collector.collect()
    const log = synth.log

    // The running process was found and scraped; it is idle, so live figures are real zeros.
    assert.equal(s.processes.length, 1)
    assert.equal(s.processes[0]!.pid, process.pid)
    assert.ok(s.processes[0]!.up)
    assert.equal(s.processes[0]!.topology, 'attribution+synthesis')
    assert.ok(first.stages.every((st) => st.throughputPerSec === null || st.throughputPerSec === 0), 'no throughput from a single scrape')

    // Lag and committed positions: every stage read its whole input.
    for (const st of s.stages) {
      assert.equal(st.lag, 0, `${st.stage} lag`)
      assert.equal(st.committed, log.head(st.input), `${st.stage} committed = records of ${st.input}`)
      assert.equal(st.consumers, 1)
      assert.equal(st.inFlight, 0)
      assert.equal(st.throughputPerSec, 0, `${st.stage} is idle`)
      assert.equal(st.retries, 0)
    }
    assert.equal(s.stages.find((x) => x.stage === 'document-hygiene')!.committed, 62)

    // Dead letters: recounted from the topic, by stage and class.
    const dlq = topicName('deadLetters', prefix)
    const letters = new Map<string, number>()
    for (const r of log.scan(dlq)) {
      const l = await synth.serde.decode<{ stage: string, error_class: string }>(dlq, r.value)
      letters.set(`${l.stage}/${l.error_class}`, (letters.get(`${l.stage}/${l.error_class}`) ?? 0) + 1)
    }
    const reported = new Map(s.stages.flatMap((st) => st.deadLetterReasons.map((r) => [`${st.stage}/${r.errorClass}`, r.count] as const)))
    assert.deepEqual(reported, letters)
    assert.ok((letters.get('document-hygiene/DocumentRejected') ?? 0) >= 2, 'the two unusable documents')

    // LLM: requests and tokens from the ledger, which must match what the simulator served.
    const simStats = sim.stats()
    const served = (simStats.requests.byPath['/v1/chat/completions'] ?? 0) + (simStats.requests.byPath['/v1/embeddings'] ?? 0)
    assert.equal(s.llm.requests, served, 'requests in the snapshot = requests the simulator answered')
    assert.ok(s.llm.promptTokens > 0 && s.llm.completionTokens > 0)
    const scoring = s.stages.find((x) => x.stage === 'scoring')!
    assert.equal(scoring.llm!.requests, log.head(topicName('synthesizedInstructions', prefix)), 'one scoring request per synthesized instruction')
    assert.ok(scoring.llm!.latencyP50Ms! > 0 && scoring.llm!.latencyP95Ms! >= scoring.llm!.latencyP50Ms!)
    assert.equal(scoring.llm!.cacheHitRate, 0)

    // Filter and histogram: recounted from the scored topic.
    const scoredTopic = topicName('scoredInstructions', prefix)
    const hist = new Array<number>(8).fill(0)
    for (const r of log.scan(scoredTopic)) hist[(await synth.serde.decode<{ total: number }>(scoredTopic, r.value)).total]!++
    assert.deepEqual(s.filter!.scoreHistogram, hist)
    assert.equal(s.filter!.scored, log.head(scoredTopic))
    assert.equal(s.filter!.accepted, hist.slice(3).reduce((a, b) => a + b, 0))

    // Sample: its size is the live rows of the sample topic.
    let rows = 0
    for (const r of log.scan(topicName('sample', prefix))) if (r.value !== null) rows++
    assert.equal(s.sample!.size, rows)
    assert.equal(s.sample!.k, 20)
    assert.equal(s.sample!.topics.reduce((n, t) => n + t.kept, 0), rows)
    assert.ok(s.sample!.simulated)

    // The newest instructions, newest first, with lineage.
    assert.equal(s.latest.length, Math.min(20, log.head(scoredTopic)))
    assert.ok(s.latest.every((l) => l.simulated && l.steps.some((x) => x.startsWith('situation-envisioning@'))))
    assert.ok(s.health.healthy, JSON.stringify(s.health))
  } finally {
    await collector.close()
  }
})

test('synthq status exits 3 and says why when records wait with nothing running, or a process is gone', async () => {
  const env = { ...process.env, SYNTHQ_RUN_DIR: join(dir, 'empty-run-dir'), SYNTHQ_LOG_LEVEL: 'error' }
  // Nothing announced in this run dir: the 62 processed documents are fine, one more waiting is not.
  let r = spawnSync(process.execPath, [CLI, 'status', '--db', db, '--window', '0'], { encoding: 'utf8', env })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /processes: none running/)
  assert.match(r.stdout, /health: ok/)
  await synth.stop() // so the new document stays unread
  const { EmbeddedLog } = await import('../../src/runtime/embedded/embedded-log.ts')
  const other = new EmbeddedLog(db)
  other.append([{ topic: topicName('documents', prefix), key: 'late', value: Buffer.from([0, 0, 0, 0, 1]) }])
  other.close()
  r = spawnSync(process.execPath, [CLI, 'status', '--db', db, '--window', '0'], { encoding: 'utf8', env })
  assert.equal(r.status, 3, r.stdout + r.stderr)
  assert.match(r.stdout, /FAIL stalled: document-hygiene: 1 records wait in synthq\.documents and no synthq process runs synthesis/)

  // A process announced but not answering.
  mkdirSync(join(dir, 'empty-run-dir'), { recursive: true })
  writeFileSync(join(dir, 'empty-run-dir', 'gone.json'), JSON.stringify({ pid: process.pid, metricsUrl: 'http://127.0.0.1:9/metrics', topology: 'synthesis', runner: 'embedded', db, prefix, startedAt: Date.now() }))
  r = spawnSync(process.execPath, [CLI, 'status', '--db', db, '--window', '0', '--json'], { encoding: 'utf8', env })
  assert.equal(r.status, 3)
  const snap = JSON.parse(r.stdout) as { health: { checks: Array<{ name: string, ok: boolean }> }, processes: Array<{ up: boolean }> }
  assert.ok(snap.health.checks.some((c) => c.name === 'process_down' && !c.ok))
  assert.equal(snap.processes[0]!.up, false)

  r = spawnSync(process.execPath, [CLI, 'status', '--db', join(dir, 'nope.db')], { encoding: 'utf8', env })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /no synthq database at .*nope\.db: run `npm start`/)
  r = spawnSync(process.execPath, [CLI, 'status', '--window', 'soon'], { encoding: 'utf8', env })
  assert.equal(r.status, 2, r.stderr)
})

test('a collector asked before the database exists reports it, and works once it is there', async () => {
  const later = join(dir, 'later.db')
  const c = new StatusCollector({ runner: 'embedded', db: later, prefix, runDir: join(dir, 'later-run') }, testLogger())
  try {
    await assert.rejects(c.collect(), /no synthq database at .*later\.db/)
    const { EmbeddedLog } = await import('../../src/runtime/embedded/embedded-log.ts')
    new EmbeddedLog(later).close()
    const s = await c.collect()
    assert.equal(s.source, later)
    assert.ok(s.stages.every((st) => st.lag === 0 && st.committed === 0))
    assert.equal(s.sample, null)
  } finally {
    await c.close()
  }
})
