import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import OpenAI, { AuthenticationError, BadRequestError, NotFoundError } from 'openai'
import { extractJson } from '../../../src/llm/json-output.ts'
import { schemaInPrompt, schemaName, SIMULATOR_FINGERPRINT } from '../../../src/llm/protocol.ts'
import { startLlmSim, type LlmSim } from '../../../src/llm/sim/server.ts'
import { CONCEPTS_SCHEMA, CRITERIA, demoDocs, INSTRUCTION_SCHEMA, schemaErrors, SCORING_SCHEMA, SITUATION_SCHEMA } from './helpers.ts'

const KEY = 'sk-sim-test-9c1f2e'
let sim: LlmSim
let client: OpenAI
const docs = demoDocs()

before(async () => {
  sim = await startLlmSim({ apiKey: KEY })
  client = new OpenAI({ baseURL: sim.url, apiKey: KEY, maxRetries: 0 })
})
after(() => sim.close())

const SYSTEM = 'You extract what a document is about.'

function ask (doc: string, schema: object, stage = 'concepts'): Promise<OpenAI.ChatCompletion> {
  return client.chat.completions.create({
    model: 'sim-chat-8b',
    messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: doc }],
    response_format: { type: 'json_schema', json_schema: { name: schemaName(stage, 1), schema: schema as Record<string, unknown>, strict: true } },
  })
}

test('json_schema: schema-valid JSON in OpenAI\'s response shape, deterministic, different per document', async () => {
  const stages: Array<[string, object]> = [['concepts', CONCEPTS_SCHEMA], ['situation', SITUATION_SCHEMA], ['instruction', INSTRUCTION_SCHEMA], ['scoring', SCORING_SCHEMA]]
  for (const [stage, schema] of stages) {
    for (const doc of docs.slice(0, 5)) {
      const r = await ask(doc, schema, stage)
      assert.equal(r.object, 'chat.completion')
      assert.match(r.id, /^chatcmpl-/)
      assert.equal(r.model, 'sim-chat-8b')
      assert.equal(r.system_fingerprint, SIMULATOR_FINGERPRINT)
      assert.equal(typeof r.created, 'number')
      const choice = r.choices[0]!
      assert.equal(choice.index, 0)
      assert.equal(choice.message.role, 'assistant')
      assert.equal(choice.finish_reason, 'stop')
      assert.equal(schemaErrors(schema, JSON.parse(choice.message.content!)), null, choice.message.content!)
      const u = r.usage!
      assert.equal(u.prompt_tokens, Math.ceil(SYSTEM.length / 4) + 4 + Math.ceil(doc.length / 4) + 4)
      assert.equal(u.completion_tokens, Math.ceil(choice.message.content!.length / 4))
      assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens)
    }
  }
  const [a, b] = docs as [string, string]
  const first = (await ask(a, SCORING_SCHEMA)).choices[0]!.message.content
  assert.equal((await ask(a, SCORING_SCHEMA)).choices[0]!.message.content, first)
  const kw = async (d: string): Promise<string[]> => (JSON.parse((await ask(d, CONCEPTS_SCHEMA)).choices[0]!.message.content!) as { keywords: string[] }).keywords
  assert.notDeepEqual(await kw(a), await kw(b))
  const scores = new Set<string>()
  for (const d of docs.slice(0, 20)) {
    const s = JSON.parse((await ask(d, SCORING_SCHEMA)).choices[0]!.message.content!) as Record<string, { score: number }>
    scores.add(CRITERIA.map((c) => s[c]!.score).join(''))
  }
  assert.ok(scores.size > 3, `only ${scores.size} distinct score vectors over 20 documents`)
})

