import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { createLogger } from '../../src/log.ts'

test('secret-named fields are redacted at any of the first three levels, the rest is kept', () => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _e, cb) { lines.push(String(chunk)); cb() } })
  const log = createLogger({ level: 'info' }, sink)
  log.info({
    password: 'p1', apiKey: 'k1', token: 't1',
    kafka: { sasl: { username: 'synthq', password: 'p2' }, ssl: { keyPassword: 'p3' } },
    request: { headers: { authorization: 'Bearer t2', 'x-api-key': 'k2', accept: 'application/json' } },
    llm: { api_key: 'k3', secret: 's1', model: 'sim-chat-8b' },
  }, 'connecting')
  const out = lines.join('')
  for (const secret of ['p1', 'k1', 't1', 'p2', 'p3', 'Bearer t2', 'k2', 'k3', 's1']) assert.ok(!out.includes(`"${secret}"`), `${secret} leaked: ${out}`)
  const rec = JSON.parse(out) as { kafka: { sasl: { username: string, password: string } }, request: { headers: { accept: string } }, llm: { model: string } }
  assert.equal(rec.kafka.sasl.username, 'synthq')
  assert.equal(rec.kafka.sasl.password, '[redacted]')
  assert.equal(rec.request.headers.accept, 'application/json')
  assert.equal(rec.llm.model, 'sim-chat-8b')
})
