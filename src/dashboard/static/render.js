// DOM rendering of the snapshot's tables, bars and chips. Record text (instructions, ids, URLs,
// labels) is untrusted: it is only ever written with textContent or as an attribute value,
// never parsed as HTML. Every figure is shown as text and, for tests and tools, in data-value.
/* global document, Node */

/** Creates an element; strings among children become text nodes (never HTML). */
export function h (tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) e.setAttribute(k, String(v))
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c))
  return e
}
const dash = '—'
export const fmtInt = (v) => (v == null ? dash : Math.round(v).toLocaleString('en-US'))
export const fmtRate = (v) => (v == null ? dash : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(v > 0 && v < 1 ? 2 : 1))
export const fmtMs = (v) => (v == null ? dash : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 10 || v === 0 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`)
export const fmtPct = (v) => (v == null ? dash : `${(100 * v).toFixed(1)} %`)
/** Axis ticks in dollars: as few decimals as the step needs. */
export const fmtUsdTick = (v) => (v === 0 ? '$0' : v >= 1 ? `$${v.toFixed(v >= 100 ? 0 : 2).replace(/\.00$/, '')}` : `$${Number(v.toPrecision(2))}`)
export const fmtUsd = (v) => (v == null ? dash : v >= 100 ? `$${v.toFixed(0)}` : `$${v.toFixed(v >= 1 ? 2 : 4)}`)
export const fmtCompact = (v) => (v == null ? dash : Math.abs(v) >= 1e9 ? `${(v / 1e9).toFixed(1)}G` : Math.abs(v) >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : Math.abs(v) >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : String(Math.round(v * 100) / 100))

/** Replaces the text of [data-testid=id] (and its data-value, when given). */
export function setText (id, text, value) {
  const e = document.querySelector(`[data-testid="${id}"]`)
  if (!e) return
  e.textContent = text
  if (value !== undefined) e.dataset.value = value == null ? '' : String(value)
}

/** A table cell with a figure: text for people, data-value for machines. */
const num = (testid, value, text) => h('td', { class: 'num', 'data-testid': testid, 'data-value': value ?? '' }, text)

export function renderStages (tbody, stages, colors) {
  tbody.replaceChildren(...stages.map((s) => {
    const llm = s.llm
    const dead = s.deadLetters > 0
      ? h('span', { class: 'bad', title: s.deadLetterReasons.map((r) => `${r.errorClass} ${r.count}`).join(', ') }, fmtInt(s.deadLetters))
      : '0'
    return h('tr', { 'data-testid': `stage-row-${s.stage}` },
      h('th', { scope: 'row' }, h('span', { class: 'swatch', 'data-color': colors.get(s.stage) }), s.stage, h('small', { class: 'muted' }, ` ${s.topology}`)),
      h('td', { class: 'mono small' }, s.input),
      num('lag', s.lag, fmtInt(s.lag)),
      num('committed', s.committed, fmtInt(s.committed)),
      num('throughput', s.throughputPerSec, fmtRate(s.throughputPerSec)),
      num('in-flight', s.inFlight, s.inFlight == null ? dash : `${fmtInt(s.inFlight)}${s.queued ? ` (+${fmtInt(s.queued)} queued)` : ''}`),
      num('retries', s.retries, fmtInt(s.retries)),
      h('td', { class: 'num', 'data-testid': 'dead-letters', 'data-value': s.deadLetters }, dead),
      num('latency', llm?.latencyP95Ms ?? null, llm ? `${fmtMs(llm.latencyP50Ms)} / ${fmtMs(llm.latencyP95Ms)}` : ''),
      num('tokens', llm ? llm.promptTokens + llm.completionTokens : null, llm ? `${fmtCompact(llm.promptTokens)} / ${fmtCompact(llm.completionTokens)}` : ''),
    )
  }))
  // Swatch colours come from the chart palette; set through CSSOM (allowed by the CSP).
  for (const sw of tbody.querySelectorAll('.swatch')) sw.style.background = sw.dataset.color
}

/** Eight bars, one per total 0–7, heights relative to the largest. */
export function renderHistogram (el, histogram) {
  const counts = Array.from({ length: 8 }, (_, i) => histogram?.[i] ?? 0)
  const max = Math.max(1, ...counts)
  const sum = counts.reduce((a, b) => a + b, 0)
  el.replaceChildren(...counts.map((c, i) => {
    const bar = h('div', { class: 'bar' })
    bar.style.height = `${(100 * c) / max}%`
    return h('div', { class: 'hbin', role: 'listitem', 'data-testid': `score-bar-${i}`, 'data-count': c, title: `total ${i}: ${c} (${sum ? ((100 * c) / sum).toFixed(1) : 0} %)` },
      h('span', { class: 'count' }, fmtInt(c)), h('div', { class: 'track' }, bar), h('span', { class: 'bin' }, String(i)))
  }))
}

/** Kept versus quota per topic label: a bar for kept, a tick for the quota. */
export function renderTopics (el, figures, sample) {
  if (!sample) {
    figures.replaceChildren(h('div', {}, h('dt', {}, 'sample'), h('dd', {}, 'no sample yet (the sink has not checkpointed)')))
    el.replaceChildren()
    return
  }
  const fig = (label, text, testid, value) => h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': testid, 'data-value': value ?? '' }, text))
  figures.replaceChildren(
    fig('kept / K', `${fmtInt(sample.size)} / ${fmtInt(sample.k)}`, 'sample-kept', sample.size),
    fig('topics', fmtInt(sample.topics.length), 'sample-topics', sample.topics.length),
    fig('topic entropy', sample.topicEntropy.toFixed(3), 'sample-entropy', sample.topicEntropy),
    fig('effective topics', sample.effectiveTopics.toFixed(1), 'sample-effective', sample.effectiveTopics),
    fig('balance max/min', sample.balanceRatio == null ? dash : sample.balanceRatio.toFixed(3), 'sample-balance', sample.balanceRatio),
    fig('Vendi score', sample.vendi == null ? dash : sample.vendi.toFixed(2), 'sample-vendi', sample.vendi),
    ...(sample.simulated ? [h('div', {}, h('dt', {}, 'vectors'), h('dd', {}, h('span', { class: 'badge sim' }, 'SIMULATED')))] : []),
  )
  const topics = [...sample.topics].sort((a, b) => b.kept - a.kept || a.label.localeCompare(b.label))
  const max = Math.max(1, ...topics.map((t) => Math.max(t.kept, t.quota)))
  el.replaceChildren(...topics.map((t) => {
    const kept = h('div', { class: 'kept' })
    kept.style.width = `${(100 * t.kept) / max}%`
    const quota = h('div', { class: 'quota', title: `quota ${t.quota}` })
    quota.style.left = `${(100 * t.quota) / max}%`
    // Labels are a topic's most telling words and can repeat: the topic number tells them apart.
    return h('div', { class: 'topic', role: 'listitem', 'data-testid': 'topic-row', 'data-topic': t.topic, 'data-label': t.label, 'data-kept': t.kept, 'data-quota': t.quota },
      h('span', { class: 'tlabel', title: `topic ${t.topic}: ${t.label}` }, t.label, h('small', { class: 'muted' }, ` #${t.topic}`)),
      h('div', { class: 'ttrack' }, kept, quota),
      h('span', { class: 'num small' }, `${fmtInt(t.kept)} / ${fmtInt(t.quota)}`, h('small', { class: 'muted' }, ` of ${fmtInt(t.seen)} seen`)))
  }))
}

