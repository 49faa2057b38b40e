/**
 * Settings of the attributed-grounding pipeline, with the method's defaults. Each field says
 * where its default comes from; topologies pass the relevant part to each processor.
 */
import { join } from 'node:path'
import { REPO_DATA } from '../data-paths.ts'

export interface PipelineOptions {
  /** Seed of every random choice (demonstration sampling); recorded in lineage. */
  seed: number
  demonstrations: {
    /** Demonstrations sampled per document (the method: 10). */
    k: number
    /**
     * Re-sample the set every M documents. M = 1 is the method's behaviour (a new set per
     * document); larger M keeps the long prompt prefix identical across M requests, so servers
     * with prefix caching (vLLM, SGLang) skip most of the prefill.
     */
    resampleEvery: number
    /** Tokens of each demonstration's document shown in the prompt. */
    excerptTokens: number
  }
  budget: {
    /** Documents are truncated to this many tokens (the method: 4096). */
    documentTokens: number
    /** The whole synthesis prompt stays under this (the method: 7500). */
    promptTokens: number
  }
  hygiene: {
    minChars: number
    maxChars: number
    /** Drop near duplicates (MinHash) as well as exact ones. */
    nearDuplicates: boolean
    nearDuplicateThreshold: number
  }
  /** JSONL files of benchmark prompts that seeds and synthesized instructions must not resemble. */
  decontamination: string[]
  /** Attribution: score the real instructions first and keep those with at least this total (the method kept 7/7); null = no gate. */
  seedGate: number | null
}

export const DEFAULT_PIPELINE_OPTIONS: PipelineOptions = {
  seed: 20250604,
  demonstrations: { k: 10, resampleEvery: 50, excerptTokens: 256 },
  budget: { documentTokens: 4096, promptTokens: 7500 },
  hygiene: { minChars: 200, maxChars: 1_000_000, nearDuplicates: false, nearDuplicateThreshold: 0.8 },
  decontamination: [join(REPO_DATA, 'decontam', 'arena-hard-v0.1-questions.jsonl')],
  seedGate: null,
}
