/**
 * The demo topology: documents → situations → synthesized instructions with template
 * processors (no LLM), reading the demonstrations table. It exists to show the runtime working
 * end to end on either runner; its outputs are labelled simulated.
 */
import { demoInstruction } from '../processors/demo-topology/demo-instruction.ts'
import { demoSituation } from '../processors/demo-topology/demo-situation.ts'
import { TopologyBuilder, type Topology } from './topology.ts'

export function demoTopology (): Topology {
  return new TopologyBuilder('demo')
    .table('demonstrations')
    .stage({ name: 'demo-situation', input: 'documents', outputs: ['situations'], tables: ['demonstrations'], processor: demoSituation })
    .stage({ name: 'demo-instruction', input: 'situations', outputs: ['synthesizedInstructions'], processor: demoInstruction })
    .build()
}
