/**
 * Data-driven topology tests, in the manner of Benthos' YAML tests and Kafka Streams'
 * TopologyTestDriver: each file in test/topologies/fixtures/ names a topology (and optionally
 * some of its stages), pipeline options, table rows, scripted LLM answers, input records and the
 * records expected on each output topic. The topology runs in-process on the embedded runner
 * (SQLite in a temporary folder; no server), until every stage is idle and the stateful stages
 * are flushed; then each listed topic is decoded and compared. The format is in docs/testing.md.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { createLogger } from '../../src/log.ts'
import { ScriptedLlm } from '../../src/processors/testing/index.ts'
import { EmbeddedRunner } from '../../src/runtime/embedded/embedded-runner.ts'
import { pipelineOptions } from '../../src/topologies/options.ts'
import { TOPOLOGIES } from '../../src/topologies/registry.ts'
import { topicName, TOPICS, type TopicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'

const DIR = new URL('./fixtures/', import.meta.url)

interface Keyed { key?: string, value?: unknown }
interface Fixture {
  name: string
  topology: string
  stages?: string[]
  pipeline?: Parameters<typeof pipelineOptions>[1]
  tables?: Partial<Record<TopicName, Keyed[]>>
  llm?: Array<{ prompt: string, stage?: string, when?: string, answer: unknown }>
  input: Partial<Record<TopicName, Keyed[]>>
  expect: Partial<Record<TopicName, Array<Keyed & Record<string, unknown>>>>
}

/** `expected` within `actual`: listed fields only; arrays element by element; "/re/" strings as regular expressions. */
function matches (actual: unknown, expected: unknown, path: string): string[] {
  if (typeof expected === 'string' && /^\/.*\/$/s.test(expected)) {
    return typeof actual === 'string' && new RegExp(expected.slice(1, -1)).test(actual) ? [] : [`${path}: ${JSON.stringify(actual)} does not match ${expected}`]
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [`${path}: ${JSON.stringify(actual)} is not ${expected.length} item(s) like ${JSON.stringify(expected)}`]
    return expected.flatMap((e, i) => matches(actual[i], e, `${path}[${i}]`))
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return [`${path}: ${JSON.stringify(actual)} is not an object`]
    return Object.entries(expected).flatMap(([k, e]) => matches((actual as Record<string, unknown>)[k], e, `${path}.${k}`))
  }
  return Object.is(actual, expected) ? [] : [`${path}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`]
}

function scriptedLlm (f: Fixture): ScriptedLlm {
  const llm = new ScriptedLlm()
  // One rule per prompt (and stage): the first `when` found in the request's last message wins.
  const groups = new Map<string, Fixture['llm']>()
  for (const a of f.llm ?? []) groups.set(`${a.stage ?? ''}\u0000${a.prompt}`, [...groups.get(`${a.stage ?? ''}\u0000${a.prompt}`) ?? [], a])
  for (const rules of groups.values()) {
    const { prompt, stage } = rules![0]!
    llm.answer(prompt, (req) => {
      const asked = req.messages.at(-1)?.content ?? ''
      const rule = rules!.find((r) => r.when === undefined || asked.includes(r.when))
      if (!rule) throw new Error(`fixture ${f.name}: no answer for prompt ${prompt} matches this request: ${asked.slice(0, 200)}`)
      return structuredClone(rule.answer)
    }, stage ? { stage } : {})
  }
  return llm
}

async function untilIdle (runner: EmbeddedRunner, what: string): Promise<void> {
  // idle(): every stage has nothing running, queued or unread — a state, not a guess about time.
  const deadline = Date.now() + 120_000
  while (!runner.idle()) {
    assert.ok(Date.now() < deadline, `${what}: the topology did not become idle within 120 s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function run (f: Fixture): Promise<void> {
  const topology = TOPOLOGIES[f.topology]!({ options: pipelineOptions(undefined, f.pipeline ?? {}), searchIndex: join(testTmpDir('fixture-index'), 'none.db') })
  const llm = scriptedLlm(f)
  const runner = new EmbeddedRunner(topology, { path: join(testTmpDir('fixture'), 'synthq.db'), logger: createLogger({ level: 'silent' }), pollMs: 10, llm, ...(f.stages ? { stages: f.stages } : {}) })
  try {
    // Tables first, so the first record sees them (a table is read whole before stages start).
    for (const [t, rows] of Object.entries(f.tables ?? {}) as Array<[TopicName, Keyed[]]>) await runner.produce(t, rows.map((r) => ({ key: r.key!, value: r.value })))
    await runner.start()
    for (const [t, rows] of Object.entries(f.input) as Array<[TopicName, Keyed[]]>) await runner.produce(t, rows.map((r) => ({ key: r.key!, value: r.value })))
    await untilIdle(runner, f.name)
    await runner.flush()
    await untilIdle(runner, `${f.name} (after flush)`)

    const problems: string[] = []
    for (const [t, expected] of Object.entries(f.expect) as Array<[TopicName, Array<Keyed & Record<string, unknown>>]>) {
      const topic = topicName(t, runner.prefix)
      const records = []
      for (const r of runner.log.read(topic, 0, 1e9)) records.push({ key: r.key, value: r.value === null ? null : await runner.serde.decode<Record<string, unknown>>(topic, r.value) })
      // A compacted topic's latest value per key is what it holds (the sample: upserts and tombstones).
      const compacted = TOPICS.find((x) => x.name === t)!.cleanupPolicy === 'compact'
      const latest = compacted ? [...new Map(records.map((r) => [r.key, r])).values()].filter((r) => r.value !== null) : records
      const keyed = expected.every((e) => e.key !== undefined)
      if (keyed) {
        const want = expected.map((e) => e.key!).sort()
        const got = latest.map((r) => r.key!).sort()
        if (JSON.stringify(want) !== JSON.stringify(got)) { problems.push(`${t}: keys ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`); continue }
      } else if (latest.length !== expected.length) { problems.push(`${t}: ${latest.length} record(s), expected ${expected.length}`); continue }
      expected.forEach((e, i) => {
        const actual = keyed ? latest.find((r) => r.key === e.key)! : latest[i]!
        const { key: _k, value, ...fields } = e
        // Dead letters are checked by their fields (error_class, message, …); other topics by `value`.
        problems.push(...matches(actual.value, t === 'deadLetters' ? fields : value ?? {}, `${t}[${actual.key}]`))
      })
    }
    if (problems.length) {
      // The dead letters say why a record went missing: part of the failure message.
      const dlq = topicName('deadLetters', runner.prefix)
      for (const r of runner.log.read(dlq, 0, 1e9)) {
        const l = await runner.serde.decode<{ stage: string, error_class: string, message: string }>(dlq, r.value)
        problems.push(`(dead letter ${r.key} at ${l.stage}: ${l.error_class}: ${l.message})`)
      }
    }
    assert.deepEqual(problems, [], `fixture ${f.name}`)
  } finally {
    await runner.stop()
    await llm.close()
  }
}

const files = readdirSync(DIR).filter((f) => /\.ya?ml$|\.json$/.test(f)).sort()

test('the fixture folder is not empty', () => { assert.ok(files.length >= 2, `fixtures in ${DIR.pathname}`) })

for (const file of files) {
  const fixture = parse(readFileSync(new URL(file, DIR), 'utf8'), { merge: true }) as Fixture
  test(`${file}: ${fixture.name}`, { timeout: 180_000 }, async () => { await run(fixture) })
}
