/**
 * `synthq index …`: builds the embedded BM25 index the attribution pipeline searches, and tries
 * queries against the configured search backend — so an operator can see what an instruction's
 * keywords will retrieve before running the pipeline.
 *
 *   synthq index build <files|dirs...> [--index PATH] [--format F] [--id-field F ...]
 *   synthq index search <keywords...> [--k 5] [--index PATH] [--json]
 *
 * Rejected records are printed (file:line: reason; the first 20 per file) and counted in the
 * summary; they never stop the build. A file that cannot be read at all does.
 */
import { parseArgs } from 'node:util'
import { ConfigError } from '../errors.ts'
import { Bm25Index, fts5MatchExpression } from './bm25-index.ts'
import { defaultSearchIndexPath, searchBackendFromEnv } from './config.ts'
import { buildIndex } from './index-build.ts'
import { formatReject, INPUT_FORMATS, type InputFormat, type Reject } from './readers.ts'
import { DEFAULT_K, MAX_K, queryString, type SearchBackend } from './search-backend.ts'

export const INDEX_HELP = `synthq index — the embedded BM25 search index used by search retrieval

usage:
  synthq index build <files|dirs...> [options]   index documents (re-adding an id replaces it)
  synthq index search <keywords...> [options]    try a query on the configured search backend
                                                 (quote multi-word keywords: "Lord of the Rings")

build options:
  --index PATH         index file (default $SYNTHQ_SEARCH_INDEX or .synthq/search/index.db)
  --format F           ${INPUT_FORMATS.join(' | ')} (default auto: detected from the fields)
                         c4             {text, url, timestamp}              id c4-<sha256(text)[0:16]>
                         stackexchange  {input, output, meta{post_id, post_title}}   question + answer
                         squad          SQuAD JSON, one document per paragraph
                         unarxive       unarXive 2022 papers (abstract + body)
                         jsonl          any JSONL: fields below (default id, text, title, url)
  --id-field F --text-field F --title-field F --url-field F
                       field names for jsonl (dotted paths allowed: meta.title)
  --site HOST          Stack Exchange site of the files (default: from the file name,
                       math-stackexchange-*.jsonl → math.stackexchange.com)
  --corpus NAME        corpus name for jsonl documents without a corpus field

search options:
  --k N                hits to show (default ${DEFAULT_K})
  --index PATH         search this BM25 index (default: the backend SYNTHQ_SEARCH_BACKEND names)
  --text T             extra free text added to the query (as the pipeline adds the intention)
  --json               print the hits as JSON

Files may be gzip'd (.gz); folders are read recursively (*.jsonl, *.ndjson, *.json).

examples:
  synthq index build data/web data/math data/tech data/seeds/squad-v2-dev-3articles.json
  synthq index search "computational complexity" "time hierarchy theorem" --k 3
`

const MAX_SHOWN_REJECTS = 20

export interface IndexIo {
  out: (s: string) => void
  err: (s: string) => void
}

const stdio: IndexIo = {
  out: (s) => { process.stdout.write(s) },
  err: (s) => { process.stderr.write(s) },
}

const n = (x: number): string => x.toLocaleString('en-US')

/** Runs `synthq index <argv...>`; resolves to the exit code. */
export async function runIndexCommand (argv: string[], io: IndexIo = stdio): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      index: { type: 'string' }, format: { type: 'string' }, site: { type: 'string' }, corpus: { type: 'string' },
      'id-field': { type: 'string' }, 'text-field': { type: 'string' }, 'title-field': { type: 'string' }, 'url-field': { type: 'string' },
      k: { type: 'string' }, text: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  })
  const [sub, ...rest] = positionals
  if (values.help || sub === 'help') {
    io.out(INDEX_HELP)
    return 0
  }
  if (!sub) {
    io.err(INDEX_HELP)
    return 2
  }
  if (sub === 'build') {
    const format = (values.format ?? 'auto') as InputFormat
    if (!INPUT_FORMATS.includes(format)) throw new ConfigError(`--format must be one of ${INPUT_FORMATS.join(', ')}, got "${values.format}"`)
    const fields = {
      ...(values['id-field'] ? { id: values['id-field'] } : {}),
      ...(values['text-field'] ? { text: values['text-field'] } : {}),
      ...(values['title-field'] ? { title: values['title-field'] } : {}),
      ...(values['url-field'] ? { url: values['url-field'] } : {}),
    }
    if (Object.keys(fields).length && format !== 'auto' && format !== 'jsonl') throw new ConfigError(`--id-field, --text-field, --title-field and --url-field apply to --format jsonl, not ${format}`)
    return await build(rest, {
      indexPath: values.index ?? defaultSearchIndexPath(),
      format,
      fields,
      ...(values.site ? { site: values.site } : {}),
      ...(values.corpus ? { corpus: values.corpus } : {}),
    }, io)
  }
  if (sub === 'search') {
    const k = values.k === undefined ? DEFAULT_K : Number(values.k)
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new ConfigError(`--k must be a whole number from 1 to ${MAX_K}, got "${values.k}"`)
    return await search(rest, { k, ...(values.index ? { indexPath: values.index } : {}), ...(values.text ? { text: values.text } : {}), json: Boolean(values.json) }, io)
  }
  io.err(`synthq index: unknown subcommand "${sub}"\n\n${INDEX_HELP}`)
  return 2
}

