/**
 * The default search backend: an embedded BM25 index in one SQLite file (FTS5), so attribution
 * runs with no search server. Build it once with `synthq index build <files|dirs>`; the pipeline
 * opens it read-only.
 *
 * Layout: `docs` holds each document once (id, title, url, corpus, text); `docs_fts` is an FTS5
 * external-content index over title and text (tokenizer `porter unicode61 remove_diacritics 2`:
 * stems, folds case and accents), kept in step by triggers, ranked by `bm25()` with the title
 * weighted {@link TITLE_WEIGHT}× the body. Re-adding an id replaces the document.
 *
 * Queries are built by {@link fts5MatchExpression}, never by pasting user text into FTS5 syntax:
 * every term and phrase is a double-quoted string of letters and digits only, so quotes,
 * AND/OR/NOT/NEAR, `*`, `:`, `^`, `-` and parentheses in keywords are plain text, never operators.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { ConfigError, RecordInvalidError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { SearchRejectedError, SearchUnavailableError } from './errors.ts'
import { normalizeKeywords, resolveK, type SearchBackend, type SearchHit, type SearchOptions, type SearchQuery } from './search-backend.ts'

/** A document as stored in the index. */
export interface IndexDoc {
  id: string
  text: string
  title?: string | null
  url?: string | null
  /** The collection it came from: c4, stackexchange, squad, unarxive, … */
  corpus?: string | null
}

/** bm25() column weights: a title term counts this many times a body term. */
export const TITLE_WEIGHT = 2
/** At most this many quoted terms/phrases in one MATCH expression (long intention texts). */
export const MAX_QUERY_CLAUSES = 64

const FORMAT = 'synthq-bm25'
const SCHEMA_VERSION = '1'

/** What FTS5's unicode61 tokenizer keeps as token characters (letters, digits, marks, private use). */
const TOKEN = /[\p{L}\p{N}\p{M}\p{Co}]+/gu

/**
 * Frequent English function words, dropped as single terms (they match nearly every document,
 * add nothing to the ranking and make the query slow) but kept inside phrases, so
 * "The Lord of the Rings" still matches as written.
 */
const STOPWORDS = new Set(('a about above after again against all am an and any are as at be because been before being ' +
  'below between both but by can could did do does doing down during each few for from further had has have having he ' +
  'her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of ' +
  'off on once only or other our ours ourselves out over own same she should so some such than that the their theirs ' +
  'them themselves then there these they this those through to too under until up very was we were what when where ' +
  'which while who whom why will with would you your yours yourself yourselves').split(' '))

function tokens (s: string): string[] {
  return s.toLowerCase().match(TOKEN) ?? []
}

/**
 * The FTS5 MATCH expression for a query: an OR of
 * - each multi-word keyword as a phrase (`"lord of the rings"`), and also its words one by one
 *   (stopwords left out), so a title kept whole still matches a document that words it differently;
 * - each single-word keyword as a term (even a stopword, when it is all the keyword has);
 * - the words of the optional text, stopwords left out.
 *
 * Everything is quoted and made of letters/digits only, so nothing in the input can act as FTS5
 * syntax. A keyword with no letters or digits is dropped; no usable words gives '' (no search).
 */
export function fts5MatchExpression (q: SearchQuery): string {
  const clauses: string[] = []
  const seen = new Set<string>()
  const add = (words: string[]): void => {
    const clause = words.join(' ')
    if (clause === '' || seen.has(clause) || clauses.length >= MAX_QUERY_CLAUSES) return
    seen.add(clause)
    clauses.push(`"${clause}"`)
  }
  for (const keyword of normalizeKeywords(q.keywords)) {
    const words = tokens(keyword)
    if (words.length === 0) continue
    if (words.length === 1) { add(words); continue }
    add(words)
    for (const w of words) if (!STOPWORDS.has(w)) add([w])
  }
  if (q.text) for (const w of tokens(q.text)) if (!STOPWORDS.has(w)) add([w])
  return clauses.join(' OR ')
}

interface HitRow { id: string, title: string | null, url: string | null, corpus: string | null, text: string, rank: number }

export interface Bm25OpenOptions {
  /** Open an existing index for searching only (the pipeline's mode); it must exist. */
  readonly?: boolean
  logger?: Logger
}

