/**
 * `synthq prompts` — the prompt registry (src/processors/prompts.ts): every stage's prompt
 * versions, which one is live, the file each lives in and a short hash of what it sends; and
 * `synthq prompts diff <stage> <v1> <v2>`, a unified diff of two versions' system text, JSON
 * schema and the messages they render for the stage's fixed sample input. No servers needed.
 */
import { createTwoFilesPatch } from 'diff'
import { ConfigError, UsageError } from '../errors.ts'
import type { Prompt } from '../processors/prompt.ts'
import { listPrompts, PROMPT_STAGES, promptVersion, stagePrompts } from '../processors/prompts.ts'

/** The registry as a table (what `synthq prompts` prints). */
export function promptsTable (): string {
  const rows = listPrompts().map((p) => [p.stage, p.id, p.version, p.live ? '*' : '', p.hash, p.file])
  const header = ['stage', 'prompt id', 'version', 'live', 'hash', 'file']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join('  ')
  const shared = PROMPT_STAGES.map((s) => [s, stagePrompts(s).usedBy] as const).filter(([s, by]) => by.length !== 1 || by[0] !== s)
  return [
    line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '',
    `${PROMPT_STAGES.length} stages, ${rows.length} versions; * = live (run unless pipeline.prompts or --prompt-version <stage>=<version> selects another).`,
    ...shared.map(([s, by]) => `${s} is sent by: ${by.join(', ')}.`),
  ].join('\n') + '\n'
}

/** What a version sends, as text to diff: system text, schema, and the sample input's messages. */
function rendering (prompt: Prompt<unknown>, sample: unknown): string {
  const messages = prompt.messages(sample).map((m) => `[${m.role}]\n${m.role === 'system' && m.content === prompt.system ? '(the system text above)' : m.content}`)
  return [
    `# ${prompt.id} version ${prompt.version}`, '',
    '## system', prompt.system, '',
    '## schema', JSON.stringify(prompt.schema, null, 2), '',
    '## messages for the sample input', ...messages, '',
  ].join('\n')
}

/** A unified diff of two versions of a stage's prompt; an unknown stage or version is a usage error naming what exists. */
export function promptsDiff (stage: string | undefined, a: string | undefined, b: string | undefined): string {
  if (!stage || !a || !b) throw new UsageError(`synthq prompts diff needs a stage and two versions, e.g. synthq prompts diff instruction-generation 1 2 (stages: ${PROMPT_STAGES.join(', ')})`)
  let va, vb
  try {
    va = promptVersion(stage, a)
    vb = promptVersion(stage, b)
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message, { context: err.context })
    throw err
  }
  const sample = stagePrompts(stage).sample
  const patch = createTwoFilesPatch(`${stage} v${va.prompt.version}`, `${stage} v${vb.prompt.version}`, rendering(va.prompt, sample), rendering(vb.prompt, sample), va.file, vb.file)
  return patch.includes('\n@@') ? patch : `${patch}(no difference: versions ${va.prompt.version} and ${vb.prompt.version} send the same system text, schema and messages)\n`
}

/** --prompt-version <stage>=<version> (repeatable) as pipeline.prompts; the registry checks the names. */
export function promptVersionArgs (args: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const a of args) {
    const at = a.indexOf('=')
    if (at <= 0 || at === a.length - 1) throw new UsageError(`--prompt-version takes <stage>=<version>, e.g. --prompt-version instruction-generation=2, got "${a}" (synthq prompts lists them)`)
    out[a.slice(0, at).trim()] = a.slice(at + 1).trim()
  }
  return out
}

export async function runPrompts (positionals: string[]): Promise<number> {
  const [, sub, ...rest] = positionals
  if (sub === undefined || sub === 'list') {
    process.stdout.write(promptsTable())
    return 0
  }
  if (sub === 'diff') {
    process.stdout.write(promptsDiff(rest[0], rest[1], rest[2]))
    return 0
  }
  throw new UsageError(`synthq prompts: unknown sub-command "${sub}" (list, diff)`)
}
