/**
 * demo-situation — a template stand-in for situation generation, so the runtime can be run and
 * seen end to end before the LLM processors exist. No model is called: the scene and query
 * compositions are cut from the document. Its records say so: lineage.simulated = true, model
 * "demo/template".
 *
 * Input: documents. Output: situations. Reads the demonstrations table (when it has rows, the
 * ids of up to 3 demonstrations, chosen by a hash of the document id, go into the lineage).
 * Rejects documents with fewer than 20 characters of text.
 */
import { createHash } from 'node:crypto'
import { emit, reject, type Processor } from '../processor.ts'

interface Document { id: string, text: string, url: string | null, title: string | null, corpus: string }

export const DEMO_MODEL = { endpoint: 'demo', name: 'template' }

function firstSentence (text: string, max = 200): string {
  const s = text.replace(/\s+/g, ' ').trim()
  const end = s.search(/[.!?](\s|$)/)
  return (end > 0 ? s.slice(0, end + 1) : s).slice(0, max)
}

export function demoSituation (): Processor<Document> {
  return {
    name: 'demo-situation',
    process (record, ctx) {
      const doc = record.value
      if (doc.text.trim().length < 20) return reject(`document ${doc.id} has too little text (${doc.text.trim().length} characters) to ground a situation`)
      const demos = ctx.table<{ instruction_id: string }>('demonstrations')
      const ids = [...demos.keys()].sort()
      const h = createHash('sha256').update(doc.id).digest()
      const chosen = ids.length ? [...new Set([0, 1, 2].map((i) => ids[h[i]! % ids.length]!))] : []
      const lead = firstSentence(doc.text)
      return emit({
        topic: 'situations',
        key: `sit-${doc.id}`,
        value: {
          id: `sit-${doc.id}`,
          document: { id: doc.id, url: doc.url, title: doc.title, corpus: doc.corpus },
          document_text: doc.text.slice(0, 4000),
          thought: `[demo] The document opens with: "${lead}" A reader would want to apply it.`,
          scene: `[demo] A practitioner reading ${doc.title ?? doc.url ?? 'a document'} wants to act on it.`,
          query_compositions: { ability: 'analysis', knowledge: doc.corpus, extra_information: lead, output: 'a short plan' },
          lineage: ctx.lineage(record, { model: DEMO_MODEL, prompt: { id: 'demo-situation', version: '1' }, demonstrationIds: chosen, simulated: true }),
        },
      })
    },
  }
}
