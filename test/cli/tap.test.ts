/**
 * `synthq tap`: decoded records from the embedded database and from Kafka + the registry, every
 * start position, --follow until Ctrl-C, --where/--limit/--fields/--table/--count, undecodable
 * records (exit 3), usage errors (exit 2) — and the pipeline's consumer groups untouched.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { after, test } from 'node:test'
import type { Kafka } from 'kafkajs'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { EmbeddedLog } from '../../src/runtime/embedded/embedded-log.ts'
import { EmbeddedRegistry } from '../../src/runtime/embedded/embedded-registry.ts'
import { createKafka } from '../../src/runtime/kafka/client.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName } from '../../src/topics.ts'
import { fitWidths, matches, parseOffsets, parseSince, parseWhere, project, renderTable } from '../../src/ops/tap/select.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testInfra, testTmpDir, unique } from '../helpers/env.ts'
import { testLogger } from '../helpers/kafka.ts'

const CLI = join(REPO_ROOT, 'bin/synthq.js')
const seed = (i: number, source = 'oasst'): typeof SAMPLES.realInstructions & { id: string } => ({ ...SAMPLES.realInstructions, id: `seed-${i}`, prompt: `real prompt number ${i}`, source })
const seeds = [1, 2, 3].map((i) => seed(i))

interface Row { topic: string, partition: number, offset: number, timestamp: number, key: string, value: { id: string, prompt: string } | null, headers?: Record<string, string> }

function run (args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'tap', ...args], { encoding: 'utf8', env: { ...process.env, COLUMNS: '100', ...env } })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function tap (args: string[], env: NodeJS.ProcessEnv = {}): Row[] {
  const r = run(args, env)
  assert.equal(r.status, 0, r.stderr)
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row)
}

/** A running `synthq tap … --follow`: its stdout lines as they come, then Ctrl-C. */
function follow (args: string[], env: NodeJS.ProcessEnv = {}): { lines: string[], stderr: () => string, waitFor: (what: string, f: () => boolean, ms?: number) => Promise<void>, interrupt: () => Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'tap', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  after(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: string[] = []
  let err = ''
  let buf = ''
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString('utf8')
    const parts = buf.split('\n')
    buf = parts.pop()!
    lines.push(...parts.filter(Boolean))
  })
  child.stderr.on('data', (d: Buffer) => { err += d.toString('utf8') })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    lines,
    stderr: () => err,
    async waitFor (what, f, ms = 30_000) {
      const started = Date.now()
      while (!f()) {
        if (child.exitCode !== null) throw new Error(`tap exited (${child.exitCode}) while waiting for ${what}: ${err}`)
        if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}; stdout ${JSON.stringify(lines)} stderr ${err}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async interrupt () {
      child.kill('SIGINT')
      return await exited
    },
  }
}

