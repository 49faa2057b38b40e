/**
 * Input hygiene throughput, on the real documents shipped in data/ (C4, math and physics Stack
 * Exchange): what normalising, counting, truncating, MinHashing, near-duplicate lookup and
 * decontamination cost per document, and what the vocabularies cost to load.
 *
 *   node --expose-gc --import tsx bench/hygiene.bench.ts     (tsx bench/hygiene.bench.ts works too;
 *                                                             --expose-gc makes the memory figures exact)
 *
 * Contenders compared in the same run alternate between rounds; medians are reported.
 * BENCH_ROUNDS (default 3) and BENCH_LSH_ENTRIES (default 100,000) change the sizes.
 */
import { performance } from 'node:perf_hooks'
import { loadDecontaminator } from '../src/hygiene/decontam.ts'
import { MinHasher, MinHashLsh } from '../src/hygiene/minhash.ts'
import { NearDuplicateFilter } from '../src/hygiene/near-dup.ts'
import { normalizeText } from '../src/hygiene/normalize.ts'
import { tokenizerFor, tokenizerLoadStats, type Tokenizer, type TokenizerFamily } from '../src/hygiene/tokenizer.ts'
import { ARENA_HARD, c4, mathDocs, oasstPrompts, physicsDocs } from '../test/hygiene/real-data.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const LSH_ENTRIES = Number(process.env.BENCH_LSH_ENTRIES ?? 100_000)
const out = (s: string): void => { process.stdout.write(`${s}\n`) }
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const fmt = (n: number, digits = 0): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const gc = (globalThis as { gc?: () => void }).gc
const heap = (): number => { gc?.(); gc?.(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }

const docs = [...c4(), ...mathDocs(), ...physicsDocs()].map((d) => normalizeText(d))
const chars = docs.reduce((s, d) => s + d.length, 0)
// 100 kB documents: the real ones concatenated.
const joined = docs.join('\n\n')
const big = Array.from({ length: 10 }, (_, i) => joined.slice(i * 100_000, (i + 1) * 100_000))

/** Runs each case once per round, alternating order; returns the median seconds per case. */
function race (cases: Array<{ name: string, run: () => void }>): Map<string, number> {
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  for (const c of cases) c.run() // warm-up (JIT, caches)
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 ? [...cases].reverse() : cases) {
      const t0 = performance.now()
      c.run()
      times.get(c.name)!.push((performance.now() - t0) / 1000)
    }
  }
  return new Map([...times].map(([k, v]) => [k, median(v)]))
}

out(`hygiene bench: ${docs.length} real documents, ${fmt(chars / 1e6, 2)} M characters (median ${fmt(median(docs.map((d) => d.length)))}), ${ROUNDS} rounds${gc ? '' : ' (no --expose-gc: memory figures approximate)'}`)
out('')

// --- vocabularies ------------------------------------------------------------------------
const families: TokenizerFamily[] = ['llama3', 'o200k', 'cl100k', 'approx']
const toks = new Map<TokenizerFamily, Tokenizer>(families.map((f) => [f, tokenizerFor('bench', f)]))
for (const f of families.filter((x) => x !== 'approx')) {
  const h0 = heap()
  toks.get(f)!.load()
  const grown = heap() - h0
  const s = tokenizerLoadStats().find((x) => x.family === f)!
  out(`vocabulary load   ${f.padEnd(7)} ${fmt(s.loadMs).padStart(6)} ms   heap +${fmt(grown / 1048576, 1)} MiB (after GC)`)
}
out('')

// --- normalisation ----------------------------------------------------------------------
const raw = [...c4(), ...mathDocs(), ...physicsDocs()]
const norm = race([{ name: 'normalize', run: () => { for (const d of raw) normalizeText(d) } }])
out(`normalizeText     ${fmt(raw.length / norm.get('normalize')!).padStart(9)} docs/s   ${fmt(chars / 1e6 / norm.get('normalize')!, 1)} MB/s`)
out('')

// --- counting ---------------------------------------------------------------------------
const tokenTotals = new Map(families.map((f) => [f, docs.reduce((s, d) => s + toks.get(f)!.count(d), 0)]))
const count = race(families.map((f) => ({ name: f, run: () => { for (const d of docs) toks.get(f)!.count(d) } })))
for (const f of families) {
  const s = count.get(f)!
  out(`count   ${f.padEnd(7)} ${fmt(tokenTotals.get(f)! / s).padStart(11)} tokens/s  ${fmt(docs.length / s).padStart(7)} docs/s  ${fmt(chars / 1e6 / s, 2).padStart(6)} MB/s   (${fmt(chars / tokenTotals.get(f)!, 2)} chars/token${f === 'approx' ? ', an estimate: no encoding at all' : ''})`)
}
out(`ratio count o200k / llama3: ${(count.get('llama3')! / count.get('o200k')!).toFixed(2)}x   cl100k / llama3: ${(count.get('llama3')! / count.get('cl100k')!).toFixed(2)}x`)
out('')