test('schema in the prompt (no json_schema support), json_object, and prose', async () => {
  const doc = docs[3]!
  const inPrompt = await client.chat.completions.create({
    model: 'sim-chat-70b',
    messages: [{ role: 'system', content: `${SYSTEM}\n\n${schemaInPrompt(SITUATION_SCHEMA)}` }, { role: 'user', content: doc }],
  })
  const value = extractJson(inPrompt.choices[0]!.message.content!)
  assert.equal(schemaErrors(SITUATION_SCHEMA, value), null)
  const jsonObject = await client.chat.completions.create({ model: 'sim-chat-8b', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: `Answer in JSON. ${doc}` }] })
  assert.equal(typeof JSON.parse(jsonObject.choices[0]!.message.content!), 'object')
  const prose = (await client.chat.completions.create({ model: 'sim-chat-8b', messages: [{ role: 'user', content: doc }] })).choices[0]!.message.content!
  assert.throws(() => JSON.parse(prose))
  assert.ok(prose.length > 100)
  // Content parts are read like a string.
  const parts = await client.chat.completions.create({ model: 'sim-chat-8b', messages: [{ role: 'user', content: [{ type: 'text', text: doc }] }] })
  assert.equal(parts.choices[0]!.message.content, prose)
})

test('a repair turn after a broken answer gets the original request\'s answer', async () => {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'system', content: SYSTEM }, { role: 'user', content: docs[5]! }]
  const rf = { type: 'json_schema' as const, json_schema: { name: schemaName('concepts', 1), schema: CONCEPTS_SCHEMA } }
  const clean = (await client.chat.completions.create({ model: 'sim-chat-8b', messages, response_format: rf })).choices[0]!.message.content!
  sim.queueFaults(['malformed_json'])
  const broken = (await client.chat.completions.create({ model: 'sim-chat-8b', messages: [{ role: 'user', content: docs[5]! }], response_format: rf })).choices[0]!.message.content!
  assert.throws(() => extractJson(broken))
  // The broken answer came from a request without the system message, so its repair gets that request's answer.
  const repaired = await client.chat.completions.create({
    model: 'sim-chat-8b',
    messages: [{ role: 'user', content: docs[5]! }, { role: 'assistant', content: broken }, { role: 'user', content: 'That was not valid JSON. Answer again with only the JSON object.' }],
    response_format: rf,
  })
  const direct = (await client.chat.completions.create({ model: 'sim-chat-8b', messages: [{ role: 'user', content: docs[5]! }], response_format: rf })).choices[0]!.message.content!
  assert.equal(repaired.choices[0]!.message.content, direct)
  assert.notEqual(direct, clean) // the system message is part of the conversation's seed
  // A long answer quoted back shortened (past its first 1,024 characters) is still recognised.
  const long = { type: 'json_schema' as const, json_schema: { name: 'long', schema: { type: 'object', properties: { summary: { type: 'string', minLength: 3000 } }, required: ['summary'] } } }
  const original = (await client.chat.completions.create({ model: 'sim-chat-8b', messages: [{ role: 'user', content: docs[6]! }], response_format: long })).choices[0]!.message.content!
  const again = await client.chat.completions.create({
    model: 'sim-chat-8b',
    messages: [{ role: 'user', content: docs[6]! }, { role: 'assistant', content: original.slice(0, 2000) }, { role: 'user', content: 'Please answer again.' }],
    response_format: long,
  })
  assert.equal(again.choices[0]!.message.content, original)
})

test('streaming gives the same content in chat.completion.chunk events, with usage on request', async () => {
  const req = { model: 'sim-chat-8b', messages: [{ role: 'user' as const, content: docs[7]! }], response_format: { type: 'json_schema' as const, json_schema: { name: 's', schema: INSTRUCTION_SCHEMA } } }
  const whole = await client.chat.completions.create(req)
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } })
  let text = ''
  let finish: string | null = null
  let usage: OpenAI.CompletionUsage | undefined
  let chunks = 0
  for await (const chunk of stream) {
    chunks++
    assert.equal(chunk.object, 'chat.completion.chunk')
    text += chunk.choices[0]?.delta.content ?? ''
    finish = chunk.choices[0]?.finish_reason ?? finish
    if (chunk.usage) usage = chunk.usage
  }
  assert.ok(chunks > 3)
  assert.equal(text, whole.choices[0]!.message.content)
  assert.equal(finish, 'stop')
  assert.equal(usage?.completion_tokens, whole.usage!.completion_tokens)
})