export class Bm25Index implements SearchBackend {
  readonly name = 'bm25'
  readonly path: string
  readonly #db: Database.Database
  readonly #logger: Logger | undefined
  readonly #insertMany: ((docs: IndexDoc[]) => number) | undefined
  readonly #search: Database.Statement<[string, number], HitRow>
  readonly #get: Database.Statement<[string], Omit<HitRow, 'rank'>>
  readonly #count: Database.Statement<[], { n: number }>
  #closed = false

  private constructor (path: string, db: Database.Database, readonly: boolean, logger: Logger | undefined) {
    this.path = path
    this.#db = db
    this.#logger = logger
    if (!readonly) {
      const upsert = db.prepare(`INSERT INTO docs (id, title, url, corpus, text) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET title = excluded.title, url = excluded.url, corpus = excluded.corpus, text = excluded.text`)
      this.#insertMany = db.transaction((docs: IndexDoc[]): number => {
        for (const d of docs) upsert.run(d.id, d.title ?? null, d.url ?? null, d.corpus ?? null, d.text)
        return docs.length
      })
    }
    // bm25() with the weights inline: ~40% faster than ORDER BY the configured `rank` column
    // (measured on 50k documents, bench/search.bench.ts), same scores.
    this.#search = db.prepare(`SELECT d.id, d.title, d.url, d.corpus, d.text, f.rank AS rank
      FROM (SELECT rowid, bm25(docs_fts, ${TITLE_WEIGHT}.0, 1.0) AS rank FROM docs_fts WHERE docs_fts MATCH ? ORDER BY rank LIMIT ?) AS f
      JOIN docs AS d ON d.rowid = f.rowid
      ORDER BY f.rank, d.rowid`)
    this.#get = db.prepare('SELECT id, title, url, corpus, text FROM docs WHERE id = ?')
    this.#count = db.prepare('SELECT count(*) AS n FROM docs')
  }

  /**
   * Opens the index at `path`, creating it (and its folder) unless `readonly`. A file that is not
   * a synthq BM25 index, or a missing file in read-only mode, is a ConfigError.
   */
  static open (path: string, opts: Bm25OpenOptions = {}): Bm25Index {
    const readonly = opts.readonly ?? false
    const memory = path === ':memory:'
    if (readonly && !memory && !existsSync(path)) {
      throw new ConfigError(`The search index ${path} does not exist: build it with \`synthq index build <files|dirs>\`.`, { context: { path } })
    }
    if (!readonly && !memory) mkdirSync(dirname(path), { recursive: true })
    let db: Database.Database
    try {
      db = new Database(path, readonly ? { readonly: true, fileMustExist: true } : {})
    } catch (err) {
      throw new ConfigError(`Cannot open the search index ${path}: ${(err as Error).message}`, { cause: err, context: { path } })
    }
    try {
      if (readonly) {
        checkFormat(db, path)
      } else {
        db.pragma('journal_mode = WAL')
        db.pragma('synchronous = NORMAL')
        createSchema(db, path)
      }
      db.pragma('cache_size = -65536')
      return new Bm25Index(path, db, readonly, opts.logger)
    } catch (err) {
      db.close()
      throw err
    }
  }

  /**
   * Adds documents in one transaction; a document whose id is already indexed is replaced.
   * Returns how many were written. Call with batches (the index build uses 2,000).
   */
  add (docs: readonly IndexDoc[]): number {
    this.#open()
    if (!this.#insertMany) throw new ConfigError(`The search index ${this.path} was opened read-only: documents cannot be added`)
    docs.forEach((d, i) => {
      const bad = invalidDoc(d)
      if (bad) throw new RecordInvalidError(`Document ${i} of the batch (id ${JSON.stringify((d as { id?: unknown } | null)?.id)}) cannot be indexed: ${bad.field} ${bad.problem}`, [bad.field])
    })
    return this.#insertMany([...docs])
  }

  /** Number of documents in the index. */
  get count (): number {
    this.#open()
    return this.#count.get()?.n ?? 0
  }

  /** One document by id. */
  get (id: string): IndexDoc | undefined {
    this.#open()
    const row = this.#get.get(id)
    return row ? { id: row.id, text: row.text, title: row.title, url: row.url, corpus: row.corpus } : undefined
  }

  /** Merges the FTS5 index's segments into one: slower to run, faster to query. Run after a build. */
  optimize (): void {
    this.#open()
    this.#db.exec("INSERT INTO docs_fts (docs_fts) VALUES ('optimize')")
  }

  async search (query: SearchQuery, opts: SearchOptions = {}): Promise<SearchHit[]> {
    this.#open()
    opts.signal?.throwIfAborted()
    const k = resolveK(opts.k)
    const match = fts5MatchExpression(query)
    if (match === '') return []
    const t0 = performance.now()
    let rows: HitRow[]
    try {
      rows = this.#search.all(match, k)
    } catch (err) {
      throw this.#failure(err, match)
    }
    this.#logger?.debug({ backend: this.name, match, k, hits: rows.length, ms: Math.round(performance.now() - t0) }, 'search')
    return rows.map((r) => ({ id: r.id, score: -r.rank, text: r.text, title: r.title, url: r.url, corpus: r.corpus }))
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#db.close()
  }

  #failure (err: unknown, match: string): Error {
    const code = (err as { code?: string }).code ?? ''
    const context = { path: this.path, match, sqlite: code }
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      return new SearchUnavailableError(`The search index ${this.path} is busy (${code}); try again`, { cause: err, context })
    }
    if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) {
      return new ConfigError(`The search index ${this.path} is damaged (${code}): rebuild it with \`synthq index build\``, { cause: err, context })
    }
    return new SearchRejectedError(`The search index ${this.path} failed the query ${match}: ${(err as Error).message}`, { cause: err, context })
  }

  #open (): void {
    if (this.#closed) throw new ConfigError(`The search index ${this.path} is closed`)
  }
}

