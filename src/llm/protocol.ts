/**
 * Conventions shared by synthq's LLM client and its simulator (`synthq llm-sim`). Only the
 * OpenAI chat-completions protocol crosses the wire; these constants say how a stage's expected
 * JSON shape travels inside it.
 */

/**
 * Structured-output schemas are named `synthq_<stage>_v<promptVersion>` (`response_format`
 * `json_schema.name`; OpenAI allows [a-zA-Z0-9_-], at most 64 characters).
 */
export function schemaName (stage: string, promptVersion: string | number): string {
  return `synthq_${stage}_v${promptVersion}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64)
}

/**
 * Endpoints without `json_schema` support get the schema in the system message instead, after
 * this line and inside a ```json fenced block.
 */
export const SCHEMA_IN_PROMPT_MARKER = 'Answer with one JSON object that matches this JSON Schema, and nothing else:'

export function schemaInPrompt (schema: object): string {
  return `${SCHEMA_IN_PROMPT_MARKER}\n\`\`\`json\n${JSON.stringify(schema)}\n\`\`\``
}

/** Model names the simulator serves all start with this; records made through them are marked simulated. */
export const SIMULATED_MODEL_PREFIX = 'sim-'

export function isSimulatedModel (model: string): boolean {
  return model.startsWith(SIMULATED_MODEL_PREFIX)
}

/** `system_fingerprint` the simulator puts in every completion. */
export const SIMULATOR_FINGERPRINT = 'synthq-llm-sim'
