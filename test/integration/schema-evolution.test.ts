import assert from 'node:assert/strict'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { SchemaIncompatibleError } from '../../src/errors.ts'
import { ensureTopics } from '../../src/runtime/kafka/topic-admin.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { SCHEMAS_DIR, SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName, valueSubject } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { clients, producer, readMessages } from '../helpers/kafka.ts'
import { testTmpDir } from '../helpers/env.ts'

type Field = { name: string, type: unknown, default?: unknown }

/** A copy of schemas/ whose Document schema has been edited by `edit`. */
function catalogWithDocument (edit: (fields: Field[]) => Field[]): SchemaCatalog {
  const dir = testTmpDir('synthq-schemas')
  cpSync(SCHEMAS_DIR, dir, { recursive: true })
  const file = join(dir, 'document.avsc')
  const schema = JSON.parse(readFileSync(file, 'utf8')) as { fields: Field[] }
  schema.fields = edit(schema.fields)
  writeFileSync(file, JSON.stringify(schema))
  return SchemaCatalog.load(dir)
}

test('a backward-compatible change is accepted, and old records decode with the new reader', async (t) => {
  const v1 = await clients(t)
  const prefix = v1.prefix
  await ensureTopics(v1.admin, { prefix, partitions: 1 })
  const topic = topicName('documents', prefix)
  const p = await producer(t, v1.kafka)

  const idV1 = await v1.serde.schemaId(topic)
  await p.send({ topic, messages: [{ key: 'old', value: await v1.serde.encode(topic, { ...SAMPLES.documents, id: 'old' }) }] })

  // v2 adds a field with a default: BACKWARD-compatible.
  const v2cat = catalogWithDocument((f) => [...f, { name: 'language', type: 'string', default: 'und' }])
  const v2 = new AvroSerde(v1.registry, v2cat, { prefix })
  const compat = await v1.registry.isCompatible(valueSubject(topic), v2cat.get('synthq.Document').schema)
  assert.equal(compat.compatible, true, compat.messages.join('; '))
  const idV2 = await v2.schemaId(topic)
  assert.notEqual(idV2, idV1, 'the registry registered a new version')
  await p.send({ topic, messages: [{ key: 'new', value: await v2.encode(topic, { ...SAMPLES.documents, id: 'new', language: 'en' }) }] })

  const msgs = await readMessages(v1.kafka, topic, 2)
  const byKey = new Map(msgs.map((m) => [m.key, m.value]))
  assert.equal(byKey.get('old')?.readUInt32BE(1), idV1)
  assert.equal(byKey.get('new')?.readUInt32BE(1), idV2)

  // The new reader fills the default into the old record …
  const oldAsV2 = await v2.decode<Record<string, unknown>>(topic, byKey.get('old'))
  assert.equal(oldAsV2.id, 'old')
  assert.equal(oldAsV2.language, 'und')
  const newAsV2 = await v2.decode<Record<string, unknown>>(topic, byKey.get('new'))
  assert.equal(newAsV2.language, 'en')
  // … and a reader still on v1 reads the new record, ignoring the field it does not know.
  const newAsV1 = await v1.serde.decode<Record<string, unknown>>(topic, byKey.get('new'))
  assert.equal(newAsV1.id, 'new')
  assert.equal('language' in newAsV1, false)
  // Tools that read any topic (tap) decode with the writer's own schema.
  const asWritten = await v1.serde.decodeAny(byKey.get('new'))
  assert.equal(asWritten.schemaId, idV2)
  assert.equal((asWritten.value as Record<string, unknown>).language, 'en')
})

test('an incompatible change is rejected by the registry with an error that names the subject', async (t) => {
  const v1 = await clients(t)
  const topic = topicName('documents', v1.prefix)
  const subject = valueSubject(topic)
  await v1.serde.schemaId(topic)

  const incompatible: Array<[string, (f: Field[]) => Field[]]> = [
    ['a new field without a default', (f) => [...f, { name: 'quality', type: 'int' }]],
    ['a field changed from string to int', (f) => f.map((x) => x.name === 'text' ? { name: 'text', type: 'int' } : x)],
  ]
  for (const [what, edit] of incompatible) {
    const cat = catalogWithDocument(edit)
    const verdict = await v1.registry.isCompatible(subject, cat.get('synthq.Document').schema)
    assert.equal(verdict.compatible, false, `${what} should be incompatible`)
    const bad = new AvroSerde(v1.registry, cat, { prefix: v1.prefix })
    await assert.rejects(bad.schemaId(topic), (err: unknown) => {
      assert.ok(err instanceof SchemaIncompatibleError, `${what}: ${String(err)}`)
      assert.equal(err.code, 'SYNTHQ_SCHEMA_INCOMPATIBLE')
      assert.ok(err.message.includes(`"${subject}"`), err.message)
      assert.match(err.message, /Add new fields with a default/)
      return true
    })
  }
  // The subject still has exactly the one version it had.
  assert.equal(await v1.registry.latestId(subject), await v1.serde.schemaId(topic))
})
