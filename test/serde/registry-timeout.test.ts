/**
 * A registry that accepts connections and never answers (a stuck JVM, a proxy whose backend is
 * gone) must not hold synthq for ever: every call fails as an outage within the configured
 * timeout, which the runners then retry. Needs no servers: the "registry" is a socket that reads
 * and never writes.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import { SynthqError } from '../../src/errors.ts'
import { RegistryClient } from '../../src/serde/registry-client.ts'

const SCHEMA = JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] })

test('every registry call against a registry that never answers fails as SYNTHQ_REGISTRY_UNAVAILABLE within the timeout', { timeout: 60_000 }, async (t) => {
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
  const { port } = silent.address() as { port: number }
  const client = new RegistryClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 })

  const calls: Array<[string, () => Promise<unknown>]> = [
    ['register', async () => await client.register('s-value', SCHEMA)],
    ['writerType', async () => await client.writerType(1)],
    ['latestId', async () => await client.latestId('s-value')],
    ['compatibilityLevel', async () => await client.compatibilityLevel('s-value')],
    ['isCompatible', async () => await client.isCompatible('s-value', SCHEMA)],
  ]
  for (const [name, call] of calls) {
    const before = requests
    await assert.rejects(call(), (err: unknown) => {
      assert.ok(err instanceof SynthqError, `${name}: ${String(err)}`)
      assert.equal(err.code, 'SYNTHQ_REGISTRY_UNAVAILABLE', `${name}: ${err.message}`)
      assert.equal(err.retriable, true, name)
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`), `${name} names the registry`)
      return true
    }, name)
    assert.ok(requests > before, `${name} reached the silent registry (a refused connection would prove nothing)`)
  }
})
