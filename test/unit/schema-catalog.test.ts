import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import avro from 'avsc'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { TOPICS, topicName, valueSubject } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testTmpDir } from '../helpers/env.ts'

const catalog = SchemaCatalog.load()

test('every topic in the topic map has a self-contained value schema', () => {
  for (const t of TOPICS) {
    const e = catalog.get(t.recordName)
    // Parsed alone, with no shared types pre-registered: what a third-party reader does with
    // the schema it fetches from the registry.
    const alone = avro.Type.forSchema(JSON.parse(e.schema) as avro.Schema)
    assert.equal(alone.name, t.recordName)
    assert.ok(alone.equals(e.type))
  }
})

test('every derived record carries lineage; ingested records carry an ingest time', () => {
  // Not derived: ingested input, fingerprints, the sink's checkpoints (runtime state), dead letters and prompt promotions (an operator's command).
  const derived = TOPICS.filter((t) => !['realInstructions', 'documents', 'documentFingerprints', 'sinkState', 'deadLetters', 'promptPromotions'].includes(t.name))
  assert.equal(derived.length, 11) // … and the response stages' responses, pairs and preferences
  for (const t of derived) {
    const fields = (JSON.parse(catalog.get(t.recordName).schema) as { fields: Array<{ name: string, type: unknown }> }).fields
    const lineage = fields.find((f) => f.name === 'lineage')
    assert.ok(lineage, `${t.recordName} has no lineage field`)
    const ltype = lineage.type as { name?: string, fields?: Array<{ name: string }> } | string
    const lfields = typeof ltype === 'string' ? undefined : ltype.fields?.map((f) => f.name)
    if (lfields) for (const f of ['upstream', 'prompt', 'model', 'created_at', 'simulated']) assert.ok(lfields.includes(f), `${t.recordName}.lineage lacks ${f}`)
  }
})

test('the sample record of each topic is valid for its schema', () => {
  for (const t of TOPICS) {
    const type = catalog.get(t.recordName).type
    const bad: string[] = []
    assert.ok(type.isValid(SAMPLES[t.name], { errorHook: (p: string[]) => bad.push(p.join('.')) }), `${t.name}: ${bad.join(', ')}`)
    const round = type.fromBuffer(type.toBuffer(SAMPLES[t.name]))
    assert.deepEqual(JSON.parse(JSON.stringify(round)), JSON.parse(JSON.stringify(SAMPLES[t.name])))
  }
})

test('names follow Confluent conventions: prefixed dotted topics, <topic>-value subjects', () => {
  assert.equal(topicName('documents'), 'synthq.documents')
  assert.equal(topicName('scoredInstructions', 'prod.synthq'), 'prod.synthq.instructions.scored')
  assert.equal(valueSubject('synthq.documents'), 'synthq.documents-value')
  assert.equal(new Set(TOPICS.map((t) => t.suffix)).size, TOPICS.length)
  assert.deepEqual(TOPICS.filter((t) => t.cleanupPolicy === 'compact').map((t) => t.name), ['documentFingerprints', 'demonstrations', 'sample', 'responses', 'responsePairs', 'preferences', 'promptPromotions', 'sinkState'])
})

test('a broken schema file is reported with its path', () => {
  const dir = testTmpDir('synthq-schema')
  const f = join(dir, 'bad.avsc')
  writeFileSync(f, '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "strng"}]}')
  assert.throws(() => catalog.add(f), (e: unknown) => (e as Error).message.includes(f) && /not a valid Avro schema/.test((e as Error).message))
  writeFileSync(f, '{ not json')
  assert.throws(() => catalog.add(f), /is not valid JSON/)
})
