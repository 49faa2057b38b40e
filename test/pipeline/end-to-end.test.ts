/**
 * The attributed-grounding pipeline end to end, on both runners, with the LLM simulator over
 * HTTP and the embedded BM25 index: real prompts (OpenAssistant) and real documents (C4, math
 * Stack Exchange) go in; every document ends in a scored instruction, a dead letter or a
 * counted duplicate; every seed in a demonstration or a dead letter; and each scored
 * instruction's lineage links it to its document, its demonstrations, and the prompt versions
 * and models of every step.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { REPO_DATA } from '../../src/data-paths.ts'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import type { Lineage } from '../../src/processors/lineage.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { KafkaRunner } from '../../src/runtime/kafka/kafka-runner.ts'
import { Bm25Index } from '../../src/search/bm25-index.ts'
import { buildIndex } from '../../src/search/index-build.ts'
import { readDocuments } from '../../src/search/readers.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { DEFAULT_PIPELINE_OPTIONS } from '../../src/topologies/options.ts'
import { TOPOLOGIES } from '../../src/topologies/registry.ts'
import { llmStages } from '../../src/topologies/topology.ts'
import { readSinkContents, type SinkContents } from '../../src/sink/sample-store.ts'
import { readTopicToEnd as readRaw } from '../../src/runtime/kafka/read-topic.ts'
import { topicName, type TopicName } from '../../src/topics.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'
import { readTopicToEnd } from '../helpers/runners.ts'

interface Scored { id: string, instruction: string, total: number, document: { id: string }, lineage: Lineage }

let sim: LlmSim
let index: string
const seeds = readFileSync(join(REPO_DATA, 'seeds', 'oasst-prompts-en.jsonl'), 'utf8').trim().split('\n').slice(0, 80).map((l) => JSON.parse(l) as { id: string, prompt: string, source: string })
const arena = readFileSync(join(REPO_DATA, 'decontam', 'arena-hard-v0.1-questions.jsonl'), 'utf8').trim().split('\n').slice(0, 2).map((l) => JSON.parse(l) as { uid: string, prompt: string })
const docs: Array<{ id: string, text: string, url: string | null, title: string | null, corpus: string }> = []

before(async () => {
  sim = await startLlmSim()
  index = join(testTmpDir('e2e-index'), 'index.db')
  const bm25 = Bm25Index.open(index)
  await buildIndex(bm25, [join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'), join(REPO_DATA, 'seeds', 'squad-v2-dev-3articles.json')])
  await bm25.close()
  for (const [file, n] of [[join(REPO_DATA, 'web', 'c4-en-validation-600.jsonl'), 150], [join(REPO_DATA, 'math', 'math-stackexchange-200.jsonl'), 50]] as const) {
    let i = 0
    for await (const d of readDocuments(file, {}, { onReject: (r) => { throw new Error(`shipped data rejected: ${r.reason}`) } })) {
      if (i++ >= n) break
      docs.push({ id: d.id, text: d.text, url: d.url ?? null, title: d.title ?? null, corpus: d.corpus ?? 'unknown' })
    }
  }
})
after(async () => { await sim.close() })

function seedRecords (): Array<{ key: string, value: unknown }> {
  const real = seeds.map((s) => ({ key: s.id, value: { id: s.id, prompt: s.prompt, source: s.source, metadata: {}, ingested_at: Date.now() } }))
  // Benchmark prompts posing as seeds: decontamination must drop them, with the reason.
  const leaked = arena.map((a) => ({ key: `leak-${a.uid}`, value: { id: `leak-${a.uid}`, prompt: a.prompt, source: 'test', metadata: {}, ingested_at: Date.now() } }))
  return [...real, ...leaked]
}

function documentRecords (): Array<{ key: string, value: unknown }> {
  const value = (d: typeof docs[number], id = d.id): unknown => ({ id, text: d.text, url: d.url, title: d.title, corpus: d.corpus, license: null, metadata: {}, ingested_at: Date.now() })
  return [
    ...docs.map((d) => ({ key: d.id, value: value(d) })),
    { key: 'bad-empty', value: { ...value(docs[0]!, 'bad-empty') as object, text: ' \n\t ' } },
    { key: 'bad-short', value: { ...value(docs[0]!, 'bad-short') as object, text: 'Too short to ground anything.' } },
    // The same content under new ids, one with different spacing and case: exact duplicates.
    { key: 'dup-1', value: value(docs[1]!, 'dup-1') },
    { key: 'dup-2', value: { ...value(docs[2]!, 'dup-2') as object, text: `  ${docs[2]!.text.toUpperCase().replace(/ /g, '  ')} ` } },
  ]
}

/** Documents and their exact copies (see documentRecords). */
const DUPLICATE_PAIRS = (): string[][] => [[docs[1]!.id, 'dup-1'], [docs[2]!.id, 'dup-2']]

