/**
 * Instruction generation's prompt: document + envisioned situation (+ the same demonstrations)
 * → one self-contained, challenging user query. Each version is a file of its own under
 * prompts/ (listed, with the live one, in ../prompts.ts); this module holds the types they share
 * and names the live version.
 */
export interface GeneratedInstruction { query: string }

export interface InstructionInput { demonstrations: string, document: string, scene: string, compositions: string }

export { INSTRUCTION_GENERATION_V1 as INSTRUCTION_PROMPT } from './prompts/instruction-generation.v1.ts'
