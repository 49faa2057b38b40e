/**
 * Several workers starting at once register the same subjects against the real registry at the
 * same moment: every registration succeeds, all agree on the ids, and every subject ends at
 * BACKWARD compatibility.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { request } from 'undici'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { testInfra, unique } from '../helpers/env.ts'

const WORKERS = 5

test('concurrent registerAll() of the same subjects all succeed with the same ids', async () => {
  const { registryUrl } = testInfra()
  const catalog = SchemaCatalog.load()
  for (let round = 0; round < 3; round++) {
    const prefix = unique('concreg')
    // Each worker has its own client, as separate processes would.
    const serdes = Array.from({ length: WORKERS }, () => new AvroSerde(new RegistryClient({ url: registryUrl }), catalog, { prefix }))
    const results = await Promise.allSettled(serdes.map(async (s) => await s.registerAll()))
    const failures = results.flatMap((r) => r.status === 'rejected' ? [(r.reason as Error).message] : [])
    assert.deepEqual(failures, [], `every concurrent registration succeeds (round ${round})`)
    const maps = results.map((r) => (r as PromiseFulfilledResult<Map<string, number>>).value)
    const first = Object.fromEntries(maps[0]!)
    assert.ok(Object.keys(first).length > 0)
    for (const m of maps.slice(1)) assert.deepEqual(Object.fromEntries(m), first, 'every worker sees the same ids')

    for (const subject of Object.keys(first)) {
      const res = await request(`${registryUrl}/config/${encodeURIComponent(subject)}`)
      const body = await res.body.json() as { compatibilityLevel?: string }
      assert.equal(res.statusCode, 200, subject)
      assert.equal(body.compatibilityLevel?.toUpperCase(), 'BACKWARD', subject)
      const versions = await request(`${registryUrl}/subjects/${encodeURIComponent(subject)}/versions`)
      assert.deepEqual(await versions.body.json(), [1], `${subject} has exactly one version`)
    }
  }
})

test('registering again after the concurrent start returns the same ids', async () => {
  const { registryUrl } = testInfra()
  const catalog = SchemaCatalog.load()
  const prefix = unique('concreg-again')
  const a = await new AvroSerde(new RegistryClient({ url: registryUrl }), catalog, { prefix }).registerAll()
  const b = await new AvroSerde(new RegistryClient({ url: registryUrl }), catalog, { prefix }).registerAll()
  assert.deepEqual(Object.fromEntries(b), Object.fromEntries(a))
})

test('a subject set to another compatibility level is a configuration error, not an incompatible schema', async () => {
  const { registryUrl } = testInfra()
  const catalog = SchemaCatalog.load()
  const prefix = unique('concreg-level')
  const serde = new AvroSerde(new RegistryClient({ url: registryUrl }), catalog, { prefix })
  const [topic] = serde.topics()
  const subject = `${topic!}-value`
  await serde.schemaId(topic!)
  const put = await request(`${registryUrl}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'NONE' }),
  })
  await put.body.text()
  assert.equal(put.statusCode, 200)
  const again = new AvroSerde(new RegistryClient({ url: registryUrl }), catalog, { prefix })
  await assert.rejects(again.schemaId(topic!), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SYNTHQ_CONFIG', err.message)
    assert.match(err.message, /compatibility NONE/)
    return true
  })
})