test('select: --since, --offset, --where, --fields, table widths', () => {
  const now = Date.parse('2026-11-26T12:00:00Z')
  assert.equal(parseSince('10m', now), now - 600_000)
  assert.equal(parseSince('2h ago', now), now - 7_200_000)
  assert.equal(parseSince('2026-11-26T10:00:00Z', now), Date.parse('2026-11-26T10:00:00Z'))
  assert.throws(() => parseSince('yesterday'), /--since takes/)
  const o = parseOffsets(['5', '2:10'])
  assert.equal(o.all, 5)
  assert.equal(o.partitions.get(2), 10)
  assert.throws(() => parseOffsets(['x']), /--offset takes/)
  const meta = { topic: 't', partition: 1, offset: 7, timestamp: 0, key: 'k', headers: { h: 'v' } }
  const value = { id: 'a', document: { id: 'd1' }, keywords: ['x', 'y'], total: 6, note: null }
  assert.ok(matches(value, meta, [parseWhere('document.id=d1'), parseWhere('total=6'), parseWhere('@partition=1'), parseWhere('keywords=y'), parseWhere('@headers.h=v')]))
  assert.ok(!matches(value, meta, [parseWhere('document.id=d2')]))
  assert.ok(matches(value, meta, [parseWhere('id~^A$|^a$'), parseWhere('id!=b'), parseWhere('note=null'), parseWhere('keywords!~z'), parseWhere('id~(?i)^A$')]))
  assert.ok(!matches(value, meta, [parseWhere('missing=x')]))
  assert.throws(() => parseWhere('noop'), /--where takes/)
  assert.deepEqual(project(value, meta, ['id', 'document.id', '@offset', 'missing']), { id: 'a', 'document.id': 'd1', '@offset': 7, missing: null })
  assert.deepEqual(fitWidths([10, 50, 50], 60, 6), [10, 23, 23])
  assert.deepEqual(fitWidths([36, 50], 60, 6, [Infinity, 6]), [36, 22])
  assert.deepEqual(fitWidths([30, 30, 50], 80, 6, [6, Infinity, 24]), [22, 30, 24])
  const lines = renderTable(['a', 'b'], [['1', 'x'.repeat(40)]], 20)
  assert.ok(lines.every((l) => l.length <= 20), lines.join('\n'))
  assert.match(lines[2]!, /^1 {2}x+…$/)
})

test('tap on the embedded runner: positions, filters, projections, table, count, tombstones, undecodable records', async () => {
  const db = join(testTmpDir('tap'), 'synthq.db')
  const log = new EmbeddedLog(db)
  const serde = new AvroSerde(new EmbeddedRegistry(log.db, db), SchemaCatalog.load())
  await serde.registerAll()
  const topic = topicName('realInstructions')
  const hourAgo = Date.now() - 3_600_000
  log.append(await Promise.all(seeds.map(async (s) => ({ topic, key: s.id, value: await serde.encode(topic, s) }))), hourAgo - 60_000)
  log.append(await Promise.all([4, 5].map(async (i) => ({ topic, key: `seed-${i}`, value: await serde.encode(topic, seed(i, 'dolly')) }))))
  const concepts = topicName('concepts')
  log.append([{ topic: concepts, key: 'poison', value: Buffer.from('not avro') }])
  log.append([{ topic: concepts, key: 'c-2', value: await serde.encode(concepts, SAMPLES.concepts) }])
  const sample = topicName('sample')
  log.append([{ topic: sample, key: 'gone', value: null }])
  log.close()

  const poisoned = run(['concepts', '--db', db])
  assert.equal(poisoned.status, 3, 'a record did not decode')
  assert.match(poisoned.stderr, /cannot decode synthq\.concepts partition 0 offset 0 \(key "poison"\): value starts with byte 0x6e/)
  assert.deepEqual(poisoned.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Row).offset), [1], 'the records after it are printed')
  const rows = tap(['realInstructions', '--db', db])
  assert.deepEqual(rows.map((r) => r.value!.id), ['seed-1', 'seed-2', 'seed-3', 'seed-4', 'seed-5'])
  assert.equal(rows[0]!.topic, 'synthq.instructions.real')
  assert.ok(rows[0]!.timestamp < hourAgo && rows[4]!.timestamp > hourAgo)

  // Positions (--from is the older spelling of --offset).
  assert.deepEqual(tap(['synthq.instructions.real', '--db', db, '--from', '1', '--limit', '1']).map((r) => r.key), ['seed-2'])
  assert.deepEqual(tap(['realInstructions', '--db', db, '--offset', '3', '--limit', '2']).map((r) => r.key), ['seed-4', 'seed-5'])
  assert.deepEqual(tap(['realInstructions', '--db', db, '--offset', '0:4', '--limit', '1']).map((r) => r.key), ['seed-5'])
  assert.deepEqual(tap(['realInstructions', '--db', db, '--since', '30m', '--limit', '2']).map((r) => r.key), ['seed-4', 'seed-5'])
  assert.deepEqual(tap(['realInstructions', '--db', db, '--since', new Date(hourAgo).toISOString(), '--limit', '2']).map((r) => r.key), ['seed-4', 'seed-5'])
  assert.deepEqual(tap(['realInstructions', '--db', db, '--since', '2h', '--limit', '1']).map((r) => r.key), ['seed-1'])

  // Filters and projections.
  assert.deepEqual(tap(['realInstructions', '--db', db, '--where', 'source=dolly', '--limit', '5']).map((r) => r.key), ['seed-4', 'seed-5'])
  assert.deepEqual(tap(['realInstructions', '--db', db, '--where', 'prompt~number [13]$', '--where', 'source!=dolly', '--limit', '5']).map((r) => r.key), ['seed-1', 'seed-3'])
  assert.deepEqual(tap(['realInstructions', '--db', db, '--where', 'source=oasst', '--limit', '1', '--fields', 'id,@offset,metadata.lang']), [{ id: 'seed-1', '@offset': 0, 'metadata.lang': 'en' }] as unknown as Row[])
  const count = run(['realInstructions', '--db', db, '--count', '--where', '@offset~^[0-3]$'])
  assert.deepEqual([count.status, count.stdout], [0, '4\n'])
  const table = run(['realInstructions', '--db', db, '--table', '--offset', '1', '--limit', '2'])
  assert.equal(table.status, 0, table.stderr)
  assert.deepEqual(table.stdout.split('\n').map((l) => l.replace(/ +/g, ' ')), ['@offset id source prompt', '------- ------ ------ --------------------', '1 seed-2 oasst real prompt number 2', '2 seed-3 oasst real prompt number 3', ''])
  const narrow = run(['realInstructions', '--db', db, '--table', '--fields', 'id,prompt', '--limit', '1'], { COLUMNS: '24' })
  assert.deepEqual(narrow.stdout.split('\n').slice(0, 3), ['id      prompt', '------  ----------------', 'seed-1  real prompt num…'])

  // A tombstone prints as value null.
  assert.deepEqual(tap(['sample', '--db', db]).map((r) => [r.key, r.value]), [['gone', null]])

  // Usage errors: exit 2.
  for (const bad of [['realInstructions', '--db', db, '--latest', '--offset', '1'], ['realInstructions', '--where', 'nope'], ['realInstructions', '--bogus'], [], ['nosuchtopic'], ['realInstructions', '--since', 'later'], ['realInstructions', '--count', '--table']]) {
    const r = run(bad)
    assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /synthq tap: /)
  }
  assert.equal(run(['--help']).status, 0)
  assert.equal(run(['realInstructions', '--db', join(testTmpDir('tap'), 'missing.db')]).status, 1)
})

