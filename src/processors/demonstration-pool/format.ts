/**
 * How a demonstration (an attributed real instruction) is shown to the model inside a
 * synthesis prompt: its document (cut to a few hundred tokens), scene, query compositions and
 * the real query — the worked example the model imitates.
 */
import type { QueryCompositions } from '../prompt.ts'

export interface DemonstrationRecord {
  instruction_id: string
  prompt: string
  document: { id: string, url: string | null, title: string | null, corpus: string | null }
  document_text: string
  scene: string
  query_compositions: QueryCompositions
  seed_score: number | null
}

export function formatDemonstration (d: DemonstrationRecord, documentExcerpt: string, index: number): string {
  return [
    `### Example ${index + 1}`,
    `Document: ${documentExcerpt}`,
    `Scene: ${d.scene}`,
    `Query compositions: ${JSON.stringify(d.query_compositions)}`,
    `Query: ${d.prompt}`,
  ].join('\n')
}
