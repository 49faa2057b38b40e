/**
 * `npm run eval:attribution [-- --squad FILE] [--limit N]`: how often attribution's search
 * finds the document a real question was written about.
 *
 * SQuAD gives ground truth: every question was written by a person reading one Wikipedia
 * paragraph. All paragraphs of the file are indexed together with the shipped web, math and
 * physics documents as distractors; each question goes through concept extraction (the LLM
 * stage's own prompt, on the configured endpoint or else the built-in simulator) and the
 * search-retrieval stage's query; recall@1 and recall@5 count how often the question's own
 * paragraph is the first hit / among the first five. The question text itself as the query is
 * printed alongside, as a baseline without the LLM.
 *
 * Last line: `recall@1=<x> recall@5=<y>` (the LLM-keyword path).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_DATA } from '../src/data-paths.ts'
import { LlmClient } from '../src/llm/client.ts'
import { resolveLlmSettings, readLlmConfigFile } from '../src/llm/config.ts'
import { startLlmSim } from '../src/llm/sim/server.ts'
import { createLogger } from '../src/log.ts'
import { CONCEPT_PROMPT, type Concepts } from '../src/processors/concept-extraction/prompt.ts'
import { promptRef } from '../src/processors/prompt.ts'
import { Bm25Index } from '../src/search/bm25-index.ts'
import { buildIndex, squadParagraphQuestions } from '../src/search/index-build.ts'
import { SHIPPED_DOCUMENTS } from '../src/cli/start.ts'

export interface AttributionEval { questions: number, recall1: number, recall5: number, baseline1: number, baseline5: number, simulated: boolean, model: string }

export async function evalAttribution (opts: { squad: string, limit?: number, workDir: string, config?: string, concurrency?: number }): Promise<AttributionEval> {
  const logger = createLogger({ level: process.env.SYNTHQ_LOG_LEVEL ?? 'warn' })
  const indexPath = join(opts.workDir, 'eval-index.db')
  rmSync(indexPath, { force: true })
  const index = Bm25Index.open(indexPath)
  await buildIndex(index, [opts.squad, ...SHIPPED_DOCUMENTS])
  const questions = squadParagraphQuestions(opts.squad).filter((q) => !q.isImpossible).slice(0, opts.limit ?? Infinity)

  const sim = await startLlmSim()
  const settings = resolveLlmSettings({
    stages: ['concept-extraction'],
    ...(opts.config ? { file: readLlmConfigFile(opts.config) } : {}),
    fallbackEndpoint: { name: 'sim', baseUrl: sim.url, apiKeySource: 'none', noAuth: true, structuredOutputs: 'json_schema', maxConcurrency: 64, initialConcurrency: 16, adaptiveConcurrency: true },
    fallbackModel: 'sim-chat-8b',
  })
  const llm = new LlmClient({ settings, logger, dbPath: join(opts.workDir, 'eval-llm.db') })
  const stage = llm.stage('concept-extraction')
  let r1 = 0, r5 = 0, b1 = 0, b5 = 0, simulated = false
  const rank = (ids: string[], want: string): number => ids.indexOf(want)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < questions.length) {
      const q = questions[next++]!
      const c = await stage.json<Concepts>({ prompt: promptRef(CONCEPT_PROMPT), messages: CONCEPT_PROMPT.messages({ instruction: q.question }), schema: CONCEPT_PROMPT.schema })
      simulated ||= c.simulated
      const hits = await index.search({ keywords: c.value.keywords }, { k: 5 })
      const r = rank(hits.map((h) => h.id), q.paragraphId)
      if (r === 0) r1++
      if (r >= 0) r5++
      const base = await index.search({ keywords: [q.question] }, { k: 5 })
      const b = rank(base.map((h) => h.id), q.paragraphId)
      if (b === 0) b1++
      if (b >= 0) b5++
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, worker))
  await llm.close()
  await sim.close()
  await index.close()
  const n = questions.length
  return { questions: n, recall1: r1 / n, recall5: r5 / n, baseline1: b1 / n, baseline5: b5 / n, simulated, model: stage.settings.model }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { squad: { type: 'string' }, limit: { type: 'string' }, config: { type: 'string' } } })
  const squad = values.squad ?? join(REPO_DATA, 'seeds', 'squad-v2-dev-3articles.json')
  const workDir = join(process.cwd(), '.synthq', 'eval')
  const t0 = Date.now()
  const r = await evalAttribution({ squad, workDir, ...(values.limit ? { limit: Number(values.limit) } : {}), ...(values.config ? { config: values.config } : {}) })
  const f = (x: number): string => x.toFixed(3)
  process.stdout.write(`attribution eval: ${r.questions} answerable questions from ${squad}; their paragraphs indexed with ${SHIPPED_DOCUMENTS.length} shipped corpora as distractors\n`)
  process.stdout.write(`concept extraction by ${r.model}${r.simulated ? ' (SIMULATED: keywords are the simulator\'s distinctive words of the question, not a real model\'s)' : ''}; ${((Date.now() - t0) / 1000).toFixed(1)} s\n`)
  process.stdout.write(`baseline (the question itself as the query): recall@1=${f(r.baseline1)} recall@5=${f(r.baseline5)}\n`)
  process.stdout.write(`recall@1=${f(r.recall1)} recall@5=${f(r.recall5)}\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
