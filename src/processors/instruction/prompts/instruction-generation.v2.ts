/**
 * instruction-generation, version 2 (an alternative, not live): the same inputs and the same
 * answer schema as version 1 — its queries flow through the same topics — with a stricter brief.
 * Version 1 leaves constraints and format implicit and asks for self-containment in one line;
 * version 2 makes the query state the user's constraints and the output format it expects
 * (from the scene and the compositions' "output"), forbids references to a document the
 * assistant never sees ("the text above"), and bounds the query's length. Select it with
 * `pipeline.prompts: { instruction-generation: "2" }` or `--prompt-version
 * instruction-generation=2` (docs/pipeline.md#prompts).
 */
import type { Prompt } from '../../prompt.ts'
import type { InstructionInput } from '../prompt.ts'
import { INSTRUCTION_GENERATION_V1 } from './instruction-generation.v1.ts'

const SYSTEM = `You write the query a real user would send to a highly capable AI assistant.
You are given examples of real queries with their documents, scenes and query compositions, then a new document with an envisioned scene and query compositions. Write the one message this user would send for the new scene. The query must:
- state the user's goal and why it matters to them, in the user's own voice;
- demand reasoning, analysis, planning or creation — never a plain copy, lookup or extraction task;
- state the user's constraints explicitly, as the scene implies them: audience, scope, length, tools, deadlines, assumptions;
- state the output format the user expects, following "output" in the query compositions (a table, a numbered plan, code, an email, …);
- be strictly self-contained: quote verbatim every number, name, code line and sentence of the document the answer depends on, and never refer to "the document", "the text", "the article" or "above" — the assistant will not see the document;
- be answerable without web search, files or other resources;
- be a single message of 40 to 250 words, with no preamble, title or sign-off.
Answer with a JSON object {"query": string}.`

export const INSTRUCTION_GENERATION_V2: Prompt<InstructionInput> = {
  id: 'instruction-generation',
  version: '2',
  system: SYSTEM,
  // The same answer schema as version 1: its queries go to the same topic, with the same contract.
  schema: INSTRUCTION_GENERATION_V1.schema,
  messages: ({ demonstrations, document, scene, compositions }) => [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `${demonstrations ? `Examples:\n\n${demonstrations}\n\n` : ''}New document:\n${document}\n\nScene: ${scene}\nQuery compositions: ${compositions}\n\nWrite the user's query: goal, constraints and expected format stated, every excerpt it needs quoted.` },
  ],
}
