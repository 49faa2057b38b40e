import assert from 'node:assert/strict'
import { test } from 'node:test'
import { answerJson, answerProse, nameClass } from '../../../src/llm/sim/answer.ts'
import { seedOf } from '../../../src/llm/sim/hash.ts'
import { analyze } from '../../../src/llm/sim/text.ts'
import { CONCEPTS_SCHEMA, CRITERIA, demoDocs, INSTRUCTION_SCHEMA, schemaErrors, SCORING_SCHEMA, SITUATION_SCHEMA } from './helpers.ts'

const docs = demoDocs()
const ctx = (text: string, extra = ''): { text: string, seed: number } => ({ text, seed: seedOf(extra + text) })

test('the stage schemas of the paper get schema-valid answers for every demo document', () => {
  for (const schema of [CONCEPTS_SCHEMA, SITUATION_SCHEMA, INSTRUCTION_SCHEMA, SCORING_SCHEMA]) {
    for (const doc of docs) {
      const v = answerJson(schema, ctx(doc))
      assert.equal(schemaErrors(schema, v), null, `${JSON.stringify(v)}`)
    }
  }
})

test('a schema using most of JSON Schema gets valid answers', () => {
  const schema = {
    type: 'object',
    $defs: { tag: { type: 'string', minLength: 3, maxLength: 12 } },
    properties: {
      id: { type: 'string', format: 'uuid' },
      when: { type: 'string', format: 'date-time' },
      day: { type: 'string', format: 'date' },
      contact: { type: 'string', format: 'email' },
      link: { type: 'string', format: 'uri' },
      title: { type: 'string', maxLength: 8 },
      summary: { type: 'string', minLength: 300 },
      level: { enum: ['easy', 'medium', 'hard'] },
      version: { const: 3 },
      difficulty: { type: 'integer', minimum: 1, maximum: 10 },
      ratio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      step: { type: 'number', minimum: 0, maximum: 10, multipleOf: 0.5 },
      even: { type: 'integer', multipleOf: 2, minimum: 3, maximum: 9 },
      nullable_note: { type: ['string', 'null'], maxLength: 40 },
      either: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 5, maximum: 5 }] },
      merged: { allOf: [{ type: 'object', properties: { a: { type: 'boolean' } }, required: ['a'] }, { properties: { b: { type: 'string', pattern: '^[a-z_]+$' } }, required: ['b'] }] },
      tags: { type: 'array', items: { $ref: '#/$defs/tag' }, minItems: 6, maxItems: 8, uniqueItems: true },
      pair: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string' }], items: false, minItems: 2 },
      matrix: { type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 3 }, minItems: 2, maxItems: 2 }, minItems: 2, maxItems: 2 },
      nested: {
        type: 'object',
        properties: { deeper: { type: 'object', properties: { flag: { type: 'boolean' }, count: { type: 'integer', minimum: 0 } }, required: ['flag', 'count'], additionalProperties: false } },
        required: ['deeper'],
        additionalProperties: false,
      },
      free: { type: 'object', additionalProperties: { type: 'integer' }, minProperties: 2 },
      anything: {},
    },
    required: ['id', 'when', 'title', 'summary', 'tags', 'free', 'anything'],
    additionalProperties: false,
  }
  for (const doc of [...docs.slice(0, 10), '', '!!! ???', 'Word']) {
    const v = answerJson(schema, ctx(doc))
    assert.equal(schemaErrors(schema, v), null, `${doc.slice(0, 30)} → ${JSON.stringify(v)}`)
  }
  // A recursive schema terminates.
  const tree = { $defs: { node: { type: 'object', properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['name', 'children'] } }, $ref: '#/$defs/node' }
  const v = answerJson(tree, ctx(docs[0]!))
  assert.equal(schemaErrors(tree, v), null)
})