function invalidDoc (d: IndexDoc): { field: string, problem: string } | undefined {
  if (typeof d !== 'object' || d === null) return { field: 'document', problem: 'is not an object' }
  if (typeof d.id !== 'string' || d.id === '') return { field: 'id', problem: 'must be a non-empty string' }
  if (typeof d.text !== 'string') return { field: 'text', problem: 'must be a string' }
  for (const f of ['title', 'url', 'corpus'] as const) {
    const v = d[f]
    if (v !== undefined && v !== null && typeof v !== 'string') return { field: f, problem: 'must be a string or null' }
  }
  return undefined
}

function createSchema (db: Database.Database, path: string): void {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'synthq_meta'").get() !== undefined
  if (hasMeta) { checkFormat(db, path); return }
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }
  if (tables.n > 0) throw new ConfigError(`${path} is an SQLite database but not a synthq search index: choose another --index path.`, { context: { path } })
  db.exec(`
    CREATE TABLE synthq_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO synthq_meta (key, value) VALUES ('format', '${FORMAT}'), ('version', '${SCHEMA_VERSION}');
    CREATE TABLE docs (
      rowid INTEGER PRIMARY KEY,
      id TEXT NOT NULL UNIQUE,
      title TEXT,
      url TEXT,
      corpus TEXT,
      text TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE docs_fts USING fts5(
      title, text,
      content = 'docs', content_rowid = 'rowid',
      tokenize = 'porter unicode61 remove_diacritics 2'
    );
    -- The same ranking for ad-hoc SQL: SELECT … FROM docs_fts WHERE docs_fts MATCH … ORDER BY rank
    INSERT INTO docs_fts (docs_fts, rank) VALUES ('rank', 'bm25(${TITLE_WEIGHT}.0, 1.0)');
    CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
      INSERT INTO docs_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
    END;
    CREATE TRIGGER docs_ad AFTER DELETE ON docs BEGIN
      INSERT INTO docs_fts (docs_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
    END;
    CREATE TRIGGER docs_au AFTER UPDATE ON docs BEGIN
      INSERT INTO docs_fts (docs_fts, rowid, title, text) VALUES ('delete', old.rowid, old.title, old.text);
      INSERT INTO docs_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
    END;
  `)
}

function checkFormat (db: Database.Database, path: string): void {
  let meta: Map<string, string>
  try {
    meta = new Map((db.prepare('SELECT key, value FROM synthq_meta').all() as Array<{ key: string, value: string }>).map((r) => [r.key, r.value]))
  } catch (err) {
    throw new ConfigError(`${path} is not a synthq search index (${(err as Error).message}): build one with \`synthq index build <files|dirs>\`.`, { cause: err, context: { path } })
  }
  if (meta.get('format') !== FORMAT) throw new ConfigError(`${path} is not a synthq search index: build one with \`synthq index build <files|dirs>\`.`, { context: { path } })
  if (meta.get('version') !== SCHEMA_VERSION) {
    throw new ConfigError(`The search index ${path} has layout version ${meta.get('version')}, this synthq reads version ${SCHEMA_VERSION}: rebuild it with \`synthq index build\`.`, { context: { path } })
  }
}
