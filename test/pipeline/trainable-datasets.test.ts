/**
 * Synthesis to the end with responses and preference pairs, on the embedded runner with the LLM
 * simulator over HTTP, then `synthq export --format sft|alpaca|dpo` (JSON lines and Parquet),
 * loaded by a real consumer: PyArrow, in the interop venv.
 *
 * On the way it checks what the issue asks of the response stage: with K smaller than the
 * instructions scored, the sink evicts; the responses topic's latest values are exactly the
 * current sample's members (tombstones followed the evictions), and so are the pairs' and the
 * verdicts'; every verdict was asked in both orders.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { readTrainableSource } from '../../src/cli/export.ts'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings, SIM_STAGE_MODELS } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { readDocuments } from '../../src/search/readers.ts'
import { exportTrainable } from '../../src/sink/export/trainable.ts'
import { REPO_DATA } from '../../src/data-paths.ts'
import { pipelineOptions } from '../../src/topologies/options.ts'
import { synthesisTopology } from '../../src/topologies/synthesis.ts'
import { embeddingStages, llmStages, stageNames } from '../../src/topologies/topology.ts'
import { topicName, type TopicName } from '../../src/topics.ts'
import { interopPython, testTmpDir } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { demonstration } from '../helpers/test-topology.ts'

let sim: LlmSim
before(async () => { sim = await startLlmSim({}) })
after(async () => { await sim.close() })

async function untilIdle (runner: EmbeddedRunner): Promise<void> {
  const deadline = Date.now() + 180_000
  while (!runner.idle()) {
    assert.ok(Date.now() < deadline, 'synthesis did not become idle within 180 s')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Latest non-null keys of a topic. */
function liveKeys (runner: EmbeddedRunner, t: TopicName): string[] {
  const m = new Map<string, boolean>()
  for (const r of runner.log.read(topicName(t), 0, 1e9)) if (r.key !== null) m.set(r.key, r.value !== null)
  return [...m].filter(([, v]) => v).map(([k]) => k).sort()
}

const PYARROW = String.raw`
import json, sys
import pyarrow.parquet as pq, pyarrow.json as pj
out = {}
for name, path in json.loads(sys.argv[1]).items():
    t = pq.read_table(path) if path.endswith('.parquet') else pj.read_json(path)
    rows = t.to_pylist()
    out[name] = {'rows': t.num_rows, 'columns': t.schema.names, 'types': {f.name: str(f.type) for f in t.schema}, 'first': rows[0] if rows else None}
print(json.dumps(out))
`

