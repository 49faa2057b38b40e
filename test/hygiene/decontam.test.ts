/**
 * decontam.ts against the shipped Arena-Hard prompts: a prompt pasted into a document is
 * flagged by n-gram overlap, a rewritten one by shingle Jaccard, short prompts only when nearly
 * identical; real documents and real user prompts that do not overlap are left alone; the
 * loader reads the common benchmark layouts and names the line it cannot read.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConfigError } from '../../src/errors.ts'
import { Decontaminator, loadDecontaminator } from '../../src/hygiene/decontam.ts'
import { words } from '../../src/hygiene/minhash.ts'
import { ARENA_HARD, arenaHard, c4, mathDocs, oasstPrompts, physicsDocs } from './real-data.ts'

const BENCH = 'arena-hard-v0.1-questions.jsonl'
const t0 = performance.now()
const decontam = loadDecontaminator([ARENA_HARD])
const loadMs = performance.now() - t0
const arena = arenaHard()

test('loads the 500 Arena-Hard prompts', (t) => {
  const s = decontam.stats
  t.diagnostic(`loaded in ${loadMs.toFixed(0)} ms: ${s.prompts} prompts (${s.shortPrompts} under 13 words), ${s.ngrams} distinct 13-grams`)
  assert.deepEqual(s.benchmarks, [BENCH])
  assert.equal(s.prompts, 500)
  assert.equal(s.skippedLines, 0)
  assert.ok(s.shortPrompts > 0 && s.shortPrompts < 500)
})

test('an Arena-Hard prompt embedded in a longer document is flagged by 13-gram overlap', () => {
  const doc = c4()[10]!
  const long = arena.filter((a) => words(a.prompt).length >= 40).slice(0, 25)
  for (const a of long) {
    const half = Math.floor(doc.length / 2)
    const text = `${doc.slice(0, half)}\n\n${a.prompt}\n\n${doc.slice(half)}`
    const hit = decontam.check(text)
    assert.ok(hit, a.uid)
    assert.equal(hit.method, 'ngram')
    assert.equal(hit.benchmark, BENCH)
    assert.equal(hit.id, a.uid)
    assert.ok(hit.similarity > 0.9, `${a.uid}: ${hit.similarity}`)
    assert.ok(hit.excerpt.length > 0 && hit.excerpt.length <= 200)
  }
  // Only a 13-word sentence of a prompt, inside other text, is enough.
  const a = long[0]!
  const thirteen = words(a.prompt).slice(5, 18).join(' ')
  const hit = decontam.check(`Some unrelated opening words here. ${thirteen}. And an unrelated ending.`)
  assert.equal(hit?.method, 'ngram')
  assert.equal(hit?.id, a.uid)
  assert.equal(hit?.excerpt, thirteen)
  // Twelve are not.
  assert.equal(decontam.check(`Some unrelated opening words here. ${words(a.prompt).slice(5, 17).join(' ')}. And an unrelated ending.`), undefined)
})

test('the same prompt with different case and spacing is an exact match', () => {
  const a = arena.find((p) => words(p.prompt).length < 13)!
  const hit = decontam.check(`  ${a.prompt.toUpperCase().replace(/ /g, '   ')}\r\n`)
  assert.equal(hit?.method, 'exact')
  assert.equal(hit?.id, a.uid)
  assert.equal(hit?.similarity, 1)
})

test('a rewritten prompt (one word in 13 changed: no 13-gram survives) is flagged by MinHash / Jaccard', (t) => {
  let flagged = 0
  let total = 0
  let lowest = 1
  for (const a of arena) {
    const ws = words(a.prompt)
    if (ws.length < 26 || ws.length > 120) continue
    total++
    const rewritten = ws.slice()
    for (let p = 12; p < rewritten.length; p += 13) rewritten[p] = 'something'
    const hit = decontam.check(rewritten.join(' '))
    if (hit?.method === 'minhash' && hit.id === a.uid) flagged++
    if (hit) lowest = Math.min(lowest, hit.similarity)
    assert.notEqual(hit?.method, 'ngram', 'no 13-gram is left')
  }
  t.diagnostic(`${flagged} of ${total} rewritten prompts (26–120 words) flagged by minhash; lowest Jaccard ${lowest.toFixed(3)}`)
  assert.ok(total > 100)
  assert.equal(flagged, total)
  // A few neighbouring words swapped in a longer prompt: 13-grams survive between the swaps.
  const a = arena.find((p) => { const n = words(p.prompt).length; return n >= 60 && n <= 90 })!
  const ws = words(a.prompt)
  for (const p of [6, 30, 50]) [ws[p], ws[p + 1]] = [ws[p + 1]!, ws[p]!]
  assert.equal(decontam.check(ws.join(' '))?.id, a.uid)
})

test('limit: word-order swaps every 13 words mostly evade both tests (3-shingle Jaccard ≈ 0.55)', (t) => {
  // Measured with a loose threshold to see the similarity the default threshold misses.
  const loose = loadDecontaminator([ARENA_HARD], { jaccardThreshold: 0.3 })
  const sims: number[] = []
  let caught = 0
  for (const a of arena) {
    const ws = words(a.prompt)
    if (ws.length < 26 || ws.length > 120) continue
    for (let p = 11; p + 1 < ws.length; p += 13) [ws[p], ws[p + 1]] = [ws[p + 1]!, ws[p]!]
    if (decontam.check(ws.join(' '))) caught++
    const hit = loose.check(ws.join(' '))
    if (hit?.method === 'minhash') sims.push(hit.similarity)
  }
  sims.sort((x, y) => x - y)
  t.diagnostic(`${caught} of ${sims.length} caught at the default 0.6; their Jaccard: median ${sims[sims.length >> 1]?.toFixed(2)}, max ${sims.at(-1)?.toFixed(2)}`)
  assert.ok(sims.length > 100)
  assert.ok(sims[sims.length >> 1]! < 0.6)
})

test('short prompts (< 13 words) match only when nearly identical', () => {
  const a = arena.find((p) => { const n = words(p.prompt).length; return n >= 8 && n < 13 })!
  const ws = words(a.prompt)
  assert.equal(decontam.check(ws.join(' '))?.id, a.uid, 'same words, punctuation dropped')
  const changed = ws.slice()
  changed[Math.floor(ws.length / 2)] = 'elephant'
  assert.equal(decontam.check(changed.join(' ')), undefined, 'one changed word is a different short prompt')
})

test('real documents and real user prompts are not flagged (C4 300, math 200, physics 100, OpenAssistant 345)', (t) => {
  const flagged: string[] = []
  for (const [name, texts] of [['c4', c4().slice(0, 300)], ['math', mathDocs()], ['physics', physicsDocs()], ['oasst', oasstPrompts().map((p) => p.prompt)]] as const) {
    texts.forEach((text, i) => {
      const hit = decontam.check(text)
      if (hit) flagged.push(`${name}[${i}] ~ ${hit.id} (${hit.method} ${hit.similarity.toFixed(2)}: ${hit.excerpt})`)
    })
  }
  t.diagnostic(`flagged: ${flagged.length}${flagged.length ? `\n${flagged.join('\n')}` : ''}`)
  assert.deepEqual(flagged, [])
})

test('closest OpenAssistant prompts share only stock phrases, far below the thresholds', (t) => {
  // With a 6-word n-gram some seeds do meet Arena-Hard prompts — on phrases like "what is the
  // best way to" and "I want you to act as": that is why the n-gram is long.
  const loose = loadDecontaminator([ARENA_HARD], { ngram: 6 })
  const hits = oasstPrompts().map((p) => loose.check(p.prompt)).filter((h) => h !== undefined)
  t.diagnostic(`with 6-grams: ${hits.length} seeds flagged, e.g. ${[...new Set(hits.map((h) => `"${h.excerpt}"`))].slice(0, 4).join(', ')}`)
  assert.ok(hits.length > 0)
  for (const h of hits) assert.equal(h.method, 'ngram')
})

test('headroom: even at Jaccard 0.3 (0.4 for short prompts) no shipped document or seed is flagged', () => {
  const loose = loadDecontaminator([ARENA_HARD], { jaccardThreshold: 0.3, shortJaccardThreshold: 0.4 })
  const texts = [...c4(), ...oasstPrompts().map((p) => p.prompt)]
  assert.deepEqual(texts.map((x) => loose.check(x)).filter((h) => h !== undefined), [])
})

test('loader: turns[0].content, MT-Bench style turns[0], explicit promptField / idField, errors name the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synthq-decontam-'))
  const p = 'Explain in detail how the garbage collector of the Java virtual machine decides which objects are still reachable from roots.'
  const a = join(dir, 'upstream.jsonl')
  writeFileSync(a, `${JSON.stringify({ question_id: 'q1', turns: [{ content: p }] })}\n\n`)
  const b = join(dir, 'mt-bench.jsonl')
  writeFileSync(b, `${JSON.stringify({ question_id: 81, turns: ['Compose an engaging travel blog post about a recent trip to Hawaii, highlighting cultural experiences and must-see attractions.', 'Rewrite it.'] })}\n`)
  const d = Decontaminator.fromFiles([a, b])
  assert.deepEqual(d.check(`Intro. ${p} Outro.`), { benchmark: 'upstream.jsonl', id: 'q1', similarity: 1, method: 'ngram', excerpt: words(p).join(' ') })
  assert.equal(d.check('Compose an engaging travel blog post about a recent trip to Hawaii, highlighting cultural experiences')?.id, '81')
  const c = join(dir, 'custom.jsonl')
  writeFileSync(c, `${JSON.stringify({ key: 'k9', data: { text: p } })}\n`)
  assert.equal(Decontaminator.fromFiles([c], { promptField: 'data.text', idField: 'key' }).check(p)?.id, 'k9')
  assert.throws(() => Decontaminator.fromFiles([c]), (e: unknown) => e instanceof ConfigError && /no prompts found .*custom\.jsonl/.test(e.message))
  const bad = join(dir, 'bad.jsonl')
  writeFileSync(bad, `${JSON.stringify({ prompt: p })}\n{not json\n`)
  assert.throws(() => Decontaminator.fromFiles([bad]), (e: unknown) => e instanceof ConfigError && /bad\.jsonl:2: not JSON/.test(e.message))
  assert.throws(() => Decontaminator.fromFiles([join(dir, 'missing.jsonl')]), ConfigError)
  assert.throws(() => new Decontaminator({ jaccardThreshold: 1.2 }), ConfigError)
})

test('checks are fast enough to run on every record', (t) => {
  const docs = c4()
  const started = performance.now()
  for (const d of docs) decontam.check(d)
  const perDoc = (performance.now() - started) / docs.length
  t.diagnostic(`${perDoc.toFixed(3)} ms per C4 document (median 1.1 kB)`)
  assert.ok(perDoc < 20)
})