interface BuildArgs { indexPath: string, format: InputFormat, fields: Record<string, string>, site?: string, corpus?: string }

async function build (inputs: string[], a: BuildArgs, io: IndexIo): Promise<number> {
  if (inputs.length === 0) throw new ConfigError('synthq index build needs the files or folders to index, e.g. synthq index build data/web data/math')
  const index = Bm25Index.open(a.indexPath)
  const shown = new Map<string, number>()
  const onReject = (r: Reject): void => {
    const count = (shown.get(r.file) ?? 0) + 1
    shown.set(r.file, count)
    if (count <= MAX_SHOWN_REJECTS) io.err(`synthq index: rejected ${formatReject(r)}\n`)
  }
  try {
    io.err(`synthq index: building ${a.indexPath} (${n(index.count)} documents in it now)\n`)
    const report = await buildIndex(index, inputs, {
      format: a.format,
      fields: a.fields,
      ...(a.site ? { site: a.site } : {}),
      ...(a.corpus ? { corpus: a.corpus } : {}),
      onReject,
      onNote: (note) => io.err(`synthq index: note: ${note}\n`),
      onFile: (f) => {
        const hidden = f.rejects - MAX_SHOWN_REJECTS
        if (hidden > 0) io.err(`synthq index: … and ${n(hidden)} more rejected records in ${f.file} (not shown)\n`)
        io.out(`${f.file}  ${f.format ?? '?'}  ${n(f.docs)} docs  ${n(f.rejects)} rejected  ${(f.ms / 1000).toFixed(1)} s\n`)
      },
    })
    const rate = report.seconds > 0 ? Math.round(report.docs / report.seconds) : report.docs
    io.out(`indexed ${n(report.docs)} documents from ${report.files.length} file${report.files.length === 1 ? '' : 's'}` +
      `, rejected ${n(report.rejects)} record${report.rejects === 1 ? '' : 's'}, in ${report.seconds.toFixed(1)} s (${n(rate)} docs/s); ` +
      `${a.indexPath} now holds ${n(report.indexCount)} documents\n`)
    if (report.docs === 0) {
      io.err('synthq index: no documents were indexed: check the files and --format\n')
      return 1
    }
    return 0
  } finally {
    await index.close()
  }
}

interface SearchArgs { k: number, indexPath?: string, text?: string, json: boolean }

async function search (keywords: string[], a: SearchArgs, io: IndexIo): Promise<number> {
  const query = { keywords, ...(a.text ? { text: a.text } : {}) }
  if (queryString(query) === '') throw new ConfigError('synthq index search needs keywords, e.g. synthq index search "machine learning" overfitting')
  const backend: SearchBackend = a.indexPath
    ? Bm25Index.open(a.indexPath, { readonly: true })
    : searchBackendFromEnv(process.env, { defaultIndexPath: defaultSearchIndexPath() })
  try {
    const t0 = performance.now()
    const hits = await backend.search(query, { k: a.k })
    const ms = performance.now() - t0
    if (a.json) {
      io.out(`${JSON.stringify({ backend: backend.name, query: queryString(query), ms: Math.round(ms * 10) / 10, hits }, null, 2)}\n`)
      return 0
    }
    io.out(`backend ${backend.name}  query: ${queryString(query)}\n`)
    if (backend instanceof Bm25Index) io.out(`fts5 MATCH: ${fts5MatchExpression(query) || '(nothing to search for)'}\n`)
    io.out(`${hits.length} hit${hits.length === 1 ? '' : 's'} in ${ms.toFixed(1)} ms\n`)
    hits.forEach((h, i) => {
      const snippet = h.text.replace(/\s+/g, ' ').trim().slice(0, 160)
      io.out(`\n${i + 1}. ${h.title ?? '(no title)'}  [score ${h.score.toPrecision(4)}]\n   id ${h.id}${h.corpus ? `  corpus ${h.corpus}` : ''}\n${h.url ? `   ${h.url}\n` : ''}   ${snippet}${h.text.length > 160 ? '…' : ''}\n`)
    })
    return 0
  } finally {
    await backend.close()
  }
}
