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

test('raw line breaks and tabs inside strings (a grammar-constrained llama-cpp-python answer): the whole object, not an inner one', () => {
  // Shape seen from smollm2-135m under llama-cpp-python's grammar: valid but for a raw newline in
  // one string. Read strictly, the first inner object that parses (one criterion) was taken.
  const raw = '{"specificity": {"analysis": "names the island", "score": 1}, "complexity": {"analysis": "] }\nThis JSON object\tlists:\n- ", "score": 0}}'
  assert.deepEqual(extractJson(raw), { specificity: { analysis: 'names the island', score: 1 }, complexity: { analysis: '] }\nThis JSON object\tlists:\n- ', score: 0 } })
  // Escapes already there stay as they are; a line break outside strings was always fine.
  assert.deepEqual(extractJson('{\n "a": "x\\ny",\n "b": "tab\there"\n}'), { a: 'x\ny', b: 'tab\there' })
})