function llmClient (dbPath?: string): LlmClient {
  const stages = [...llmStages(TOPOLOGIES.attribution!(context())), ...llmStages(TOPOLOGIES.synthesis!(context()))]
  const settings = resolveLlmSettings({
    stages, env: {}, file: { defaults: { model: 'sim-chat-8b' } }, embeddingStages: ['sink'], fallbackEmbeddingModel: 'sim-embed-small',
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 64, initialConcurrency: 16, adaptiveConcurrency: true },
  })
  return new LlmClient({ settings, logger: testLogger(), ...(dbPath ? { dbPath } : {}) })
}

function context (): Parameters<NonNullable<typeof TOPOLOGIES.attribution>>[0] {
  return { options: { ...DEFAULT_PIPELINE_OPTIONS, demonstrations: { ...DEFAULT_PIPELINE_OPTIONS.demonstrations, resampleEvery: 10 } }, searchIndex: index, env: {} }
}

interface Reader {
  count (t: TopicName): Promise<number>
  all<T> (t: TopicName): Promise<Array<{ key: string | null, value: T }>>
}

async function waitFor (what: string, cond: () => Promise<boolean>, timeoutMs = 240_000): Promise<void> {
  const t0 = Date.now()
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

async function checkOutcome (r: Reader): Promise<void> {
  const letters = await r.all<{ stage: string, key: Buffer | null, message: string, error_class: string }>('deadLetters')
  const byStage = (stage: string): typeof letters => letters.filter((l) => l.value.stage === stage)

  // Attribution: every seed is a demonstration or a dead letter with its reason.
  const demos = await r.all<{ instruction_id: string, scene: string, lineage: Lineage }>('demonstrations')
  const demoIds = new Set(demos.map((d) => d.value.instruction_id))
  const attributionLetters = [...byStage('concept-extraction'), ...byStage('search-retrieval'), ...byStage('situation-grounding')]
  const letterKeys = new Set(letters.map((l) => l.key))
  for (const s of seedRecords()) assert.ok(demoIds.has(s.key) || letterKeys.has(s.key), `seed ${s.key} went missing`)
  assert.equal(demoIds.size + attributionLetters.length, seedRecords().length)
  for (const a of arena) {
    const l = letters.find((x) => x.key === `leak-${a.uid}`)
    assert.ok(l, `benchmark prompt ${a.uid} was not dropped`)
    assert.equal(l.value.error_class, 'Decontaminated')
    assert.match(l.value.message, new RegExp(`resembles arena-hard-v0.1-questions(\\.jsonl)? prompt ${a.uid}`))
  }
  assert.ok(demoIds.size >= seeds.length * 0.9, `most real seeds become demonstrations (${demoIds.size} of ${seeds.length})`)

  // Synthesis: every document is scored, dead-lettered, or one of the two exact duplicates.
  const scored = await r.all<Scored>('scoredInstructions')
  const scoredDocs = new Set(scored.map((s) => s.value.document.id))
  const synthesisLetters = [...byStage('document-hygiene'), ...byStage('situation-envisioning'), ...byStage('instruction-generation'), ...byStage('scoring')]
  for (const d of documentRecords()) {
    if (DUPLICATE_PAIRS().some((p) => p.includes(d.key))) continue
    assert.ok(scoredDocs.has(d.key) || letterKeys.has(d.key), `document ${d.key} went missing`)
  }
  // Of each pair with the same content, exactly one goes on — whichever came first (on Kafka,
  // partitions interleave, so it may be the copy).
  for (const pair of DUPLICATE_PAIRS()) assert.equal(pair.filter((k) => scoredDocs.has(k)).length, 1, `exactly one of ${pair.join(', ')} scored`)
  const hygiene = byStage('document-hygiene')
  for (const bad of ['bad-empty', 'bad-short']) assert.ok(hygiene.some((l) => l.key === bad), `${bad} rejected by hygiene`)
  // Real documents rejected too (short C4 pages): each with the figure that failed.
  for (const l of hygiene) assert.match(l.value.message, /^document \S+: (empty|too short: \d+ characters|oversize|mostly non-text|encoding damage)/, l.value.message)
  assert.ok(hygiene.length < docs.length * 0.1, `hygiene rejects few real documents (${hygiene.length})`)
  assert.equal(scored.length + synthesisLetters.length, docs.length + 2)
  assert.ok(scored.length >= docs.length * 0.9, `most documents end scored (${scored.length} of ${docs.length})`)

  // Lineage: document, demonstrations, prompt versions and models of every step.
  for (const { value: s } of scored) {
    assert.ok(documentRecords().some((d) => d.key === s.document.id), `scored ${s.document.id} is one of the documents sent`)
    assert.equal(s.lineage.simulated, true)
    assert.ok(s.lineage.demonstration_ids.length > 0, 'demonstrations recorded')
    for (const id of s.lineage.demonstration_ids) assert.ok(demoIds.has(id), `demonstration ${id} exists`)
    assert.ok(s.lineage.sampling_seed !== null)
    const steps = s.lineage.steps.map((x) => `${x.stage}:${x.prompt?.id ?? '-'}@${x.prompt?.version ?? '-'}:${x.model?.name ?? '-'}`)
    assert.deepEqual(steps, ['document-hygiene:-@-:-', 'situation-envisioning:situation-envisioning@1:sim-chat-8b', 'instruction-generation:instruction-generation@1:sim-chat-8b'])
    assert.deepEqual({ ...s.lineage.prompt }, { id: 'scoring', version: '2' })
    assert.ok(s.total >= 0 && s.total <= 7)
  }
}

/**
 * The sink read every scored instruction once and kept all that pass (K is far above their
 * number): the sample is the scored instructions with total ≥ 3, minus counted duplicates,
 * each with its topic and a lineage back to its scored instruction.
 */
async function checkSink (c: SinkContents, r: Reader): Promise<void> {
  const scored = await r.all<Scored>('scoredInstructions')
  assert.ok(c.state, 'the sink has checkpointed')
  const s = c.state
  assert.equal(s.counters.seen, scored.length, 'the sink read each scored instruction once')
  const eligible = scored.filter((x) => x.value.total >= 3)
  assert.equal(s.counters.dropped.below_min_score, scored.length - eligible.length)
  const dups = s.counters.dropped.duplicate_id + s.counters.dropped.duplicate_text
  assert.equal(c.rows.length, eligible.length - dups, `sample = eligible − duplicates (${eligible.length} − ${dups})`)
  assert.equal(c.missing, 0)
  const byId = new Map(scored.map((x) => [x.value.id, x.value]))
  const topics = new Set<number>()
  for (const row of c.rows) {
    const src = byId.get(row.id)
    assert.ok(src, `sample row ${row.id} is a scored instruction`)
    assert.equal(row.instruction, src.instruction)
    assert.ok(row.total >= 3)
    assert.equal(row.vectors, 'sim/sim-embed-small')
    assert.ok(row.topic_label.length > 0)
    assert.equal(row.lineage.stage, 'sink')
    assert.ok(row.lineage.upstream.some((u) => u.id === row.id), 'lineage points at the scored instruction')
    assert.equal(row.lineage.simulated, true)
    topics.add(row.topic)
  }
  assert.ok(topics.size >= 2, `instructions fall into several topics (${topics.size})`)
}

describe('end to end on the embedded runner', () => {
  test('attribution then synthesis: every input accounted for, lineage complete', async () => {
    const path = join(testTmpDir('e2e-embedded'), 'synthq.db')
    const llm = llmClient(path)
    const attr = new EmbeddedRunner(TOPOLOGIES.attribution!(context()), { path, logger: testLogger(), pollMs: 20, llm })
    const synth = new EmbeddedRunner(TOPOLOGIES.synthesis!(context()), { path, logger: testLogger(), pollMs: 20, llm })
    try {
      await attr.start()
      await attr.produce('realInstructions', seedRecords())
      await waitFor('attribution', async () => attr.idle())
      await synth.start()
      await synth.produce('documents', documentRecords())
      await waitFor('synthesis', async () => synth.idle() && attr.idle())
      const read = async <T>(t: TopicName): Promise<Array<{ key: string | null, value: T }>> => {
        const rows = synth.log.read(topicName(t), 0, 1e9)
        return await Promise.all(rows.map(async (x) => ({ key: x.key, value: await synth.serde.decode<T>(topicName(t), x.value) })))
      }
      await checkOutcome({ count: async (t) => synth.log.head(topicName(t)), all: read })
      // Fewer instructions than the topic warm-up: end of input releases them.
      await synth.flush()
      await waitFor('sink', async () => synth.idle())
      await checkSink(await readSinkContents(synth.serde, 'synthq', synth.log.scan(topicName('sample')), synth.log.scan(topicName('sinkState'))), { count: async (t) => synth.log.head(topicName(t)), all: read })
      const m = synth.metrics()
      assert.equal(m['document-hygiene']?.exactDuplicates, 2)
      assert.ok((m['situation-envisioning']?.prefixReuseShare ?? 0) > 0.3, `prompts share their prefix within a draw (${m['situation-envisioning']?.prefixReuseShare})`)
    } finally {
      await synth.stop()
      await attr.stop()
      await llm.close()
    }
  })
})

describe('end to end on Kafka (exactly-once, registry-encoded Avro)', () => {
  test('attribution then synthesis: every input accounted for, lineage complete', async () => {
    const infra = testInfra()
    const prefix = unique('e2e')
    const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
    const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'e2e' }, testLogger())
    const llm = llmClient()
    const make = (name: 'attribution' | 'synthesis'): KafkaRunner => new KafkaRunner(TOPOLOGIES[name]!(context()), {
      connection: { brokers: infra.bootstrap, clientId: `e2e-${name}` }, serde, logger: testLogger(), prefix, topics: { partitions: 3 }, commitIntervalMs: 50, llm,
    })
    const attr = make('attribution')
    const synth = make('synthesis')
    const producer = kafka.producer({ idempotent: true })
    const read = async <T>(t: TopicName): Promise<Array<{ key: string | null, value: T }>> => {
      const rows = await readTopicToEnd(kafka, topicName(t, prefix))
      return await Promise.all(rows.map(async (x) => ({ key: x.key, value: await serde.decode<T>(topicName(t, prefix), x.value) })))
    }
    const count = async (t: TopicName): Promise<number> => (await readTopicToEnd(kafka, topicName(t, prefix))).length
    const send = async (t: TopicName, records: Array<{ key: string, value: unknown }>): Promise<void> => {
      const topic = topicName(t, prefix)
      await producer.send({ topic, messages: await Promise.all(records.map(async (r) => ({ key: r.key, value: await serde.encode(topic, r.value) }))) })
    }
    try {
      await attr.start()
      await producer.connect()
      await send('realInstructions', seedRecords())
      const accounted = async (keys: string[], outputs: TopicName, idOf: (v: Record<string, unknown>) => string): Promise<boolean> => {
        const done = new Set([...(await read<Record<string, unknown>>(outputs)).map((r) => idOf(r.value)), ...(await read<unknown>('deadLetters')).map((r) => r.key)])
        return keys.every((k) => done.has(k))
      }
      await waitFor('attribution', async () => await accounted(seedRecords().map((r) => r.key), 'demonstrations', (v) => v.instruction_id as string))
      await synth.start()
      await send('documents', documentRecords())
      const docKeys = documentRecords().filter((r) => !DUPLICATE_PAIRS().flat().includes(r.key)).map((r) => r.key)
      await waitFor('synthesis', async () => await accounted(docKeys, 'scoredInstructions', (v) => (v.document as { id: string }).id)).catch(async (err: Error) => {
        // Where did the missing documents stop?
        const where = async (t: TopicName, idOf: (v: Record<string, unknown>) => string): Promise<Set<string>> => new Set((await read<Record<string, unknown>>(t)).map((r) => idOf(r.value)))
        const stages = {
          clean: await where('cleanDocuments', (v) => v.id as string),
          situations: await where('situations', (v) => (v.document as { id: string }).id),
          synthesized: await where('synthesizedInstructions', (v) => (v.document as { id: string }).id),
          scored: await where('scoredInstructions', (v) => (v.document as { id: string }).id),
          dlq: new Set((await read<unknown>('deadLetters')).map((r) => r.key ?? '')),
        }
        const missing = docKeys.filter((k) => !stages.scored.has(k) && !stages.dlq.has(k)).map((k) => `${k}: ${Object.entries(stages).filter(([, v]) => v.has(k)).map(([n]) => n).join(',') || 'nowhere'}`)
        throw new Error(`${err.message}; missing ${missing.length}: ${missing.slice(0, 10).join(' | ')}; ${JSON.stringify(synth.stats())}`)
      })
      await checkOutcome({ count, all: read })
      const scoredCount = (await read<unknown>('scoredInstructions')).length
      await waitFor('sink', async () => synth.metrics().sink?.seen === scoredCount)
      await synth.flush()
      // A committed transaction becomes readable (read_committed) once its markers are written,
      // which the broker does after the commit returns: read until the flushed sample shows.
      let contents = await readSinkContents(serde, prefix, [], [])
      await waitFor('the flushed sample', async () => {
        const state = await readRaw(kafka, topicName('sinkState', prefix))
        const sample = await readRaw(kafka, topicName('sample', prefix))
        contents = await readSinkContents(serde, prefix, sample, state)
        return (contents.state?.pending.length ?? 1) === 0 && contents.missing === 0
      }, 60_000)
      await checkSink(contents, { count, all: read })
    } finally {
      await producer.disconnect()
      await synth.stop()
      await attr.stop()
      await llm.close()
    }
  })
})
