/**
 * The structured-output dialects of servers that cannot run here (OpenAI, vLLM old and new,
 * SGLang, Ollama, TGI), played by small HTTP servers that check each request the way the real
 * server does, from its documented request shape, and answer with its documented refusals and
 * response shapes. What is constrained is answered by synthq's simulator with the schema; what a
 * server would ignore reaches the simulator without it (so the answer does not fit, as a real
 * unconstrained model's would not). The real client code is what runs: the start-up probe picks
 * the dialect, one stage call then goes out in it.
 *
 * Sources of the shapes: OpenAI's chat-completions reference (response_format json_schema); vLLM's
 * OpenAI-compatible server (guided_json extra parameter, pydantic 400s, `max_model_len` in
 * /v1/models); SGLang (OpenAI json_schema); Ollama's /v1 (json_schema → its `format`, unknown
 * fields ignored); TGI's Messages API (`response_format: {type: "json_object", value}`, serde 422s).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { LlmClient } from '../../src/llm/client.ts'
import { resolveLlmSettings } from '../../src/llm/config.ts'
import type { Dialect } from '../../src/llm/dialects.ts'
import { startLlmSim, type LlmSim } from '../../src/llm/sim/server.ts'
import { createLogger } from '../../src/log.ts'
import { requestShape, startSimProxy, type SimProxy } from '../helpers/sim-proxy.ts'

type Body = Record<string, unknown> & { response_format?: Record<string, unknown>, guided_json?: object }
/** What a server makes of a request: refuse it (status, body), or pass it on constrained by a schema or not at all. */
type Verdict = { refuse: number, body: unknown } | { schema: object | undefined }

interface Persona {
  name: string
  /** Extra fields of its /v1/models entries. */
  modelEntry?: Record<string, unknown>
  judge: (b: Body) => Verdict
  expect: { dialect: Dialect, attempts: string[], contextWindow?: number }
}

const pydanticLiteral = (loc: string, input: string, expected: string): string => `[{'type': 'literal_error', 'loc': ('body', ${loc}), 'msg': "Input should be ${expected}", 'input': '${input}'}]`

const PERSONAS: Persona[] = [
  {
    name: 'OpenAI',
    judge: (b) => {
      const rf = b.response_format
      if (b.guided_json) return { refuse: 400, body: { error: { message: 'Unrecognized request argument supplied: guided_json', type: 'invalid_request_error', param: null, code: null } } }
      if (rf?.type === 'json_schema') {
        const js = rf.json_schema as { name: string, schema: object, strict?: boolean }
        // Strict mode refuses length and numeric bounds (OpenAI's structured-outputs guide, "Supported schemas").
        const refused = js.strict ? /"(minLength|maxLength|minItems|maxItems|minimum|maximum)"/.exec(JSON.stringify(js.schema)) : null
        if (refused) return { refuse: 400, body: { error: { message: `Invalid schema for response_format '${js.name}': '${refused[1]}' is not permitted.`, type: 'invalid_request_error', param: 'response_format', code: null } } }
        return { schema: js.schema }
      }
      return { schema: undefined }
    },
    expect: { dialect: 'json_schema_strict', attempts: ['json_schema refused', 'json_schema_strict ok'] },
  },
  {
    name: 'vLLM 0.8 (json_schema, max_model_len)',
    modelEntry: { owned_by: 'vllm', root: 'meta-llama/Llama-3.1-8B-Instruct', max_model_len: 32768 },
    judge: (b) => b.response_format?.type === 'json_schema' ? { schema: (b.response_format.json_schema as { schema: object }).schema } : { schema: b.guided_json },
    expect: { dialect: 'json_schema', attempts: ['json_schema ok'], contextWindow: 32768 },
  },
  {
    name: 'vLLM 0.5 (guided_json only)',
    modelEntry: { owned_by: 'vllm', max_model_len: 8192 },
    judge: (b) => {
      const rf = b.response_format
      if (rf && !['text', 'json_object'].includes(rf.type as string)) return { refuse: 400, body: { object: 'error', message: pydanticLiteral("'response_format', 'type'", String(rf.type), "'text' or 'json_object'"), type: 'BadRequestError', param: null, code: 400 } }
      if (rf && Object.keys(rf).some((k) => k !== 'type')) return { refuse: 400, body: { object: 'error', message: "[{'type': 'extra_forbidden', 'loc': ('body', 'response_format', 'schema'), 'msg': 'Extra inputs are not permitted'}]", type: 'BadRequestError', param: null, code: 400 } }
      return { schema: b.guided_json }
    },
    expect: { dialect: 'guided_json', attempts: ['json_schema refused', 'json_object_schema refused', 'guided_json ok'], contextWindow: 8192 },
  },
  {
    name: 'SGLang',
    modelEntry: { owned_by: 'sglang', root: 'Qwen/Qwen2.5-7B-Instruct', max_model_len: 32768 },
    judge: (b) => b.response_format?.type === 'json_schema' ? { schema: (b.response_format.json_schema as { schema: object }).schema } : { schema: undefined },
    expect: { dialect: 'json_schema', attempts: ['json_schema ok'], contextWindow: 32768 },
  },
  {
    name: 'Ollama 0.5+ /v1',
    modelEntry: { owned_by: 'library' },
    // json_schema becomes its `format`; anything it does not know is ignored, not refused.
    judge: (b) => b.response_format?.type === 'json_schema' ? { schema: (b.response_format.json_schema as { schema: object }).schema } : { schema: undefined },
    expect: { dialect: 'json_schema', attempts: ['json_schema ok'] },
  },
  {
    name: 'TGI 2.x Messages API',
    modelEntry: { owned_by: 'tgi' },
    judge: (b) => {
      const rf = b.response_format
      if (rf && !['json', 'json_object', 'regex'].includes(rf.type as string)) return { refuse: 422, body: { error: `Failed to deserialize the JSON body into the target type: response_format: unknown variant \`${String(rf.type)}\`, expected one of \`json\`, \`regex\`, \`json_object\` at line 1 column 400`, error_type: 'validation' } }
      if (rf && rf.value === undefined) return { refuse: 422, body: { error: 'Failed to deserialize the JSON body into the target type: response_format: missing field `value` at line 1 column 400', error_type: 'validation' } }
      // Unknown top-level fields (guided_json) are ignored by its deserializer.
      return { schema: rf?.value as object | undefined }
    },
    expect: { dialect: 'tgi', attempts: ['json_schema refused', 'json_object_schema refused', 'guided_json ignored', 'tgi ok'] },
  },
]

