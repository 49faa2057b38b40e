/**
 * The seven criteria every scoring prompt version judges, and the total synthq computes from
 * them (never taken from the model). A module of its own so that version files and the stage's
 * prompt.ts can both import it without an import cycle.
 */
export const CRITERIA = ['specificity', 'domain_knowledge', 'complexity', 'problem_solving', 'creativity', 'technical_accuracy', 'real_world_application'] as const
export type Criterion = typeof CRITERIA[number]
export type Scores = Record<Criterion, { analysis: string, score: number }>

export interface ScoringInput { query: string }

/** Number of criteria met: 0–7. */
export function totalScore (s: Scores): number {
  return CRITERIA.reduce((n, c) => n + (s[c].score >= 1 ? 1 : 0), 0)
}
