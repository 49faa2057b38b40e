import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import kafkajs from 'kafkajs'
import { createLogger } from '../../src/log.ts'
import { kafkaConfig } from '../../src/runtime/kafka/client.ts'

const kafkaLogLevel = kafkajs.logLevel

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

test('KafkaJS: a broker error Kafka marks retriable is logged as a warning, any other error as an error', () => {
  const lines: string[] = []
  const sink = new Writable({ write (chunk, _e, cb) { lines.push(String(chunk)); cb() } })
  const config = kafkaConfig({ clientId: 't', brokers: ['127.0.0.1:9'] }, createLogger({ level: 'info' }, sink))
  const log = config.logCreator!(kafkaLogLevel.INFO)
  const entry = (error: string) => ({ namespace: 'Connection', level: kafkaLogLevel.ERROR, label: 'ERROR', log: { timestamp: '', logger: 'kafkajs', message: 'Response AddPartitionsToTxn(key: 24, version: 1)', error } })
  log(entry('The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'))
  log(entry('The broker received an out of order sequence number'))
  const [transient, real] = lines.map((l) => JSON.parse(l) as { level: number, retriable?: boolean })
  assert.equal(transient!.level, 40)
  assert.equal(transient!.retriable, true)
  assert.equal(real!.level, 50)
})
