/**
 * The judge prompt: which of two responses to one instruction is better (pairwise, after the
 * MT-Bench / Arena-Hard pairwise judges). synthq asks it twice, with the responses in both
 * orders, and keeps a preference only when both orders agree (judge.ts): position bias cancels.
 * Each version is a file of its own under prompts/ (listed, with the live one, in ../prompts.ts).
 */
export interface JudgeInput { instruction: string, first: string, second: string }

export interface JudgeAnswer { judge_reason: string, better_response: 'A' | 'B' | 'tie' }

export { JUDGE_V1 as JUDGE_PROMPT } from './prompts/judge.v1.ts'