test('answers are deterministic and come from the document', () => {
  const [a, b] = docs as [string, string]
  assert.deepEqual(answerJson(SCORING_SCHEMA, ctx(a)), answerJson(SCORING_SCHEMA, ctx(a)))
  assert.equal(answerProse(ctx(a)), answerProse(ctx(a)))
  const ka = (answerJson(CONCEPTS_SCHEMA, ctx(a)) as { keywords: string[] }).keywords
  const kb = (answerJson(CONCEPTS_SCHEMA, ctx(b)) as { keywords: string[] }).keywords
  assert.notDeepEqual(ka, kb)
  for (const k of ka) assert.ok(a.toLowerCase().includes(k.toLowerCase().split(' ')[0]!), `keyword "${k}" is not in the document`)
  // Keywords are the document's distinctive words, not stop words.
  assert.deepEqual(analyze('The cat sat on the mat. The cat purred. A cat!').keywords.slice(0, 2), ['cat', 'purred'])
  // Different documents give different instructions and different score vectors.
  const queries = new Set(docs.map((d) => (answerJson(INSTRUCTION_SCHEMA, ctx(d)) as { query: string }).query))
  assert.equal(queries.size, docs.length)
  const vectors = new Set(docs.map((d) => CRITERIA.map((c) => (answerJson(SCORING_SCHEMA, ctx(d)) as Record<string, { score: number }>)[c]!.score).join('')))
  assert.ok(vectors.size >= 8, `only ${vectors.size} distinct score vectors over ${docs.length} documents`)
})

test('request-like fields quote the document; totals add up the scores next to them', () => {
  for (const doc of docs.slice(0, 10)) {
    const { query } = answerJson(INSTRUCTION_SCHEMA, ctx(doc)) as { query: string }
    const quoted = /"([^"]+)"/.exec(query)?.[1]?.replace(/^…|…$/g, '')
    assert.ok(quoted && quoted.length >= 10, query)
    assert.ok(doc.replace(/\s+/g, ' ').replace(/["“”]/g, "'").includes(quoted), `"${quoted}" is not an excerpt of the document`)
    const scored = answerJson(SCORING_SCHEMA, ctx(doc)) as Record<string, { score: number, analysis: string }> & { total: number }
    assert.equal(scored.total, CRITERIA.reduce((acc, c) => acc + scored[c]!.score, 0))
    for (const c of CRITERIA) assert.match(scored[c]!.analysis, scored[c]!.score ? /so it meets/ : /does not meet/)
  }
  // Sibling 0/1 integers count too, and so do objects in a list.
  const flat = { type: 'object', properties: { a: { enum: [0, 1] }, b: { type: 'integer', minimum: 0, maximum: 1 }, total: { type: 'integer' } } }
  const listed = { type: 'object', properties: { criteria: { type: 'array', minItems: 4, maxItems: 4, items: { type: 'object', properties: { name: { type: 'string' }, score: { type: 'integer', minimum: 0, maximum: 1 } } } }, total: { type: 'integer' } } }
  for (const doc of docs.slice(0, 10)) {
    const f = answerJson(flat, ctx(doc)) as { a: number, b: number, total: number }
    assert.equal(f.total, f.a + f.b)
    const l = answerJson(listed, ctx(doc)) as { criteria: Array<{ score: number }>, total: number }
    assert.equal(l.total, l.criteria.reduce((acc, c) => acc + c.score, 0))
  }
})

test('property names map to kinds of text', () => {
  const cases: Array<[string, string]> = [
    ['keywords', 'keywords'], ['concepts', 'keywords'], ['topics', 'keywords'], ['intention', 'intention'], ['userMotivation', 'motivation'],
    ['identity', 'identity'], ['scene', 'scene'], ['thought', 'thought'], ['analysis', 'analysis'], ['instruction', 'instruction'],
    ['query', 'instruction'], ['question', 'instruction'], ['extra_information', 'extra'], ['ability', 'ability'], ['knowledge', 'knowledge'],
    ['output', 'output'], ['title', 'title'], ['zzz', 'generic'],
  ]
  for (const [name, cls] of cases) assert.equal(nameClass(name), cls, name)
})
