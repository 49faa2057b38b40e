// The dashboard page: loads the recent history (so curves show at once), then follows the
// server's event stream, one snapshot per refresh period. All figures come from the snapshots
// that /api/status, /api/history and /api/events serve (see docs/dashboard.md).
/* global document, fetch, EventSource */
import { TimeChart, colorOf } from './charts.js'
import { fmtCompact, fmtInt, fmtMs, fmtPct, fmtRate, fmtUsd, fmtUsdTick, openInstructions, renderHealth, renderHistogram, renderLatest, renderProcesses, renderStages, renderTopics, setText } from './render.js'

const $ = (id) => document.querySelector(`[data-testid="${id}"]`)

const state = {
  history: [], // snapshots, oldest first (server-side window, ~15 min)
  historyMs: 15 * 60_000,
  latest: null, // the newest full snapshot (with its latest instructions)
}

const charts = {
  throughput: new TimeChart($('throughput-chart'), { fmt: fmtRate, legend: false }),
  lag: new TimeChart($('lag-chart'), { fmt: fmtCompact, legend: false }),
  latency: new TimeChart($('latency-chart'), { fmt: fmtMs, legend: false }),
  tokens: new TimeChart($('tokens-chart'), { fmt: fmtCompact, fmt2: fmtUsdTick }),
  acceptance: new TimeChart($('acceptance-chart'), { fmt: (v) => `${Math.round(v)} %` }),
}

/** One colour per stage, stable while the page lives (the order stages first appear in). */
const stageColors = new Map()
function colorsFor (stages) {
  for (const s of stages) if (!stageColors.has(s.stage)) stageColors.set(s.stage, colorOf(stageColors.size))
  return stageColors
}

function addSnapshot (snap) {
  state.latest = snap
  const h = state.history
  if (h.length && h[h.length - 1].at >= snap.at) h.pop() // the same snapshot again (reconnect)
  h.push(snap)
  while (h.length && h[0].at < snap.at - state.historyMs) h.shift()
  render()
}

/** Every chart from the history; every table from the newest snapshot. */
function render () {
  const snap = state.latest
  if (!snap) return
  const hist = state.history
  const xs = hist.map((s) => s.at / 1000)
  const colors = colorsFor(snap.stages)
  const stageNames = snap.stages.map((s) => s.stage)
  const perStage = (name, pick) => hist.map((s) => {
    const st = s.stages.find((x) => x.stage === name)
    return st ? pick(st) : null
  })
  const noLive = 'no running synthq process reports this (it comes from their metrics endpoints)'
  charts.throughput.update(xs, stageNames.map((n) => ({ label: n, color: colors.get(n), values: perStage(n, (st) => st.throughputPerSec) })), noLive)
  charts.lag.update(xs, stageNames.map((n) => ({ label: n, color: colors.get(n), values: perStage(n, (st) => st.lag) })))
  const llmStages = snap.stages.filter((s) => s.llm).map((s) => s.stage)
  charts.latency.update(xs, llmStages.flatMap((n) => [
    { label: `${n} p50`, color: colors.get(n), values: perStage(n, (st) => st.llm?.latencyP50Ms ?? null) },
    { label: `${n} p95`, color: colors.get(n), dash: [5, 4], values: perStage(n, (st) => st.llm?.latencyP95Ms ?? null) },
  ]), noLive)
  charts.tokens.update(xs, [
    { label: 'prompt tokens', color: colorOf(0), values: hist.map((s) => s.llm.promptTokens) },
    { label: 'completion tokens', color: colorOf(1), values: hist.map((s) => s.llm.completionTokens) },
    { label: 'cost', color: colorOf(4), dash: [6, 3], scale: 'right', values: hist.map((s) => s.llm.costUsd) },
  ])
  charts.acceptance.update(xs, [{ label: 'accepted', color: colorOf(4), values: hist.map((s) => (s.filter?.acceptanceRate == null ? null : 100 * s.filter.acceptanceRate)) }], 'no scored instruction has reached the sink yet')

  renderSummary(snap)
  renderStages($('stage-table').tBodies[0], snap.stages, colors)
  renderHistogram($('score-histogram'), snap.filter?.scoreHistogram)
  renderTopics($('topic-balance'), $('sample-figures'), snap.sample)
  renderLatest($('latest-table').tBodies[0], snap.latest)
  renderHealth($('health-checks'), snap.health)
  renderProcesses($('processes'), snap.processes)
}

