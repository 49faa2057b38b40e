import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import OpenAI, { BadRequestError } from 'openai'
import { cosine, embed } from '../../../src/llm/sim/embeddings.ts'
import { startLlmSim, type LlmSim } from '../../../src/llm/sim/server.ts'
import { demoDocs } from './helpers.ts'

let sim: LlmSim
let client: OpenAI
before(async () => {
  sim = await startLlmSim()
  client = new OpenAI({ baseURL: sim.url, apiKey: 'k', maxRetries: 0 })
})
after(() => sim.close())

const MOON = 'The collision that formed the Moon may have delivered carbon and nitrogen to the early Earth.'
const MOON2 = 'A giant collision with early Earth, which formed the Moon, may explain where its carbon came from.'
const SINK = 'Wide pedestal sinks with a chrome faucet are a popular choice for small bathrooms.'

test('similar texts are closer than unrelated ones; vectors are unit length and deterministic', async () => {
  // The client's default: it asks for base64 float32 and decodes it.
  const r = await client.embeddings.create({ model: 'sim-embed-small', input: [MOON, MOON2, SINK] })
  assert.equal(r.object, 'list')
  assert.equal(r.model, 'sim-embed-small')
  assert.deepEqual(r.data.map((d) => [d.object, d.index, d.embedding.length]), [['embedding', 0, 384], ['embedding', 1, 384], ['embedding', 2, 384]])
  const [m1, m2, s] = r.data.map((d) => d.embedding) as [number[], number[], number[]]
  assert.ok(Math.abs(cosine(m1, m1) - 1) < 1e-6)
  assert.ok(Math.abs(Math.hypot(...m1) - 1) < 1e-5)
  assert.ok(cosine(m1, m2) > 0.3, `related: ${cosine(m1, m2)}`)
  assert.ok(Math.abs(cosine(m1, s)) < 0.15, `unrelated: ${cosine(m1, s)}`)
  assert.ok(cosine(m1, m2) > cosine(m1, s) + 0.25)
  assert.equal(r.usage.prompt_tokens, [MOON, MOON2, SINK].reduce((a, t) => a + Math.ceil(t.length / 4), 0))
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens)
  // Same text, same vector; float and base64 carry the same numbers (to float32 precision).
  const again = await client.embeddings.create({ model: 'sim-embed-small', input: MOON, encoding_format: 'float' })
  const f = again.data[0]!.embedding
  assert.equal(f.length, 384)
  for (let i = 0; i < 384; i++) assert.ok(Math.abs(f[i]! - m1[i]!) < 1e-6)
  const b64 = await client.embeddings.create({ model: 'sim-embed-small', input: MOON, encoding_format: 'base64' })
  assert.equal(typeof b64.data[0]!.embedding, 'string')
  assert.equal(Buffer.from(b64.data[0]!.embedding as unknown as string, 'base64').length, 384 * 4)
})

test('dimensions are respected; token-array input works; empty input is a 400', async () => {
  for (const dimensions of [8, 256, 1536]) {
    const r = await client.embeddings.create({ model: 'sim-embed-small', input: [MOON, SINK], dimensions })
    for (const d of r.data) assert.equal(d.embedding.length, dimensions)
  }
  const tokens = await client.embeddings.create({ model: 'sim-embed-small', input: [[1, 2, 3], [1, 2, 4]], encoding_format: 'float' })
  assert.equal(tokens.data.length, 2)
  await assert.rejects(client.embeddings.create({ model: 'sim-embed-small', input: '' }), (e: unknown) => e instanceof BadRequestError && e.param === 'input')
  await assert.rejects(client.embeddings.create({ model: 'sim-embed-small', input: 'x', dimensions: 0 }), BadRequestError)
})

test('each half of a demo document finds its other half among 20 documents (bag of words, feature-hashed)', () => {
  // Chance would be 1 in 20; a word-overlap embedding gets most right (some C4 pages are lists of
  // unrelated phrases, so not all).
  let correct = 0
  const docs = demoDocs()
  for (const set of [docs.slice(0, 20), docs.slice(20, 40)]) {
    const halves = set.map((d) => {
      const words = d.split(/\s+/)
      return [words.slice(0, words.length / 2).join(' '), words.slice(words.length / 2).join(' ')] as const
    })
    const firsts = halves.map(([a]) => embed(a))
    const seconds = halves.map(([, b]) => embed(b))
    for (let i = 0; i < set.length; i++) {
      const sims = seconds.map((s) => cosine(firsts[i]!, s))
      if (sims.indexOf(Math.max(...sims)) === i) correct++
    }
  }
  assert.ok(correct >= 28, `${correct}/40 halves matched their own document`)
})
