/**
 * synthq against its peers on the same LLM work: distilabel, Curator and NeMo Data Designer
 * (from PyPI, in a cached venv), synthq on the embedded runner and on Kafka with exactly-once,
 * and the server's own limit. Each gets the same cleaned C4 documents, synthq's three prompts and
 * JSON schemas, max_tokens 2048, and a fresh `synthq llm-sim --profile h100-8b` process per run
 * (a decode-bound 8B model on one H100 that takes 256 requests in service and queues beyond).
 *
 * Rounds are interleaved (every system once per round, in turn) and medians reported, since the
 * machine is shared. A clean run and a fault-mix run (5 % 500, 5 % 429 with Retry-After 1 s, 5 %
 * malformed JSON) per system; the slow defaults (Curator's, Data Designer's) run once, clean.
 *
 *   npm run bench:peers                     # 3 rounds, everything (~45 min)
 *   npm run bench:peers -- --quick          # 1 round, no slow defaults, no Kafka (~8 min)
 *   npm run bench:peers -- --rounds 5 --systems synthq,curator --settings tuned --no-faults
 *
 * Last line: ratio_vs_best_peer=<synthq default ÷ best tuned peer> ratio_to_limit=<synthq default
 * ÷ the server's limit> faults_ratio=<synthq default with faults ÷ clean> (medians, docs/s).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exec, allRequests, runLimit, runPeer, runSynthqEmbedded, runSynthqKafka, type RunResult } from './peers/systems.ts'
import { FAULT_MIX, startSimProcess } from './peers/sim-process.ts'
import { prepareWork, type WorkSpec } from './peers/work.ts'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const out = (s: string): void => { process.stdout.write(s + '\n') }
const args = process.argv.slice(2)
const flag = (name: string): boolean => args.includes(name)
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback
}
const quick = flag('--quick')
const rounds = Number(option('--rounds', quick ? '1' : '3'))
const docs = Number(option('--docs', '500'))
const faultsToo = !flag('--no-faults')
const ALL = ['limit', 'synthq', 'synthq-kafka', 'distilabel', 'curator', 'data-designer']
const systems = option('--systems', quick ? 'limit,synthq,distilabel,curator,data-designer' : ALL.join(',')).split(',')
for (const s of systems) if (!ALL.includes(s)) throw new Error(`unknown system ${s} (known: ${ALL.join(', ')})`)
const settings = option('--settings', 'default,tuned').split(',')
// The slow defaults (Curator's, Data Designer's) need minutes a run and little CPU: --no-slow-defaults
// leaves them out, e.g. to run them apart (`--systems curator,data-designer --settings default`).
const slowDefaults = !flag('--no-slow-defaults')
const PROFILE = option('--profile', 'h100-8b')
const VENV = option('--venv', join(process.env.HOME ?? tmpdir(), '.cache/synthq/peers-venv'))

interface Config { system: string, setting: string, faults: boolean, once?: boolean }

/** Everything to run, in the order of one round. */
function plan (): Config[] {
  const out: Config[] = []
  for (const faults of faultsToo ? [false, true] : [false]) {
    if (systems.includes('limit') && !faults) out.push({ system: 'limit', setting: 'saturated', faults })
    if (systems.includes('synthq')) out.push({ system: 'synthq', setting: 'default', faults })
    if (systems.includes('synthq-kafka')) out.push({ system: 'synthq-kafka', setting: 'default (exactly-once)', faults })
    for (const peer of ['distilabel', 'curator', 'data-designer']) {
      if (!systems.includes(peer)) continue
      // Curator's and Data Designer's defaults keep ~4 requests in flight (minutes per run): once, clean.
      const slowDefault = peer !== 'distilabel'
      if (settings.includes('default') && !(slowDefault && (faults || quick || !slowDefaults))) out.push({ system: peer, setting: 'default', faults, once: slowDefault })
      if (settings.includes('tuned')) out.push({ system: peer, setting: 'tuned', faults })
    }
  }
  return out
}

const key = (c: Config): string => `${c.system}|${c.setting}|${c.faults ? 'faults' : 'clean'}`
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