test('synthesis with responses and preference pairs ends in SFT and DPO datasets that PyArrow loads', async () => {
  const dir = testTmpDir('trainable-datasets')
  const path = join(dir, 'synthq.db')
  const options = pipelineOptions(undefined, {
    sink: { k: 12, topics: { warmup: 8 }, checkpointIntervalMs: 200, checkpointRecords: 10 },
    responses: { enabled: true, preferences: true },
  })
  const topology = synthesisTopology({ options })
  assert.deepEqual(stageNames(topology).slice(-4), ['response', 'response-b', 'judge', 'sink'])
  const settings = resolveLlmSettings({
    stages: llmStages(topology), embeddingStages: embeddingStages(topology), env: {},
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 64, initialConcurrency: 16, adaptiveConcurrency: true },
    fallbackModel: 'sim-chat-8b', fallbackStageModels: SIM_STAGE_MODELS, fallbackEmbeddingModel: 'sim-embed-small',
  })
  assert.equal(settings.stage('response-b').model, 'sim-chat-70b', 'on the simulator the second responder is another model')
  const llm = new LlmClient({ settings, logger: testLogger(), dbPath: path })
  await llm.preflight()
  const runner = new EmbeddedRunner(topology, { path, logger: testLogger(), pollMs: 20, llm })
  await runner.start()
  let stats: Record<string, Record<string, number>>
  try {
    await runner.produce('demonstrations', ['d1', 'd2', 'd3'].map((id) => ({ key: id, value: demonstration(id) })))
    const docs: Array<{ key: string, value: unknown }> = []
    for await (const d of readDocuments(join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'), {}, { onReject: (r) => { throw new Error(`shipped data rejected: ${r.reason}`) } })) {
      docs.push({ key: d.id, value: { id: d.id, text: d.text, url: d.url ?? null, title: d.title ?? null, corpus: d.corpus ?? 'c4', license: null, metadata: {}, ingested_at: Date.now() } })
      if (docs.length === 40) break
    }
    await runner.produce('documents', docs)
    await untilIdle(runner)
    await runner.flush()
    await untilIdle(runner)

    // The responses (and pairs, and verdicts) answer the current sample: no more, no fewer.
    const members = liveKeys(runner, 'sample')
    assert.equal(members.length, 12)
    assert.ok(runner.log.read(topicName('sample'), 0, 1e9).some((r) => r.value === null), 'the sink evicted some instructions')
    assert.deepEqual(liveKeys(runner, 'responses'), members)
    assert.deepEqual(liveKeys(runner, 'responsePairs'), members)
    assert.deepEqual(liveKeys(runner, 'preferences'), members)
    assert.equal(runner.log.read(topicName('deadLetters'), 0, 1e9).filter((r) => /response|judge/.test(r.key ?? '')).length, 0)
    stats = runner.metrics()
    const usage = llm.stats().stages
    assert.equal(usage.judge?.calls, 2 * (stats.judge!.preferred! + stats.judge!.ties! + stats.judge!.inconsistent!), 'each pair judged in both orders')
  } finally {
    await runner.stop()
    await llm.close()
  }

  const { trainable } = await readTrainableSource({ runner: 'embedded', db: path, prefix: 'synthq' }, testLogger())
  const files: Record<string, string> = {}
  const counts: Record<string, number> = {}
  for (const [format, file] of [['sft', 'jsonl'], ['sft', 'parquet'], ['alpaca', 'parquet'], ['dpo', 'jsonl'], ['dpo', 'parquet']] as const) {
    const out = join(dir, `${format}-${file}`)
    const r = exportTrainable(trainable, { outDir: out, format, file })
    files[`${format}-${file}`] = join(out, r.files[0]!)
    counts[`${format}-${file}`] = r.rows
  }
  assert.equal(counts['sft-jsonl'], 12)
  assert.ok(counts['dpo-jsonl']! > 0, 'some pairs were preferred in both orders')

  const py = spawnSync(interopPython(), ['-c', PYARROW, JSON.stringify(files)], { encoding: 'utf8' })
  assert.equal(py.status, 0, py.stderr)
  const loaded = JSON.parse(py.stdout) as Record<string, { rows: number, columns: string[], types: Record<string, string>, first: Record<string, unknown> }>
  for (const [k, n] of Object.entries(counts)) assert.equal(loaded[k]!.rows, n, `${k}: PyArrow reads every row`)
  const sft = loaded['sft-parquet']!
  assert.match(sft.types.messages!, /^list<element: struct<role: string not null, content: string not null>/)
  const messages = sft.first.messages as Array<{ role: string, content: string }>
  assert.deepEqual(messages.map((m) => m.role), ['user', 'assistant'])
  assert.ok(messages[1]!.content.length > 20)
  assert.equal(sft.first.simulated, true)
  assert.deepEqual(loaded['alpaca-parquet']!.columns.slice(0, 4), ['id', 'instruction', 'input', 'output'])
  for (const k of ['dpo-jsonl', 'dpo-parquet']) {
    const d = loaded[k]!
    assert.deepEqual(d.columns.slice(0, 4), ['id', 'prompt', 'chosen', 'rejected'])
    assert.notEqual(d.first.chosen, d.first.rejected)
  }
})
