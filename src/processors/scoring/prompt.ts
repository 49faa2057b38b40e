/**
 * Scoring's prompt: an instruction judged on seven binary criteria (after Arena-Hard's
 * prompt-selection rubric), each with a short analysis first. The total is computed by synthq
 * from the seven scores, never taken from the model. Each version is a file of its own under
 * prompts/ (listed, with the live one, in ../prompts.ts).
 */
export { CRITERIA, totalScore, type Criterion, type Scores, type ScoringInput } from './criteria.ts'
export { SCORING_V2 as SCORING_PROMPT } from './prompts/scoring.v2.ts'