/** Only http(s) URLs become links; anything else stays text. */
function link (url, text) {
  try {
    const u = new URL(url)
    if (u.protocol === 'http:' || u.protocol === 'https:') return h('a', { href: u.href, rel: 'noopener noreferrer nofollow', target: '_blank' }, text)
  } catch { /* not a URL */ }
  return text
}

/** Ids of instructions shown whole (clicked); the others are clamped to three lines. */
export const openInstructions = new Set()
let latestKey = ''

export function renderLatest (tbody, latest) {
  // Unchanged rows are not rebuilt: a selection or an expanded text survives the refresh.
  const key = latest.map((r) => r.id).join('\n') + '|' + [...openInstructions].join('\n')
  if (key === latestKey && tbody.childElementCount) return
  latestKey = key
  if (latest.length === 0) {
    tbody.replaceChildren(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'no scored instruction yet')))
    return
  }
  tbody.replaceChildren(...latest.map((r) => h('tr', { 'data-testid': 'latest-row', 'data-id': r.id },
    h('td', { class: 'num' }, h('span', { class: `score s${r.total}`, 'data-testid': 'latest-score', 'data-value': r.total }, `${r.total}/7`)),
    h('td', { class: 'instr' },
      h('div', { class: `text${openInstructions.has(r.id) ? ' open' : ''}`, 'data-testid': 'latest-instruction', title: 'click to show it all or clamp it' }, r.instruction),
      h('div', { class: 'muted small mono' }, r.id, ' · ', new Date(r.at).toLocaleTimeString())),
    h('td', { class: 'small' },
      h('div', { class: 'mono', 'data-testid': 'latest-document' }, r.documentId),
      r.documentUrl ? h('div', { class: 'url' }, link(r.documentUrl, r.documentUrl)) : null),
    h('td', { class: 'small lineage' },
      r.simulated ? h('span', { class: 'badge sim', 'data-testid': 'simulated-badge' }, 'SIMULATED') : null,
      h('span', { class: 'muted', title: r.demonstrationIds.join(', ') }, ` ${r.demonstrationIds.length} demonstration${r.demonstrationIds.length === 1 ? '' : 's'}`),
      h('ol', { class: 'steps' }, r.steps.map((s) => h('li', {}, s)))),
  )))
}

export function renderHealth (el, health) {
  el.replaceChildren(...health.checks.map((c) => h('span', { class: `chip ${c.ok ? 'ok' : 'bad'}`, 'data-testid': `health-${c.name}`, 'data-ok': c.ok, title: c.message },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), c.name, h('span', { class: 'sr' }, c.ok ? ' ok: ' : ' FAILING: '), h('small', { class: 'chipmsg' }, c.message))))
  if (health.checks.length === 0) el.replaceChildren(h('span', { class: 'muted' }, 'no health checks reported'))
}

export function renderProcesses (el, processes) {
  const title = h('h3', {}, `Processes found: ${processes.length}`)
  if (processes.length === 0) {
    el.replaceChildren(title, h('p', { class: 'muted small' }, 'No running synthq process reports live metrics: throughput, in-flight records, retries and LLM latency need one (figures read from the database are still shown).'))
    return
  }
  el.replaceChildren(title, h('ul', {}, processes.map((p) => h('li', { 'data-testid': 'process', 'data-up': p.up },
    h('span', { class: `chip ${p.up ? 'ok' : 'bad'}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), p.up ? 'up' : 'down'),
    ` ${p.topology ?? 'unknown topology'} · ${p.runner ?? '?'} · pid ${p.pid ?? '?'} · `,
    h('span', { class: 'mono small' }, p.metricsUrl),
    p.error ? h('span', { class: 'bad small' }, ` ${p.error}`) : null))))
}
