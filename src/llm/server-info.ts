/**
 * What a server says about the model it serves, read from its `GET /v1/models` entry: the context
 * window, under whichever name the server uses. Servers that say nothing leave it to the
 * configuration (`llm.stages.<stage>.contextWindow`, `SYNTHQ_LLM_CONTEXT_WINDOW`).
 *
 * | server            | field of the model entry                               |
 * |-------------------|--------------------------------------------------------|
 * | vLLM, SGLang      | `max_model_len`                                        |
 * | LM Studio, others | `context_length`, `max_context_length`, `context_window` |
 * | llama.cpp         | `meta.n_ctx` (served), else `meta.n_ctx_train`         |
 * | OpenAI, Ollama, llama-cpp-python | nothing                                 |
 */

const FIELDS = ['max_model_len', 'context_length', 'max_context_length', 'context_window', 'n_ctx'] as const

function positiveInt (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined
}

/** The context window a `/v1/models` entry reports, if it reports one. */
export function contextWindowOf (entry: unknown): number | undefined {
  if (!entry || typeof entry !== 'object') return undefined
  const e = entry as Record<string, unknown>
  for (const f of FIELDS) {
    const n = positiveInt(e[f])
    if (n !== undefined) return n
  }
  const meta = e.meta as Record<string, unknown> | undefined
  return positiveInt(meta?.n_ctx) ?? positiveInt(meta?.n_ctx_train)
}
