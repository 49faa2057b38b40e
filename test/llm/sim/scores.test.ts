import assert from 'node:assert/strict'
import { test } from 'node:test'
import OpenAI from 'openai'
import { schemaName } from '../../../src/llm/protocol.ts'
import { unit } from '../../../src/llm/sim/hash.ts'
import { startLlmSim } from '../../../src/llm/sim/server.ts'
import { CRITERIA, demoDocs, schemaErrors, scoreDistributionProblems, SCORING_SCHEMA } from './helpers.ts'

/** 300 different documents: the 40 demo documents, each with its sentences rotated 0–7 times. */
function corpus (n = 300): string[] {
  const docs = demoDocs()
  return Array.from({ length: n }, (_, i) => {
    const sentences = docs[i % docs.length]!.split(/(?<=[.!?])\s+/)
    const k = Math.floor(i / docs.length) % sentences.length
    return [...sentences.slice(k), ...sentences.slice(0, k), `(copy ${i})`].join(' ')
  })
}

/** Scores every document through the simulator, as the scoring stage would, and returns the totals. */
async function totals (scoreP1?: number): Promise<number[]> {
  const sim = await startLlmSim(scoreP1 === undefined ? {} : { scoreP1 })
  const client = new OpenAI({ baseURL: sim.url, apiKey: 'k', maxRetries: 0 })
  try {
    const docs = corpus()
    const out: number[] = []
    for (let i = 0; i < docs.length; i += 50) {
      const batch = await Promise.all(docs.slice(i, i + 50).map(async (doc) => {
        const r = await client.chat.completions.create({
          model: 'sim-chat-70b',
          messages: [{ role: 'system', content: 'Judge the instruction on seven criteria.' }, { role: 'user', content: doc }],
          response_format: { type: 'json_schema', json_schema: { name: schemaName('scoring', 1), schema: SCORING_SCHEMA, strict: true } },
        })
        const v = JSON.parse(r.choices[0]!.message.content!) as Record<string, { score: number }> & { total: number }
        assert.equal(schemaErrors(SCORING_SCHEMA, v), null)
        assert.equal(v.total, CRITERIA.reduce((acc, c) => acc + v[c]!.score, 0))
        return v.total
      }))
      out.push(...batch)
    }
    return out
  } finally {
    await sim.close()
  }
}

test('over 300 documents the 7-criteria totals look like the paper\'s (mean ≈ 6.2; 7/7 ≈ 45 %, 6/7 ≈ 39 %, 5/7 ≈ 13 %)', async () => {
  const t = await totals()
  assert.equal(t.length, 300)
  assert.deepEqual(scoreDistributionProblems(t), [])
  const mean = t.reduce((a, b) => a + b, 0) / t.length
  assert.ok(mean > 5.9 && mean < 6.5, `mean ${mean}`)
})

test('the distribution check fails for score generators that are not like the paper\'s', async () => {
  const n = 300
  const binomial = (p: number): number[] => Array.from({ length: n }, (_, i) => {
    let s = 0
    for (let c = 0; c < 7; c++) s += unit(42, `${i}/${c}`) < p ? 1 : 0
    return s
  })
  assert.notDeepEqual(scoreDistributionProblems(Array(n).fill(7)), [], 'constant 7')
  assert.notDeepEqual(scoreDistributionProblems(Array(n).fill(6)), [], 'constant 6 (mean inside the band)')
  assert.notDeepEqual(scoreDistributionProblems(Array.from({ length: n }, (_, i) => i % 8)), [], 'uniform 0–7')
  assert.notDeepEqual(scoreDistributionProblems(Array.from({ length: n }, (_, i) => [7, 6, 6, 5][i % 4]!)), [], 'too few 7s')
  assert.notDeepEqual(scoreDistributionProblems(binomial(0.97)), [], 'nearly always 1')
  assert.deepEqual(scoreDistributionProblems(binomial(0.89)), [], 'the intended per-criterion rate passes')
  // And through the simulator: a different P(1) is caught.
  assert.notDeepEqual(scoreDistributionProblems(await totals(0.75)), [])
  assert.notDeepEqual(scoreDistributionProblems(await totals(1)), [])
})