// --- truncation -------------------------------------------------------------------------
for (const f of ['llama3', 'o200k'] as const) {
  const tok = toks.get(f)!
  const r = race([
    { name: 'trunc256', run: () => { for (const d of docs) tok.truncate(d, 256) } },
    { name: 'trunc4096', run: () => { for (const d of docs) tok.truncate(d, 4096) } },
    { name: 'big-trunc', run: () => { for (const d of big) tok.truncate(d, 4096) } },
    { name: 'big-count', run: () => { for (const d of big) tok.count(d) } },
  ])
  out(`truncate ${f.padEnd(7)} to 256: ${fmt(docs.length / r.get('trunc256')!).padStart(6)} docs/s   to 4096: ${fmt(docs.length / r.get('trunc4096')!).padStart(6)} docs/s   ` +
    `100 kB doc → 4096: ${fmt(r.get('big-trunc')! / big.length * 1000, 1)} ms (count of the whole doc ${fmt(r.get('big-count')! / big.length * 1000, 1)} ms, ${(r.get('big-count')! / r.get('big-trunc')!).toFixed(1)}x)`)
}
out('')

// --- MinHash ----------------------------------------------------------------------------
const hasher = new MinHasher()
const mh = race([{ name: 'sig', run: () => { for (const d of docs) hasher.signature(d) } }])
out(`MinHash signature (5-shingles, 128 perms)  ${fmt(docs.length / mh.get('sig')!).padStart(7)} docs/s   ${fmt(chars / 1e6 / mh.get('sig')!, 2)} MB/s`)

// --- LSH: memory and queries at LSH_ENTRIES -------------------------------------------------
const realSigs = docs.map((d) => hasher.signature(d))
// Entry signatures: the real ones plus synthetic ones (uniform random values, as MinHash minima
// are). The generator must be well mixed: an LCG's low bits repeat with a short period, and the
// index keeps the low 16 bits of each value.
let seed = 12345
const rnd = (): number => {
  seed = (seed + 0x9e3779b9) >>> 0
  let z = seed
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 1
}
const synthetic = (): Uint32Array => { const s = new Uint32Array(128); for (let i = 0; i < 128; i++) s[i] = rnd(); return s }
const before = heap()
const lsh = new MinHashLsh({ threshold: 0.8 })
const tAdd = performance.now()
for (let i = 0; i < LSH_ENTRIES; i++) lsh.add(`document-${i.toString().padStart(8, '0')}`, i < realSigs.length ? realSigs[i]! : synthetic())
const addS = (performance.now() - tAdd) / 1000
const after = heap()
out(`LSH 16×8 with ${fmt(LSH_ENTRIES)} entries: ${fmt((after - before) / LSH_ENTRIES)} bytes/entry (heap + array buffers; typed arrays alone ${fmt(lsh.typedArrayBytes / LSH_ENTRIES)}), add ${fmt(LSH_ENTRIES / addS)}/s`)
const queries = [...realSigs.map((s) => { const q = s.slice(); for (let i = 0; i < 10; i++) q[(i * 13) % 128] = rnd(); return q }), ...Array.from({ length: 1000 }, synthetic)]
let hits = 0
const q = race([{ name: 'query', run: () => { hits = 0; for (const s of queries) hits += lsh.query(s).length } }])
out(`LSH query: ${fmt(queries.length / q.get('query')!)} queries/s (${queries.length} queries, ${hits} verified matches: the ${realSigs.length} edited real signatures)`)

// --- near-duplicate filter --------------------------------------------------------------
const nd = race([{ name: 'nd', run: () => { const f = new NearDuplicateFilter(); for (const [i, d] of docs.entries()) { if (!f.check(`d${i}`, d)) f.add(`d${i}`, d) } } }])
out(`NearDuplicateFilter check + add: ${fmt(docs.length / nd.get('nd')!)} docs/s`)
out('')

// --- decontamination --------------------------------------------------------------------
const t0 = performance.now()
const decontam = loadDecontaminator([ARENA_HARD])
out(`Decontaminator load (Arena-Hard, 500 prompts): ${fmt(performance.now() - t0)} ms, ${fmt(decontam.stats.ngrams)} 13-grams`)
const seeds = oasstPrompts().map((p) => p.prompt)
const dc = race([
  { name: 'docs', run: () => { for (const d of docs) decontam.check(d) } },
  { name: 'seeds', run: () => { for (const s of seeds) decontam.check(s) } },
])
out(`decontam check: documents ${fmt(docs.length / dc.get('docs')!)}/s (${fmt(chars / 1e6 / dc.get('docs')!, 2)} MB/s), OpenAssistant prompts ${fmt(seeds.length / dc.get('seeds')!)}/s`)