test('tap --follow and --latest on the embedded runner: new records arrive, Ctrl-C exits 0', async () => {
  const db = join(testTmpDir('tap'), 'synthq.db')
  const log = new EmbeddedLog(db)
  after(() => log.close())
  const serde = new AvroSerde(new EmbeddedRegistry(log.db, db), SchemaCatalog.load())
  const topic = topicName('realInstructions')
  const write = async (ids: number[]): Promise<void> => log.append(await Promise.all(ids.map(async (i) => ({ topic, key: `seed-${i}`, value: await serde.encode(topic, seed(i)) }))))
  await write([1, 2])
  const f = follow(['realInstructions', '--db', db, '--follow', '--fields', 'id'])
  const latest = follow(['realInstructions', '--db', db, '--latest', '--fields', 'id'])
  await f.waitFor('the first records', () => f.lines.length === 2)
  await latest.waitFor('latest to start', () => /following synthq\.instructions\.real from offset 2/.test(latest.stderr()))
  await write([3, 4])
  await f.waitFor('the new records', () => f.lines.length === 4)
  await latest.waitFor('the new records', () => latest.lines.length === 2)
  assert.deepEqual(f.lines.map((l) => (JSON.parse(l) as { id: string }).id), ['seed-1', 'seed-2', 'seed-3', 'seed-4'])
  assert.deepEqual(latest.lines.map((l) => (JSON.parse(l) as { id: string }).id), ['seed-3', 'seed-4'])
  assert.equal(await f.interrupt(), 0)
  assert.equal(await latest.interrupt(), 0)
  // --follow --count prints the count at Ctrl-C.
  const c = follow(['realInstructions', '--db', db, '--follow', '--count'])
  await c.waitFor('start', () => /following/.test(c.stderr()))
  await write([5])
  await new Promise((r) => setTimeout(r, 500))
  assert.equal(await c.interrupt(), 0)
  assert.deepEqual(c.lines, ['5'])
})

