/**
 * A two-stage topology whose processors misbehave on request, for the conformance and crash
 * tests. A document's `metadata.mode` decides what the first stage does with it:
 *
 *   ok (default)     emit a situation
 *   transient:N      fail with a retriable error N times, then succeed
 *   permanent        fail with a non-retriable error
 *   reject           reject with a reason
 *   invalid-output   emit a situation that does not match its schema
 *   slow:MS          wait MS milliseconds, then succeed
 *   misconfigured    fail as an LLM endpoint that refuses the key (401): the stage must halt
 *
 * The second stage turns each situation into an instruction that records how many
 * demonstrations the table held when it ran.
 */
import { SynthqError } from '../../src/errors.ts'
import { LlmRejectedError } from '../../src/llm/errors.ts'
import { emit, reject, type Processor } from '../../src/processors/processor.ts'
import { TopologyBuilder, type Topology } from '../../src/topologies/topology.ts'

export interface Probe {
  attempts: Map<string, number>
  inFlight: number
  maxInFlight: number
}

export function newProbe (): Probe {
  return { attempts: new Map(), inFlight: 0, maxInFlight: 0 }
}

interface Doc { id: string, text: string, url: string | null, title: string | null, corpus: string, metadata: Record<string, string> }
interface Sit { id: string, document: { id: string, url: string | null, title: string | null, corpus: string | null }, scene: string, query_compositions: Record<string, string> }

export function situate (probe: Probe): Processor<Doc> {
  return {
    name: 'test-situate',
    async process (record, ctx) {
      const doc = record.value
      const mode = doc.metadata.mode ?? 'ok'
      const n = (probe.attempts.get(doc.id) ?? 0) + 1
      probe.attempts.set(doc.id, n)
      probe.inFlight++
      probe.maxInFlight = Math.max(probe.maxInFlight, probe.inFlight)
      try {
        if (mode.startsWith('slow:')) await new Promise((r) => setTimeout(r, Number(mode.slice(5))))
        if (mode.startsWith('transient:') && n <= Number(mode.slice(10))) throw new SynthqError('SYNTHQ_REGISTRY_UNAVAILABLE', `simulated transient failure ${n} for ${doc.id}`, { retriable: true })
        if (mode === 'permanent') throw new TypeError(`simulated bug for ${doc.id}`)
        if (mode === 'misconfigured') throw new LlmRejectedError(`stage situate: the endpoint refused the API key (simulated for ${doc.id})`, { status: 401, endpointMisconfigured: true })
        if (mode === 'reject') return reject(`document ${doc.id} asked to be rejected`, { rawOutput: 'raw model text' })
        const value = {
          id: `sit-${doc.id}`,
          document: { id: doc.id, url: doc.url, title: doc.title, corpus: doc.corpus },
          document_text: doc.text,
          thought: `thought about ${doc.id}`,
          scene: `scene for ${doc.id}`,
          query_compositions: { ability: 'a', knowledge: 'k', extra_information: doc.text.slice(0, 40), output: 'o' },
          lineage: ctx.lineage(record, { simulated: true, model: { endpoint: 'test', name: 'none' } }),
        }
        return emit({ topic: 'situations', key: value.id, value: mode === 'invalid-output' ? { ...value, scene: 42 } : value })
      } finally {
        probe.inFlight--
      }
    },
  }
}

export function instruct (): Processor<Sit> {
  return {
    name: 'test-instruct',
    process (record, ctx) {
      const s = record.value
      const demos = ctx.table('demonstrations')
      return emit({
        topic: 'synthesizedInstructions',
        key: `ins-${s.document.id}`,
        value: {
          id: `ins-${s.document.id}`,
          instruction: `instruction for ${s.document.id} (demonstrations: ${demos.size})`,
          situation_id: s.id,
          document: s.document,
          scene: s.scene,
          query_compositions: s.query_compositions,
          lineage: ctx.lineage(record, { demonstrationIds: [...demos.keys()].sort() }),
        },
      })
    },
  }
}

export function testTopology (probe: Probe, opts: { concurrency?: number } = {}): Topology {
  return new TopologyBuilder('conformance')
    .table('demonstrations')
    .stage({ name: 'situate', input: 'documents', outputs: ['situations'], processor: () => situate(probe), ...(opts.concurrency ? { concurrency: opts.concurrency } : {}) })
    .stage({ name: 'instruct', input: 'situations', outputs: ['synthesizedInstructions'], tables: ['demonstrations'], processor: instruct })
    .build()
}

export function doc (id: string, mode = 'ok'): Record<string, unknown> {
  return { id, text: `Text of document ${id}: a paragraph long enough to ground a situation.`, url: `https://example.org/${id}`, title: `Doc ${id}`, corpus: 'test', license: null, metadata: mode === 'ok' ? {} : { mode }, ingested_at: 1764028800000 }
}

export function demonstration (id: string): Record<string, unknown> {
  return {
    instruction_id: id, prompt: `real prompt ${id}`, document: { id: `doc-${id}`, url: null, title: null, corpus: null }, document_text: 'text',
    scene: 'scene', query_compositions: { ability: 'a', knowledge: 'k', extra_information: 'e', output: 'o' }, seed_score: null,
    lineage: { stage: 'seed', run_id: 'r', upstream: [], prompt: null, model: null, demonstration_ids: [], sampling_seed: null, simulated: false, source_created_at: null, created_at: 1764028800000 },
  }
}