function renderSummary (snap) {
  setText('runner', snap.runner)
  setText('source', snap.source)
  setText('prefix', snap.prefix)
  const at = new Date(snap.at)
  setText('last-update', at.toLocaleTimeString(), snap.at)
  $('last-update').title = at.toISOString()
  const health = $('health-summary')
  health.textContent = snap.health.healthy ? 'healthy' : 'UNHEALTHY'
  health.className = `value ${snap.health.healthy ? 'good' : 'bad'}`
  const f = snap.filter
  setText('scored', fmtInt(f?.scored ?? null), f?.scored)
  setText('acceptance', fmtPct(f?.acceptanceRate ?? null), f?.acceptanceRate)
  setText('acceptance-hint', f ? `${fmtInt(f.accepted)} reached min score ${f.minScore}` : '')
  setText('sample-size', snap.sample ? `${fmtInt(snap.sample.size)} / ${fmtInt(snap.sample.k)}` : '—', snap.sample?.size)
  setText('sample-hint', snap.sample ? `${snap.sample.topics.length} topics` : '')
  const tok = snap.llm.promptTokens + snap.llm.completionTokens
  setText('tokens', fmtCompact(tok), tok)
  setText('tokens-hint', `${fmtInt(snap.llm.requests)} requests · cache hits ${fmtPct(snap.llm.cacheHitRate)}`)
  setText('cost', fmtUsd(snap.llm.costUsd), snap.llm.costUsd)
  setText('cost-hint', `${fmtCompact(snap.llm.promptTokens)} in / ${fmtCompact(snap.llm.completionTokens)} out`)
}

/** The red banner: a failing collect, or the server out of reach. The last figures stay. */
function showError (message) {
  const b = $('error-banner')
  if (message) {
    b.textContent = message
    b.hidden = false
  } else {
    b.hidden = true
    b.textContent = ''
  }
}

function setConnection (s, text) {
  const c = $('connection')
  c.dataset.state = s
  c.textContent = text
}

// A click on a long instruction shows it whole (and again clamps it).
document.addEventListener('click', (e) => {
  const text = e.target.closest?.('[data-testid="latest-instruction"]')
  if (!text) return
  const id = text.closest('tr').dataset.id
  if (!openInstructions.delete(id)) openInstructions.add(id)
  text.classList.toggle('open', openInstructions.has(id))
})

async function start () {
  try {
    const res = await fetch('/api/history', { cache: 'no-store' })
    const body = await res.json()
    state.historyMs = body.historyMs
    state.history = body.snapshots.slice(0, -1)
    if (body.snapshots.length) addSnapshot(body.snapshots[body.snapshots.length - 1]) // its latest list comes with the first event
    if (body.error) showError(`Collecting the status failed: ${body.error.message}`)
  } catch (err) {
    showError(`Could not load the history: ${err.message}`)
  }
  const events = new EventSource('/api/events')
  events.addEventListener('open', () => {
    setConnection('live', 'live')
    showError(null) // a collect error, if any, is sent again right after
  })
  events.addEventListener('snapshot', (e) => {
    setConnection('live', 'live')
    showError(null)
    addSnapshot(JSON.parse(e.data))
  })
  events.addEventListener('collect-error', (e) => {
    const err = JSON.parse(e.data)
    showError(`Collecting the status failed at ${new Date(err.at).toLocaleTimeString()}: ${err.message} — showing the last figures collected.`)
  })
  events.addEventListener('error', () => {
    // EventSource reconnects by itself; say so meanwhile.
    setConnection('down', 'reconnecting…')
    showError('Lost the connection to the dashboard server; reconnecting…')
  })
}

start()