test('max_tokens cuts the answer with finish_reason length; n gives several choices', async () => {
  const r = await client.chat.completions.create({ model: 'sim-chat-8b', max_completion_tokens: 5, messages: [{ role: 'user', content: docs[0]! }] })
  assert.equal(r.choices[0]!.finish_reason, 'length')
  assert.equal(r.choices[0]!.message.content!.length, 20)
  assert.equal(r.usage!.completion_tokens, 5)
  const n = await client.chat.completions.create({ model: 'sim-chat-8b', n: 3, messages: [{ role: 'user', content: docs[0]! }] })
  assert.deepEqual(n.choices.map((c) => c.index), [0, 1, 2])
  assert.equal(new Set(n.choices.map((c) => c.message.content)).size, 3)
})

test('/v1/models lists the sim- models; an unknown model is a 404 in OpenAI\'s shape', async () => {
  const ids = []
  for await (const m of client.models.list()) ids.push(m.id)
  assert.deepEqual(ids, ['sim-chat-8b', 'sim-chat-70b', 'sim-embed-small'])
  assert.equal((await client.models.retrieve('sim-chat-70b')).id, 'sim-chat-70b')
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
    assert.ok(e instanceof NotFoundError)
    assert.equal(e.status, 404)
    assert.deepEqual(e.error, { message: 'The model `gpt-4o` does not exist or you do not have access to it.', type: 'invalid_request_error', param: 'model', code: 'model_not_found' })
    return true
  })
  await assert.rejects(client.embeddings.create({ model: 'sim-chat-8b', input: 'x' }), BadRequestError)
  await assert.rejects(() => startLlmSim({ models: ['gpt-4o'] }), /must start with "sim-"/)
})

test('401 without the right key, and the key sent is never echoed', async () => {
  const wrong = 'sk-wrong-key-abcdef123456'
  await assert.rejects(new OpenAI({ baseURL: sim.url, apiKey: wrong, maxRetries: 0 }).models.list(), (e: unknown) => {
    assert.ok(e instanceof AuthenticationError)
    assert.equal(e.code, 'invalid_api_key')
    assert.equal(e.type, 'invalid_request_error')
    for (const fragment of [wrong, wrong.slice(0, 6), wrong.slice(-4), KEY]) assert.ok(!JSON.stringify(e.error).includes(fragment), 'key echoed')
    return true
  })
  const none = await fetch(`${sim.url}/chat/completions`, { method: 'POST', body: '{}' })
  assert.equal(none.status, 401)
  const body = await none.json() as { error: { code: string, type: string } }
  assert.equal(body.error.code, 'invalid_api_key')
  assert.equal(body.error.type, 'invalid_request_error')
})

test('malformed bodies are 400s in OpenAI\'s error shape', async () => {
  const post = async (body: string): Promise<{ status: number, error: { message: string, type: string, param: string | null, code: string | null } }> => {
    const r = await fetch(`${sim.url}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body })
    return { status: r.status, ...await r.json() as { error: { message: string, type: string, param: string | null, code: string | null } } }
  }
  for (const body of ['{not json', '[1,2]', '{}', '{"model":"sim-chat-8b"}', '{"model":"sim-chat-8b","messages":[]}',
    '{"model":"sim-chat-8b","messages":[{"role":"wizard","content":"x"}]}', '{"model":"sim-chat-8b","messages":[{"role":"user","content":5}]}',
    '{"model":"sim-chat-8b","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"bad name!"}}}',
    '{"model":"sim-chat-8b","messages":[{"role":"user","content":"x"}],"n":0}']) {
    const r = await post(body)
    assert.equal(r.status, 400, body)
    assert.equal(r.error.type, 'invalid_request_error')
    assert.equal(typeof r.error.message, 'string')
    assert.ok('param' in r.error && 'code' in r.error)
  }
  const unknown = await fetch(`${sim.url}/completions/legacy`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } })
  assert.equal(unknown.status, 404)
  const stats = sim.stats()
  assert.ok((stats.requests.byStatus['400'] ?? 0) >= 9)
  assert.ok((stats.requests.byStatus['401'] ?? 0) >= 2)
})