async function main (): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'synthq-bench-peers-'))
  const prepared = prepareWork(join(work, 'work'), docs)
  const spec = JSON.parse(readFileSync(join(prepared.dir, 'spec.json'), 'utf8')) as WorkSpec
  const n = prepared.documents
  const load0 = loadavg()
  out(`bench:peers — ${n} documents (${prepared.rawDocuments} C4 pages, ${prepared.rejected} rejected by hygiene), 3 LLM calls each, simulator profile ${PROFILE}, ${rounds} round(s)`)
  out(`machine: ${cpus().length} cores, load average ${load0.map((x) => x.toFixed(2)).join(' ')} at start`)

  const python = join(VENV, 'bin/python')
  if (systems.some((s) => ['distilabel', 'curator', 'data-designer'].includes(s))) {
    out(`peers' venv: ${VENV} (bench/peers/setup_venv.sh)`)
    await exec('bash', [join(ROOT, 'bench/peers/setup_venv.sh'), VENV], { timeoutMs: 30 * 60_000 })
  }
  const peerEnv = { TIKTOKEN_CACHE_DIR: join(VENV, 'tiktoken-cache') }

  let bodies: Awaited<ReturnType<typeof allRequests>> | undefined
  if (systems.includes('limit')) {
    const instant = await startSimProcess({ profile: 'instant' })
    bodies = await allRequests(spec, prepared.dir, instant.url)
    await instant.close()
  }

  const results = new Map<string, RunResult[]>()
  const peaks = new Map<string, number[]>()
  const configs = plan()
  for (let round = 1; round <= rounds; round++) {
    for (const c of configs) {
      if (c.once && round > 1) continue
      const dir = mkdtempSync(join(work, 'run-'))
      const sim = await startSimProcess({ profile: PROFILE, ...(c.faults ? { faults: FAULT_MIX } : {}), seed: round })
      const started = Date.now()
      let r: RunResult
      try {
        switch (c.system) {
          case 'limit': r = await runLimit({ bodies: bodies!, simUrl: sim.url, concurrency: 256, documents: n }); break
          case 'synthq': r = await runSynthqEmbedded({ dir, workDir: prepared.dir, simUrl: sim.url, spec, documents: n, ...(process.env.BENCH_SYNTHQ_CONCURRENCY ? { concurrency: Number(process.env.BENCH_SYNTHQ_CONCURRENCY) } : {}) }); break
          case 'synthq-kafka': r = await runSynthqKafka({ dir, workDir: prepared.dir, simUrl: sim.url, spec, documents: n, prefix: `bench-peers-${started}` }); break
          default: r = await runPeer({ python, peer: c.system, setting: c.setting as 'default' | 'tuned', dir, workDir: prepared.dir, simUrl: sim.url, env: peerEnv })
        }
      } catch (err) {
        out(`round ${round}  ${key(c).padEnd(44)} FAILED: ${(err as Error).message.split('\n').slice(0, 12).join('\n    ')}`)
        await sim.close()
        continue
      }
      const stats = await sim.stats()
      await sim.close()
      rmSync(dir, { recursive: true, force: true })
      if (!results.has(key(c))) results.set(key(c), [])
      results.get(key(c))!.push(r)
      if (!peaks.has(key(c))) peaks.set(key(c), [])
      peaks.get(key(c))!.push(stats.concurrency.maxInService + stats.concurrency.maxQueued)
      out(`round ${round}  ${key(c).padEnd(44)} ${(r.documents / r.seconds).toFixed(2).padStart(6)} docs/s  ${r.seconds.toFixed(1).padStart(6)} s  complete ${r.complete}/${r.documents}` +
        `${r.duplicates ? `  duplicates ${r.duplicates}` : ''}  tokens ${stats.tokens.prompt}/${stats.tokens.completion}  peak ${stats.concurrency.maxInService}+${stats.concurrency.maxQueued} queued${r.note ? `  (${r.note})` : ''}`)
    }
  }

  const docsPerSec = (k: string): number | undefined => {
    const rs = results.get(k)
    return rs && rs.length ? median(rs.map((r) => r.documents / r.seconds)) : undefined
  }
  const synthqClean = docsPerSec('synthq|default|clean')
  const limit = docsPerSec('limit|saturated|clean')
  out('')
  out('| system, setting | clean docs/s | vs synthq | with faults docs/s | faults ÷ clean | peak in flight | rows lost (clean / faults) | runs |')
  out('|---|---|---|---|---|---|---|---|')
  const seen = new Set<string>()
  for (const c of configs) {
    const base = `${c.system}|${c.setting}`
    if (seen.has(base)) continue
    seen.add(base)
    const clean = docsPerSec(`${base}|clean`)
    const faults = docsPerSec(`${base}|faults`)
    const lost = (k: string): string => results.get(k)?.map((r) => r.lost + r.duplicates).join('+') ?? '–'
    const f = (x: number | undefined, d = 2): string => x === undefined ? '–' : x.toFixed(d)
    out(`| ${c.system} ${c.setting} | ${f(clean)} | ${clean && synthqClean ? f(clean / synthqClean) : '–'} | ${f(faults)} | ${clean && faults ? f(faults / clean) : '–'} | ` +
      `${Math.max(...(peaks.get(`${base}|clean`) ?? [0]))} | ${lost(`${base}|clean`)} / ${lost(`${base}|faults`)} | ${results.get(`${base}|clean`)?.length ?? 0}+${results.get(`${base}|faults`)?.length ?? 0} |`)
  }
  const tunedPeers = ['distilabel', 'curator', 'data-designer'].map((p) => docsPerSec(`${p}|tuned|clean`)).filter((x): x is number => x !== undefined)
  const bestPeer = tunedPeers.length ? Math.max(...tunedPeers) : undefined
  const synthqFaults = docsPerSec('synthq|default|faults')
  const lostSynthq = [...results.entries()].filter(([k]) => k.startsWith('synthq')).flatMap(([, rs]) => rs).reduce((a, r) => a + r.lost + r.duplicates, 0)
  out('')
  out(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at end; synthq rows lost or duplicated over all runs: ${lostSynthq}`)
  rmSync(work, { recursive: true, force: true })
  const ratio = (a: number | undefined, b: number | undefined): string => a !== undefined && b !== undefined ? (a / b).toFixed(2) : 'n/a'
  out(`ratio_vs_best_peer=${ratio(synthqClean, bestPeer)} ratio_to_limit=${ratio(synthqClean, limit)} faults_ratio=${ratio(synthqFaults, synthqClean)}`)
}

await main()
