/**
 * The check every pipeline makes before it reads a record: each endpoint the stages use is
 * reachable as an OpenAI-compatible API, accepts the key, and serves the stage's model. Its
 * errors name the stage and the setting to change. The model list also gives the context windows
 * that servers such as vLLM report.
 */
import type OpenAI from 'openai'
import { ConfigError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { StageSettings } from './config.ts'
import { classifyFailure, misconfigurationHint } from './errors.ts'
import { contextWindowOf } from './server-info.ts'

/** What the check needs of an endpoint: its client, and where to keep the context windows it reports. */
export interface CheckedEndpoint { openai: OpenAI, contextWindows: Map<string, number> }

export async function checkEndpoints (stages: StageSettings[], endpointOf: (s: StageSettings) => CheckedEndpoint, logger: Logger, timeoutMs: number): Promise<void> {
  const checked = new Map<string, Set<string>>()
  for (const s of stages) {
    const name = s.stage
    const rt = endpointOf(s)
    let models = checked.get(s.endpoint.name)
    if (!models) {
      try {
        const list = await rt.openai.models.list({ timeout: timeoutMs })
        models = new Set(list.data.map((m) => m.id))
        for (const m of list.data) {
          const window = contextWindowOf(m)
          if (window !== undefined) rt.contextWindows.set(m.id, window)
        }
      } catch (err) {
        const f = classifyFailure(err, s.endpoint.apiKey)
        const setting = s.endpoint.name.startsWith('env') ? 'SYNTHQ_LLM_BASE_URL' : `llm.endpoints.${s.endpoint.name}.baseUrl`
        if (f.kind === 'misconfigured' && f.status !== 404) {
          throw new ConfigError(`stage ${name}: ${misconfigurationHint(f.status, { stage: name, endpoint: s.endpoint.name, baseUrl: s.endpoint.baseUrl, model: s.model, keySource: s.endpoint.apiKeySource })} (${f.reason})`)
        }
        if (f.kind === 'transient' || f.status === 404) {
          throw new ConfigError(`stage ${name}: the LLM endpoint ${s.endpoint.baseUrl} (${setting}) is not reachable as an OpenAI-compatible API: ${f.reason}${f.detail ? ` — ${f.detail}` : ''}`)
        }
        // Some servers do not implement /models; the first real call will tell.
        logger.warn({ endpoint: s.endpoint.name, reason: f.reason }, 'LLM endpoint does not list its models; skipping the model check')
        models = new Set()
      }
      checked.set(s.endpoint.name, models)
    }
    if (models.size > 0 && !models.has(s.model)) {
      throw new ConfigError(`stage ${name}: model "${s.model}" is not served by ${s.endpoint.baseUrl}; it serves: ${[...models].slice(0, 20).join(', ')}. Set the model with llm.stages.${name}.model or SYNTHQ_LLM_${name.toUpperCase().replace(/-/g, '_')}_MODEL`)
    }
  }
}
