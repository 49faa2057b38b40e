/**
 * The topologies `synthq run <name>` knows, built from one context: pipeline options, where
 * the search index lives, and shared resources (one decontamination index per process).
 */
import type { Decontaminator } from '../hygiene/decontam.ts'
import { loadDecontaminator } from '../hygiene/decontam.ts'
import { searchBackendFromEnv } from '../search/config.ts'
import { attributionTopology } from './attribution.ts'
import { demoTopology } from './demo.ts'
import type { PipelineOptions } from './options.ts'
import { synthesisTopology } from './synthesis.ts'
import type { Topology } from './topology.ts'

export interface TopologyContext {
  options: PipelineOptions
  /** Default path of the embedded BM25 index (SYNTHQ_SEARCH_INDEX overrides). */
  searchIndex: string
  env?: NodeJS.ProcessEnv
}

function sharedDecontaminator (files: string[]): (() => Decontaminator) | undefined {
  if (files.length === 0) return undefined
  let d: Decontaminator | undefined
  return () => (d ??= loadDecontaminator(files))
}

export const TOPOLOGIES: Record<string, (c: TopologyContext) => Topology> = {
  demo: () => demoTopology(),
  attribution: (c) => {
    const decontaminator = sharedDecontaminator(c.options.decontamination)
    return attributionTopology({
      options: c.options,
      search: () => searchBackendFromEnv(c.env ?? process.env, { defaultIndexPath: c.searchIndex }),
      ...(decontaminator ? { decontaminator } : {}),
    })
  },
  synthesis: (c) => {
    const decontaminator = sharedDecontaminator(c.options.decontamination)
    return synthesisTopology({ options: c.options, ...(decontaminator ? { decontaminator } : {}) })
  },
}

export function topologyNames (): string[] {
  return Object.keys(TOPOLOGIES)
}
