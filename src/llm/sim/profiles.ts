/**
 * Latency profiles of the LLM simulator: how long a real server would take to answer, so
 * benchmarks see realistic queueing and tests can exercise timeouts and back-pressure without a
 * GPU. Figures are from /work/shared/notes/serving.md (NVIDIA NIM and TensorRT-LLM benchmarks,
 * llama.cpp measurements, OpenAI's published tier limits); everything not measured there is an
 * estimate and says so.
 *
 * The model, per request (c = requests in service, including this one):
 *
 *   time to first token = queue wait + ttftMs(c) + uncached prompt tokens × prefillMsPerToken(c)
 *   decode              = completion tokens × interTokenMs(c)
 *
 * ttftMs, prefillMsPerToken and interTokenMs interpolate linearly between the profile's load
 * points (and extrapolate from the last two beyond them). At most `maxConcurrent` requests are in
 * service; later ones wait in a FIFO queue, as vLLM, SGLang and llama.cpp queue requests rather
 * than refuse them. Hosted APIs refuse instead: a profile with `rateLimits` answers 429 once its
 * requests-per-minute or tokens-per-minute budget is spent.
 */

export interface LoadPoint {
  /** Requests in service. */
  concurrency: number
  /** Time to first token for a short (fully cached or tiny) prompt, ms. */
  ttftMs: number
  /** Prefill cost of each uncached prompt token, ms. */
  prefillMsPerToken: number
  /** Time between output tokens, ms. */
  interTokenMs: number
}

export interface RateLimits {
  requestsPerMinute: number
  tokensPerMinute: number
}

export interface SimProfile {
  name: string
  description: string
  /** Requests served at once; later ones queue (FIFO). Infinity = no limit. */
  maxConcurrent: number
  /** Latency at increasing load, by concurrency (ascending). */
  load: LoadPoint[]
  /** Prefix-cache capacity in blocks of 64 tokens (256 characters); 0 turns the cache off. */
  prefixCacheBlocks: number
  /** Hosted-API budgets; absent for self-hosted servers. */
  rateLimits?: RateLimits
}

export type ProfileName = 'instant' | 'h100-8b' | 'h100x2-70b' | 'cpu-3b' | 'hosted'

/** A named profile with some fields replaced (`base` defaults to 'instant'). */
export type ProfileSpec = Partial<SimProfile> & { base?: ProfileName }

// Llama-3.1-8B, 32 layers × 8 KV heads × 128 dims × 2 (K, V) × 2 bytes = 128 KiB of KV cache per
// token; ~60 GB free on an 80 GB H100 → ~460K tokens ≈ 7,000 blocks of 64 (estimate).
const H100_8B_CACHE_BLOCKS = 7000

export const PROFILES: Record<ProfileName, SimProfile> = {
  instant: {
    name: 'instant',
    description: 'no latency, no concurrency limit: for tests and for benchmarking the pipeline itself',
    maxConcurrent: Infinity,
    load: [{ concurrency: 1, ttftMs: 0, prefillMsPerToken: 0, interTokenMs: 0 }],
    prefixCacheBlocks: H100_8B_CACHE_BLOCKS,
  },
  'h100-8b': {
    name: 'h100-8b',
    description: 'Llama-3.1-8B-Instruct on one H100 (NVIDIA NIM figures); saturates at ~250 requests in service',
    // vLLM's default max_num_seqs is 256; NIM's throughput stops growing at 200–250 in flight.
    maxConcurrent: 256,
    // TTFT and inter-token latency: NIM benchmark, short prompts, at concurrency 1/100/200/250.
    // Prefill per token (estimate): TensorRT-LLM's 5000-in/500-out run does ~34.6K prompt tok/s;
    // with prefill ≈ 57 % of GPU time that is ~60K tok/s alone ≈ 0.017 ms/token, rounded to 0.02
    // and grown with load in proportion to the inter-token latency (the GPU is shared).
    load: [
      { concurrency: 1, ttftMs: 10, prefillMsPerToken: 0.02, interTokenMs: 4.6 },
      { concurrency: 100, ttftMs: 120, prefillMsPerToken: 0.033, interTokenMs: 7.6 },
      { concurrency: 200, ttftMs: 465, prefillMsPerToken: 0.055, interTokenMs: 12.7 },
      { concurrency: 250, ttftMs: 606, prefillMsPerToken: 0.07, interTokenMs: 16.1 },
    ],
    prefixCacheBlocks: H100_8B_CACHE_BLOCKS,
  },
  'h100x2-70b': {
    name: 'h100x2-70b',
    description: 'Llama-3.3-70B on two H100s, FP8 (NVIDIA NIM figures); queues beyond ~64 requests in service',
    // NIM, 5000 prompt / 500 output tokens: c=1 → TTFT 407 ms, 18.6 ms/token; c=50 → 835 ms,
    // 59.7 ms/token, 814 tok/s; c=100 → TTFT 8.0 s from queueing (917 tok/s): saturated between
    // 50 and 100, so 64 slots (estimate). The split of TTFT into a fixed part and 5000 × prefill
    // per token is an estimate (57 + 350 ms at c=1, 235 + 600 ms at c=50). Check at c=50:
    // 50 × 500 tokens / (0.835 s + 500 × 59.7 ms) = 814 tok/s, as measured.
    maxConcurrent: 64,
    load: [
      { concurrency: 1, ttftMs: 57, prefillMsPerToken: 0.07, interTokenMs: 18.6 },
      { concurrency: 50, ttftMs: 235, prefillMsPerToken: 0.12, interTokenMs: 59.7 },
    ],
    // 70B FP8 KV: 80 layers × 8 × 128 × 2 × 1 byte = 160 KiB/token; ~70 GB free → ~440K tokens (estimate).
    prefixCacheBlocks: 7000,
  },
  'cpu-3b': {
    name: 'cpu-3b',
    description: 'Llama-3.2-3B Q4 on llama.cpp with 2 threads: ~25 prompt tok/s, 11 output tok/s, 2 slots',
    // llama.cpp, 2 threads: prompt 24–29 tok/s → 40 ms/token; generation 11 tok/s → 91 ms/token.
    // Two slots share the same two cores (estimate: prefill halves, decode ~1.75× slower each).
    maxConcurrent: 2,
    load: [
      { concurrency: 1, ttftMs: 50, prefillMsPerToken: 40, interTokenMs: 91 },
      { concurrency: 2, ttftMs: 50, prefillMsPerToken: 80, interTokenMs: 160 },
    ],
    // llama.cpp keeps each slot's last prompt (cache_prompt): 2 slots × 4K tokens (estimate).
    prefixCacheBlocks: 128,
  },
  hosted: {
    name: 'hosted',
    description: 'a hosted API like gpt-4o-mini at usage tier 1: 500 requests/min, 200K tokens/min, 429 beyond',
    // Limits: tier 1 for gpt-4o-mini (secondary sources). Latency is an estimate for a hosted
    // small model (~0.4 s to first token, ~80 output tok/s); hosted APIs do not queue visibly.
    maxConcurrent: Infinity,
    load: [{ concurrency: 1, ttftMs: 400, prefillMsPerToken: 0.01, interTokenMs: 12 }],
    prefixCacheBlocks: 65536,
    rateLimits: { requestsPerMinute: 500, tokensPerMinute: 200_000 },
  },
}

