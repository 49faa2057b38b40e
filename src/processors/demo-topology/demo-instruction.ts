/**
 * demo-instruction — a template stand-in for instruction generation (see demo-situation.ts).
 * Input: situations. Output: synthesized instructions, labelled simulated.
 */
import { emit, type Processor } from '../processor.ts'
import { DEMO_MODEL } from './demo-situation.ts'

interface Situation {
  id: string
  document: { id: string, url: string | null, title: string | null, corpus: string | null }
  scene: string
  query_compositions: { ability: string, knowledge: string, extra_information: string, output: string }
}

export function demoInstruction (): Processor<Situation> {
  return {
    name: 'demo-instruction',
    process (record, ctx) {
      const s = record.value
      return emit({
        topic: 'synthesizedInstructions',
        key: `ins-${s.id}`,
        value: {
          id: `ins-${s.id}`,
          instruction: `[demo] Given that "${s.query_compositions.extra_information}", write ${s.query_compositions.output} using ${s.query_compositions.ability}.`,
          situation_id: s.id,
          document: s.document,
          scene: s.scene,
          query_compositions: s.query_compositions,
          lineage: ctx.lineage(record, { model: DEMO_MODEL, prompt: { id: 'demo-instruction', version: '1' }, simulated: true }),
        },
      })
    },
  }
}
