/**
 * Topic quality of the sink's online topic model (src/sink/clusters) on real text, with real
 * embeddings beside the simulator's and the lexical fallback: 900 shipped documents (600 C4 web
 * pages, 200 math and 100 physics Stack Exchange questions, interleaved), embedded through an
 * OpenAI-compatible /v1/embeddings with the `openai` client — the path the sink uses — and
 * streamed through OnlineTopicModel. Reported against the corpus labels: topic count, NMI,
 * purity; the Vendi score of the 900; and new-topic behaviour after 800 documents: how often
 * the 100 held-out documents (same corpora) open a topic, against lorem-ipsum pages and code
 * questions from Arena-Hard (out of distribution).
 *
 *   npx tsx bench/topic-quality.bench.ts
 *       simulator + lexical vectors only
 *   SYNTHQ_EMBED_PYTHON=/tmp/synthq-embed-venv/bin/python npx tsx bench/topic-quality.bench.ts
 *       also all-MiniLM-L6-v2, served by bench/embeddings-server.py from that Python
 *       (pip install -r bench/requirements-topic-quality.txt; ~1 min for 900 texts on one core)
 *   SYNTHQ_EMBED_URL=http://127.0.0.1:8000/v1 SYNTHQ_EMBED_MODEL=name npx tsx bench/topic-quality.bench.ts
 *       also any other OpenAI-compatible embedding endpoint
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { REPO_DATA } from '../src/data-paths.ts'
import { startLlmSim } from '../src/llm/sim/server.ts'
import { vendiScore } from '../src/sink/diversity/vendi.ts'
import { LexicalVectorizer } from '../src/sink/clusters/lexical.ts'
import { OnlineTopicModel, type OnlineTopicOptions } from '../src/sink/clusters/online-clustering.ts'
import { clusteringQuality } from '../src/sink/clusters/quality.ts'
import { assignStream, loadCorpus, loremPages } from '../test/sink/clusters/corpus.ts'

const out = (s: string): void => { process.stdout.write(s + '\n') }
const HERE = dirname(fileURLToPath(import.meta.url))

const docs = loadCorpus()
const lorem = loremPages(30)
const code = readFileSync(join(REPO_DATA, 'decontam', 'arena-hard-v0.1-questions.jsonl'), 'utf8').trim().split('\n')
  .map((l) => (JSON.parse(l) as { prompt: string }).prompt)
  .filter((p) => /(def |import |#include|function\s*\(|=>|;\s*\n|\{\s*\n)/.test(p))
const texts = [...docs.map((d) => d.text), ...lorem, ...code]

type Embedder = { name: string, embed: (texts: string[]) => Promise<Float64Array[]>, close: () => Promise<void> }

function openaiEmbedder (name: string, baseURL: string, model: string, close: () => Promise<void>): Embedder {
  const client = new OpenAI({ baseURL, apiKey: process.env.SYNTHQ_EMBED_API_KEY ?? 'none', maxRetries: 2, timeout: 600_000 })
  return {
    name,
    close,
    async embed (all) {
      const res: Float64Array[] = []
      for (let i = 0; i < all.length; i += 64) {
        const r = await client.embeddings.create({ model, input: all.slice(i, i + 64) })
        for (const d of r.data) res.push(Float64Array.from(d.embedding))
      }
      return res
    },
  }
}

async function pythonServer (python: string): Promise<{ url: string, child: ChildProcess }> {
  const child = spawn(python, [join(HERE, 'embeddings-server.py'), '--port', '0', '--threads', process.env.SYNTHQ_EMBED_THREADS ?? '1'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout! })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('embeddings-server.py did not start within 300 s')), 300_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`embeddings-server.py exited with ${String(code)}`)) })
    lines.on('line', (l) => {
      const m = /^listening (\d+)$/.exec(l)
      if (m) { clearTimeout(timer); resolve(Number(m[1])) }
    })
  })
  return { url: `http://127.0.0.1:${port}/v1`, child }
}

async function embedders (): Promise<Embedder[]> {
  const list: Embedder[] = []
  const sim = await startLlmSim()
  list.push(openaiEmbedder('simulator (feature hashing, 384 d)', sim.url, 'sim-embed-small', () => sim.close()))
  const lex = new LexicalVectorizer()
  list.push({ name: 'lexical fallback (hashed TF-IDF, 1024 d)', embed: async (t) => t.map((x) => lex.vector(x)), close: async () => {} })
  if (process.env.SYNTHQ_EMBED_PYTHON) {
    const t0 = Date.now()
    const { url, child } = await pythonServer(process.env.SYNTHQ_EMBED_PYTHON)
    out(`all-MiniLM-L6-v2 server up in ${((Date.now() - t0) / 1000).toFixed(1)} s at ${url}`)
    list.push(openaiEmbedder('all-MiniLM-L6-v2 (real, 384 d)', url, 'all-MiniLM-L6-v2', async () => { child.kill('SIGTERM') }))
  }
  if (process.env.SYNTHQ_EMBED_URL) {
    list.push(openaiEmbedder(`${process.env.SYNTHQ_EMBED_MODEL ?? 'endpoint'} (real)`, process.env.SYNTHQ_EMBED_URL, process.env.SYNTHQ_EMBED_MODEL ?? 'default', async () => {}))
  }
  if (list.length === 2) out('real embeddings: skipped (set SYNTHQ_EMBED_PYTHON or SYNTHQ_EMBED_URL, see the header of this file)')
  return list
}

const pct = (a: number, b: number): string => `${a}/${b}`

async function main (): Promise<void> {
  out(`topic-quality bench: ${docs.length} documents (${['web', 'math', 'physics'].map((c) => `${docs.filter((d) => d.corpus === c).length} ${c}`).join(', ')}), ` +
    `out-of-distribution: ${lorem.length} lorem-ipsum pages, ${code.length} code questions`)
  const classes = docs.map((d) => d.corpus)
  const configs: Array<[string, OnlineTopicOptions]> = [['default (k = sqrt)', {}], ['k = silhouette', { k: 'silhouette' }], ['k = 3', { k: 3 }]]
  for (const e of await embedders()) {
    const t0 = Date.now()
    const vectors = await e.embed(texts)
    const ms = Date.now() - t0
    const corpus = docs.map((d, i) => ({ id: d.id, vector: vectors[i]! }))
    const vendi = vendiScore(vectors.slice(0, docs.length))
    out('')
    out(`${e.name}: embedded ${texts.length} texts in ${(ms / 1000).toFixed(1)} s; Vendi of the ${docs.length} documents ${vendi.score.toFixed(1)}`)
    for (const [label, opts] of configs) {
      const model = new OnlineTopicModel(opts)
      const assigned = assignStream(model, corpus)
      const q = clusteringQuality(docs.map((d) => assigned.get(d.id)!.topic), classes)
      const s = model.stats()
      out(`  ${label.padEnd(20)} warm-up k ${String(s.warmupTopics).padStart(2)}, topics ${String(q.topics).padStart(3)}, threshold ${s.threshold!.toFixed(3)}, NMI ${q.nmi.toFixed(3)}, purity ${q.purity.toFixed(3)}`)
    }
    // New topics: state after 800 documents, then each probe set from that same state.
    const base = new OnlineTopicModel()
    assignStream(base, corpus.slice(0, 800))
    const probe = (offset: number, n: number): string => {
      const m = OnlineTopicModel.restore(base.snapshot())
      const before = m.topicCount
      const as = Array.from({ length: n }, (_, i) => m.assign(`p${i}`, vectors[offset + i]!)[0]!)
      return `${pct(as.filter((a) => a.isNew).length, n)} open a topic, ${pct(as.filter((a) => a.topic >= before).length, n)} end in new topics`
    }
    out(`  new topics after 800 documents (${base.topicCount} topics, threshold ${base.stats().threshold!.toFixed(3)}):`)
    out(`    held-out documents   ${probe(800, 100)}`)
    out(`    lorem-ipsum pages    ${probe(docs.length, lorem.length)}`)
    out(`    code questions       ${probe(docs.length + lorem.length, code.length)}`)
    await e.close()
  }
}

await main()
