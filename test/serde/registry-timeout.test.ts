/**
 * A registry that accepts connections and never answers (a stuck JVM, a proxy whose backend is
 * gone) must not hold synthq for ever: a request that is not answered within the timeout is
 * sent again, and a registry that never answers fails the call as an outage, which the runners
 * then retry. Needs no servers: the "registries" are local sockets.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import { SynthqError } from '../../src/errors.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'

const SCHEMA = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] })

/** A "registry" that accepts connections and reads requests but never answers; counts them. */
async function silentRegistry (t: { after: (fn: () => void) => void }): Promise<{ port: number, requests: () => number }> {
  const sockets = new Set<Socket>()
  let requests = 0
  const silent = createServer((s) => {
    sockets.add(s)
    s.on('data', () => { requests++ }) // reads the request, never answers
    s.on('close', () => sockets.delete(s))
  })
  silent.listen(0, '127.0.0.1')
  await once(silent, 'listening')
  t.after(() => { for (const s of sockets) s.destroy(); silent.close() })
  return { port: (silent.address() as { port: number }).port, requests: () => requests }
}

test('every registry call against a registry that never answers fails as SYNTHQ_REGISTRY_UNAVAILABLE within the timeout', { timeout: 60_000 }, async (t) => {
  const calls: Array<[string, (c: RegistryClient) => Promise<unknown>]> = [
    ['register', async (c) => await c.register('s-value', SCHEMA)],
    ['writerType', async (c) => await c.writerType(1)],
    ['latestId', async (c) => await c.latestId('s-value')],
    ['compatibilityLevel', async (c) => await c.compatibilityLevel('s-value')],
    ['isCompatible', async (c) => await c.isCompatible('s-value', SCHEMA)],
  ]
  // Each call against a silent registry of its own, all at once: each waits out its resends.
  await Promise.all(calls.map(async ([name, call]) => {
    const registry = await silentRegistry(t)
    const client = new RegistryClient({ url: `http://127.0.0.1:${registry.port}`, timeoutMs: 300 })
    await assert.rejects(call(client), (err: unknown) => {
      assert.ok(err instanceof SynthqError, `${name}: ${String(err)}`)
      assert.equal(err.code, 'SYNTHQ_REGISTRY_UNAVAILABLE', `${name}: ${err.message}`)
      assert.equal(err.retriable, true, name)
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${registry.port}`), `${name} names the registry`)
      return true
    }, name)
    assert.ok(registry.requests() > 0, `${name} reached the silent registry (a refused connection would prove nothing)`)
  }))
})

test('a request the registry received and never answered is sent again, and the call succeeds', { timeout: 60_000 }, async (t) => {
  // Answers like the Confluent API, except that the first request of each kind is swallowed
  // (read in full, never answered), as Apicurio was seen doing under concurrent registrations.
  const seen = new Map<string, number>()
  const server = createHttpServer((req, res) => {
    const key = `${req.method} ${req.url}`
    seen.set(key, (seen.get(key) ?? 0) + 1)
    req.resume()
    req.on('end', () => {
      if (seen.get(key) === 1) return // swallowed
      const json = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify(body)) }
      const path = (req.url ?? '').split('?')[0]!
      if (req.method === 'GET' && path === '/config/s-value') return (req.url ?? '').includes('defaultToGlobal') ? json(200, { compatibilityLevel: 'BACKWARD' }) : json(404, { error_code: 40401, message: 'Subject not found' })
      if (req.method === 'POST' && path === '/subjects/s-value/versions') return json(200, { id: 7 })
      if (req.method === 'PUT' && path === '/config/s-value') return json(200, { compatibility: 'BACKWARD' })
      if (req.method === 'GET' && path === '/schemas/ids/7') return json(200, { schema: SCHEMA })
      if (req.method === 'GET' && path === '/subjects/s-value/versions/latest') return json(200, { subject: 's-value', version: 1, id: 7, schema: SCHEMA })
      if (req.method === 'POST' && path === '/compatibility/subjects/s-value/versions/latest') return json(200, { is_compatible: true })
      json(404, { error_code: 404, message: `unexpected ${key}` })
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { server.closeAllConnections(); server.close() })
  const { port } = server.address() as { port: number }
  const client = new RegistryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 })

  assert.deepEqual(await client.register('s-value', SCHEMA), { subject: 's-value', id: 7 })
  // A client of its own: the first one has the schema in its cache since registering it.
  assert.ok(await new RegistryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 }).writerType(7))
  assert.equal(await client.latestId('s-value'), 7)
  assert.equal(await client.compatibilityLevel('s-value'), 'BACKWARD')
  assert.deepEqual(await client.isCompatible('s-value', SCHEMA), { compatible: true, messages: [] })
  for (const [key, n] of seen) assert.equal(n, 2, `${key}: swallowed once, then sent again and answered`)
  assert.ok(seen.size >= 7, [...seen.keys()].join(', '))
})