export function isProfileName (name: string): name is ProfileName {
  return Object.hasOwn(PROFILES, name)
}

/** The profile a name or spec stands for; unknown names and bad fields throw. */
export function resolveProfile (spec: ProfileName | ProfileSpec = 'instant'): SimProfile {
  const s: ProfileSpec = typeof spec === 'string' ? { base: spec } : spec
  const baseName = s.base ?? 'instant'
  if (!isProfileName(baseName)) throw new Error(`unknown LLM simulator profile "${String(baseName)}" (known: ${Object.keys(PROFILES).join(', ')})`)
  const { base: _base, ...fields } = s
  const p: SimProfile = { ...PROFILES[baseName], ...fields }
  if (typeof spec !== 'string' && Object.keys(fields).length > 0 && fields.name === undefined) p.name = `${baseName}*`
  if (!(p.maxConcurrent >= 1)) throw new Error(`profile ${p.name}: maxConcurrent must be at least 1`)
  if (p.load.length === 0 || p.load.some((l) => !(l.concurrency >= 1) || l.ttftMs < 0 || l.prefillMsPerToken < 0 || l.interTokenMs < 0)) {
    throw new Error(`profile ${p.name}: load points need concurrency ≥ 1 and non-negative latencies`)
  }
  p.load = [...p.load].sort((a, b) => a.concurrency - b.concurrency)
  if (p.rateLimits && !(p.rateLimits.requestsPerMinute > 0 && p.rateLimits.tokensPerMinute > 0)) throw new Error(`profile ${p.name}: rate limits must be positive`)
  return p
}

/** One flat load point: the same latency at any concurrency (handy for tests). */
export function flatLoad (ttftMs: number, interTokenMs = 0, prefillMsPerToken = 0): LoadPoint[] {
  return [{ concurrency: 1, ttftMs, prefillMsPerToken, interTokenMs }]
}

/** Latency figures at concurrency `c`, interpolated between load points, never negative. */
export function latencyAt (profile: SimProfile, c: number): Omit<LoadPoint, 'concurrency'> {
  const pts = profile.load
  const first = pts[0]!
  if (pts.length === 1 || c <= first.concurrency) return { ttftMs: first.ttftMs, prefillMsPerToken: first.prefillMsPerToken, interTokenMs: first.interTokenMs }
  let i = pts.findIndex((p) => p.concurrency >= c)
  if (i < 0) i = pts.length - 1
  const a = pts[i - 1]!
  const b = pts[i]!
  const f = (c - a.concurrency) / (b.concurrency - a.concurrency)
  const lerp = (x: number, y: number): number => Math.max(0, x + (y - x) * f)
  return { ttftMs: lerp(a.ttftMs, b.ttftMs), prefillMsPerToken: lerp(a.prefillMsPerToken, b.prefillMsPerToken), interTokenMs: lerp(a.interTokenMs, b.interTokenMs) }
}
