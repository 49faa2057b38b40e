import assert from 'node:assert/strict'
import { test } from 'node:test'
import { extractJson, InvalidOutputError } from '../../src/llm/json-output.ts'

const want = { intention: 'sell more', keywords: ['Etsy', 'marketing'] }

test('finds the JSON in every shape models answer in', () => {
  const cases = [
    JSON.stringify(want),
    `\`\`\`json\n${JSON.stringify(want, null, 2)}\n\`\`\``,
    `Sure! Here is the analysis:\n\`\`\`\n${JSON.stringify(want)}\n\`\`\`\nLet me know.`,
    `Here is the result: ${JSON.stringify(want)} — I hope this helps.`,
    `I'll think first. {not json} Then: ${JSON.stringify(want)}`,
    `\uFEFF  ${JSON.stringify(want)}  `,
  ]
  for (const c of cases) assert.deepEqual(extractJson(c), want, c)
})

test('braces and quotes inside strings do not confuse the scan', () => {
  const tricky = { code: 'if (a) { return "}" }', note: 'say \\"hi\\" {' }
  assert.deepEqual(extractJson(`Answer: ${JSON.stringify(tricky)} done`), tricky)
})

test('no JSON at all is an InvalidOutputError that keeps the raw answer', () => {
  for (const raw of ['', '   ', 'I cannot help with that.', '{"truncated": "answer']) {
    assert.throws(() => extractJson(raw), (e: unknown) => e instanceof InvalidOutputError && e.raw === raw && e.retriable === false)
  }
})