async function produceSeeds (kafka: Kafka, serde: AvroSerde, topic: string, records: Array<{ s: ReturnType<typeof seed>, partition: number, timestamp?: number }>, transactional = false): Promise<void> {
  const messages = await Promise.all(records.map(async (r) => ({ key: r.s.id, value: await serde.encode(topic, r.s), partition: r.partition, ...(r.timestamp ? { timestamp: String(r.timestamp) } : {}) })))
  if (!transactional) {
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic, messages })
    await producer.disconnect()
    return
  }
  // As the pipeline writes: in a transaction, so the partitions end with commit markers.
  const producer = kafka.producer({ transactionalId: unique('tap-tx'), idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const tx = await producer.transaction()
  await tx.send({ topic, messages })
  await tx.commit()
  await producer.disconnect()
}

test('tap on Kafka: positions, filters, follow, undecodable records; the pipeline\'s groups untouched and no tap group left', async () => {
  const infra = testInfra()
  const prefix = unique('tap')
  const env = { SYNTHQ_KAFKA_BROKERS: infra.bootstrap.join(','), SYNTHQ_REGISTRY_URL: infra.registryUrl }
  const kafka = createKafka({ brokers: infra.bootstrap, clientId: 'tap-test' }, testLogger())
  const admin = kafka.admin()
  await admin.connect()
  after(() => admin.disconnect())
  await ensureTopics(admin, { prefix, partitions: 2 })
  const serde = new AvroSerde(new RegistryClient({ url: infra.registryUrl }), SchemaCatalog.load(), { prefix })
  const topic = topicName('realInstructions', prefix)
  const hourAgo = Date.now() - 3_600_000
  await produceSeeds(kafka, serde, topic, [
    { s: seed(1), partition: 0, timestamp: hourAgo - 60_000 }, { s: seed(2), partition: 1, timestamp: hourAgo - 60_000 },
    { s: seed(3, 'dolly'), partition: 0 }, { s: seed(4, 'dolly'), partition: 1 }, { s: seed(5), partition: 1 },
  ], true)
  // A pipeline stage's group with committed offsets: tap must leave it as it is.
  const stageGroup = `${prefix}.concept-extraction`
  await admin.setOffsets({ groupId: stageGroup, topic, partitions: [{ partition: 0, offset: '1' }, { partition: 1, offset: '2' }] })
  const committed = async (): Promise<unknown> => await admin.fetchOffsets({ groupId: stageGroup, topics: [topic] })
  const before = await committed()
  const k = ['--runner', 'kafka', '--prefix', prefix]

  const all = tap(['realInstructions', ...k], env)
  assert.deepEqual(all.map((r) => r.value!.id).sort(), ['seed-1', 'seed-2', 'seed-3', 'seed-4', 'seed-5'])
  assert.deepEqual(all.filter((r) => r.partition === 1).map((r) => [r.offset, r.key]), [[0, 'seed-2'], [1, 'seed-4'], [2, 'seed-5']], 'offset order within a partition')
  assert.deepEqual(tap(['realInstructions', ...k, '--offset', '1:1'], env).map((r) => r.key), ['seed-4', 'seed-5'], 'only the partition named')
  assert.deepEqual(tap(['realInstructions', ...k, '--offset', '1', '--offset', '1:2'], env).map((r) => r.key).sort(), ['seed-3', 'seed-5'])
  assert.deepEqual(tap(['realInstructions', ...k, '--since', '30m'], env).map((r) => r.key).sort(), ['seed-3', 'seed-4', 'seed-5'])
  assert.deepEqual(tap(['realInstructions', ...k, '--where', 'source=dolly', '--where', '@partition=1', '--fields', 'id,@partition,@offset'], env), [{ id: 'seed-4', '@partition': 1, '@offset': 1 }] as unknown as Row[])
  assert.equal(tap(['realInstructions', ...k, '--limit', '2'], env).length, 2)
  const count = run(['realInstructions', ...k, '--count', '--where', 'prompt~number [12]$'], env)
  assert.deepEqual([count.status, count.stdout], [0, '2\n'])
  const table = run(['realInstructions', ...k, '--table', '--where', 'id=seed-5'], env)
  assert.deepEqual(table.stdout.split('\n').map((l) => l.replace(/ +/g, ' ')), ['@partition @offset id source prompt', '---------- ------- ------ ------ --------------------', '1 2 seed-5 oasst real prompt number 5', ''])

  // Follow: the records so far, then new ones as they are written; Ctrl-C exits 0.
  const f = follow(['realInstructions', ...k, '--follow', '--fields', 'id'], env)
  const latest = follow(['realInstructions', ...k, '--latest', '--fields', 'id'], env)
  await f.waitFor('the records so far', () => f.lines.length === 5)
  await latest.waitFor('latest to start', () => /following .* from 0:3 1:4 \(Ctrl-C to stop\)/.test(latest.stderr()))
  await produceSeeds(kafka, serde, topic, [{ s: seed(6), partition: 0 }, { s: seed(7), partition: 1 }], true)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [{ key: 'poison', value: Buffer.from('not avro'), partition: 0 }] })
  await producer.disconnect()
  await f.waitFor('the new records', () => f.lines.length === 7 && /cannot decode/.test(f.stderr()))
  await latest.waitFor('the new records', () => latest.lines.length === 2)
  assert.deepEqual(latest.lines.map((l) => (JSON.parse(l) as { id: string }).id).sort(), ['seed-6', 'seed-7'])
  assert.equal(await f.interrupt(), 3, 'a record did not decode')
  assert.match(f.stderr(), new RegExp(`cannot decode ${topic.replace(/\./g, '\\.')} partition 0 offset \\d+ \\(key "poison"\\)`))
  assert.equal(await latest.interrupt(), 3, 'the poison record came after --latest started too')

  // `synthq tap … | head -1`: the reader goes away; tap still ends cleanly and deletes its group.
  const docs = topicName('documents', prefix)
  const bulk = kafka.producer()
  await bulk.connect()
  await bulk.send({ topic: docs, messages: await Promise.all(Array.from({ length: 800 }, async (_, i) => ({ key: `doc-${i}`, value: await serde.encode(docs, { ...SAMPLES.documents, id: `doc-${i}`, text: `document ${i} `.repeat(40) }) }))) })
  await bulk.disconnect()
  const headed = spawn(process.execPath, [CLI, 'tap', 'documents', ...k], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const firstLine = await new Promise<string>((resolve) => headed.stdout.once('data', (d: Buffer) => { resolve(d.toString('utf8').split('\n')[0]!); headed.stdout.destroy() }))
  assert.match(firstLine, /"topic":".*\.documents"/)
  assert.equal(await new Promise((resolve) => headed.on('exit', resolve)), 0)

  assert.deepEqual(await committed(), before, 'the stage group\'s committed offsets are unchanged')
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId)
  assert.deepEqual(groups.filter((g) => g.startsWith(`synthq-tap-${prefix}`)), [], 'every tap group was deleted')
  assert.ok(groups.includes(stageGroup))
  await admin.deleteGroups([stageGroup])
})
