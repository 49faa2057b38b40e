/** The context the sink benchmarks hand to the processor, like the stateful engine's (src/runtime/stateful-engine.ts). */
import type { StageLlm } from '../src/llm/client.ts'
import type { Logger } from '../src/log.ts'
import { buildLineage } from '../src/processors/lineage.ts'
import type { ProcessorContext } from '../src/processors/processor.ts'
import type { StatefulContext } from '../src/processors/stateful.ts'

/** A fresh signal per batch, the wall clock, no tables; `llm` answers the sink's embeddings (none: lexical vectors). */
export function sinkBenchContext (logger: Logger, llm: StageLlm | undefined): ProcessorContext {
  return {
    stage: 'sink', runId: 'bench', logger, now: Date.now, signal: new AbortController().signal,
    llm: () => { if (!llm) throw new Error('no LLM'); return llm },
    table: () => { throw new Error('no tables') },
    lineage: (inputs, opts = {}) => buildLineage('sink', 'bench', (r) => `synthq.${r.topic}`, Array.isArray(inputs) ? inputs : [inputs], opts, Date.now()),
  }
}

/** The same without the signal, for init, restore, punctuate and flush. */
export const statefulOf = (ctx: ProcessorContext): StatefulContext => { const { signal: _s, ...rest } = ctx; return rest }
