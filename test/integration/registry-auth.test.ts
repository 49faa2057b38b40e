/**
 * Basic auth to the registry: the real registry behind a proxy that demands HTTP Basic
 * credentials, as registries are commonly deployed (and as Confluent Cloud's API keys work).
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { inspect } from 'node:util'
import { request } from 'undici'
import { registryConnectionFromEnv } from '../../src/config/connection.ts'
import { ConfigError } from '../../src/errors.ts'
import { AvroSerde } from '../../src/serde/avro-serde.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'
import { SchemaCatalog } from '../../src/serde/schema-catalog.ts'
import { topicName, valueSubject } from '../../src/topics.ts'
import { SAMPLES } from '../fixtures/records.ts'
import { testInfra, unique } from '../helpers/env.ts'

const USER = 'sr-key'
const PASSWORD = 'sr-secret-do-not-log'
const EXPECTED = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`

let proxy: Server
let proxyUrl = ''
const seen: Array<{ path: string, authorized: boolean }> = []

async function body (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

describe('schema registry basic auth', () => {
  before(async () => {
    const upstream = new URL(testInfra().registryUrl)
    proxy = createServer((req, res) => {
      void (async () => {
        const authorized = req.headers.authorization === EXPECTED
        seen.push({ path: req.url ?? '', authorized })
        if (!authorized) {
          res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry"' })
          res.end(JSON.stringify({ error_code: 40101, message: 'Unauthorized' }))
          return
        }
        const payload = await body(req)
        const r = await request(`${upstream.origin}${req.url}`, { method: req.method as 'GET', headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, ...(payload.length ? { body: payload } : {}) })
        res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'application/json') })
        res.end(Buffer.from(await r.body.arrayBuffer()))
      })()
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}${upstream.pathname}`
  })
  after(() => new Promise<void>((resolve) => proxy.close(() => resolve())))

  test('with credentials, registration, lookup and compatibility checks pass the proxy', async () => {
    const conn = registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: proxyUrl, SYNTHQ_REGISTRY_USERNAME: USER, SYNTHQ_REGISTRY_PASSWORD: PASSWORD })
    assert.ok(!inspect(conn).includes(PASSWORD))
    const registry = new RegistryClient(conn)
    const prefix = unique('auth')
    const serde = new AvroSerde(registry, SchemaCatalog.load(), { prefix })
    const topic = topicName('documents', prefix)
    seen.length = 0
    const bytes = await serde.encode(topic, SAMPLES.documents)
    // A second serde has an empty cache, so decoding must fetch the writer schema by id.
    const fresh = new AvroSerde(new RegistryClient(conn), SchemaCatalog.load(), { prefix })
    assert.equal((await fresh.decode<{ id: string }>(topic, bytes)).id, SAMPLES.documents.id)
    const verdict = await registry.isCompatible(valueSubject(topic), SchemaCatalog.load().get('synthq.Document').schema)
    assert.equal(verdict.compatible, true)
    assert.ok(seen.length >= 3, `requests seen: ${JSON.stringify(seen)}`)
    assert.ok(seen.every((s) => s.authorized), JSON.stringify(seen))
  })

  test('without or with wrong credentials: a configuration error that says which settings, never the password', async () => {
    const cases = [
      [registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: proxyUrl }), /needs credentials: set SYNTHQ_REGISTRY_USERNAME/],
      [registryConnectionFromEnv({ SYNTHQ_REGISTRY_URL: proxyUrl, SYNTHQ_REGISTRY_USERNAME: USER, SYNTHQ_REGISTRY_PASSWORD: `${PASSWORD}-wrong` }), /HTTP 401.*check SYNTHQ_REGISTRY_USERNAME and SYNTHQ_REGISTRY_PASSWORD/],
    ] as const
    for (const [conn, message] of cases) {
      const registry = new RegistryClient(conn)
      await assert.rejects(registry.register(`${unique('auth')}-value`, SchemaCatalog.load().get('synthq.Document').schema), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err))
        assert.match(err.message, message)
        assert.equal(err.retriable, false)
        const encoded = [PASSWORD, `${PASSWORD}-wrong`].map((p) => Buffer.from(`${USER}:${p}`).toString('base64'))
        for (const shown of [err.message, String(err.stack), inspect(err, { depth: 10 }), JSON.stringify(err)]) {
          assert.ok(!shown.includes(PASSWORD), 'password leaked')
          for (const e of encoded) assert.ok(!shown.includes(e), 'base64 credentials leaked')
        }
        return true
      })
    }
  })
})