let sim: LlmSim
before(async () => { sim = await startLlmSim() })
after(async () => { await sim.close() })

async function servePersona (p: Persona, seen: string[]): Promise<SimProxy> {
  return await startSimProxy(sim, {
    handle: ({ method, url, body }) => {
      if (method === 'GET' && url.endsWith('/models')) return { answer: { status: 200, json: { object: 'list', data: [{ id: 'served-model', object: 'model', created: 1733000000, ...p.modelEntry }] } } }
      const b = body as Body
      seen.push(requestShape(b))
      const v = p.judge(b)
      if ('refuse' in v) return { answer: { status: v.refuse, json: v.body } }
      const { response_format: _rf, guided_json: _gj, ...rest } = b
      return { forward: { ...rest, model: 'sim-chat-8b', ...(v.schema ? { response_format: { type: 'json_schema', json_schema: { name: 'constrained', schema: v.schema } } } : {}) } }
    },
    // The served model's name, as the real server would answer, and no simulator fingerprint.
    reply: (_r, json) => ({ ...json, model: 'served-model', system_fingerprint: null }),
  })
}

const SCHEMA = { type: 'object', additionalProperties: false, required: ['keywords'], properties: { keywords: { type: 'array', items: { type: 'string' }, minItems: 1 } } }

for (const p of PERSONAS) {
  test(`${p.name}: the probe picks ${p.expect.dialect}, and a stage call goes out in it`, async () => {
    const seen: string[] = []
    const server = await servePersona(p, seen)
    const settings = resolveLlmSettings({ stages: ['concepts'], env: { SYNTHQ_LLM_BASE_URL: server.url, SYNTHQ_LLM_NO_AUTH: 'true', SYNTHQ_LLM_MODEL: 'served-model', SYNTHQ_LLM_CACHE: 'false' } })
    const client = new LlmClient({ settings, logger: createLogger({ level: 'silent' }) })
    try {
      await client.preflight()
      const [probe] = client.structuredOutputs()
      assert.equal(probe?.dialect, p.expect.dialect)
      const found = (await client.probeStructuredOutputs())[0]!
      assert.deepEqual(found.attempts.map((a) => `${a.dialect} ${a.outcome}`), p.expect.attempts)
      assert.equal(client.stage('concepts').contextWindow, p.expect.contextWindow)
      seen.length = 0
      const r = await client.stage('concepts').json<{ keywords: string[] }>({ prompt: { id: 'p', version: '1' }, messages: [{ role: 'user', content: 'Kelp forests and sea otters' }], schema: SCHEMA })
      assert.ok(r.value.keywords.length > 0)
      assert.equal(r.repairs, 0, 'constrained: valid at once')
      assert.equal(r.simulated, false)
      assert.equal(seen.length, 1, `one request, in the dialect: ${seen.join(', ')}`)
    } finally {
      await client.close()
      await server.close()
    }
  })
}
