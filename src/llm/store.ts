/**
 * The LLM layer's durable state — the response cache and the usage ledger — in SQLite (the same
 * embedded database the embedded runner uses by default, or a file of its own beside a Kafka
 * deployment). WAL mode lets the runner's own connection and this one share the file.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'

export type LlmDatabase = Database.Database

export function openLlmDatabase (path: string): LlmDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 10000')
  db.exec(`
    CREATE TABLE IF NOT EXISTS llm_cache (
      key TEXT PRIMARY KEY,
      stage TEXT NOT NULL,
      model TEXT NOT NULL,
      content TEXT NOT NULL,
      prompt_tokens INTEGER NOT NULL,
      completion_tokens INTEGER NOT NULL,
      simulated INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS llm_embeddings (
      key TEXT PRIMARY KEY,
      model TEXT NOT NULL,
      vector BLOB NOT NULL,
      simulated INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS llm_usage (
      stage TEXT NOT NULL,
      model TEXT NOT NULL,
      endpoint TEXT NOT NULL,
      calls INTEGER NOT NULL DEFAULT 0,
      requests INTEGER NOT NULL DEFAULT 0,
      prompt_tokens INTEGER NOT NULL DEFAULT 0,
      completion_tokens INTEGER NOT NULL DEFAULT 0,
      cached_prompt_tokens INTEGER NOT NULL DEFAULT 0,
      estimated_requests INTEGER NOT NULL DEFAULT 0,
      cost_usd REAL NOT NULL DEFAULT 0,
      cache_hits INTEGER NOT NULL DEFAULT 0,
      cache_misses INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (stage, model, endpoint)
    );
  `)
  return db
}
