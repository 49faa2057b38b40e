// Time-series charts drawn with uPlot (served from node_modules/uplot, never a CDN).
// A TimeChart owns one uPlot instance; it is rebuilt only when its set of series changes
// (a stage appears), otherwise each update just swaps the data.
/* global document, getComputedStyle, ResizeObserver, setTimeout */
import uPlot from './vendor/uPlot.esm.js'

// Tableau 10 plus two: distinct in light and dark themes.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#8cd17d', '#86bcb6', '#d37295']
export const colorOf = (i) => PALETTE[i % PALETTE.length]

const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()
const HEIGHT = 200

/** Axis options that follow the page's theme (read from CSS variables). */
function axis (fmt, extra = {}) {
  const grid = cssVar('--grid') || '#8884'
  return { stroke: cssVar('--muted') || '#888', grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, values: fmt ? (_u, vals) => vals.map(fmt) : undefined, ...extra }
}

export class TimeChart {
  /**
   * @param {HTMLElement} el container
   * @param {{ fmt: (v:number)=>string, fmt2?: (v:number)=>string, legend?: boolean }} opts fmt formats
   *   the left axis and legend values; fmt2 the right axis (series with scale 'right'); legend
   *   false for per-stage charts, whose legend is the stage table's colour swatches
   */
  constructor (el, opts) {
    this.el = el
    this.opts = opts
    this.plot = null
    this.key = ''
    // uPlot has a fixed size: follow the container's width.
    new ResizeObserver(() => { this.plot?.setSize({ width: this.width(), height: HEIGHT }) }).observe(el)
  }

  width () { return Math.max(200, this.el.clientWidth) }

  /**
   * @param {number[]} xs times in seconds
   * @param {{ label: string, values: (number|null)[], color: string, dash?: number[], scale?: string }[]} series
   * @param {string} emptyNote shown over the chart while every value is null
   */
  update (xs, series, emptyNote = 'no figures yet') {
    // A chart with no figure at all says why instead of drawing an empty grid silently.
    const empty = series.every((s) => s.values.every((v) => v == null))
    this.el.classList.toggle('empty', empty)
    this.el.dataset.note = empty ? emptyNote : ''
    const key = series.map((s) => `${s.label}|${s.color}|${s.scale ?? 'y'}`).join(';')
    const data = [xs, ...series.map((s) => s.values)]
    if (key !== this.key || !this.plot) {
      this.plot?.destroy()
      this.key = key
      this.plot = new uPlot(this.options(series), data, this.el)
      // When the pointer leaves, the legend goes back to the newest values.
      this.plot.over.addEventListener('mouseleave', () => setTimeout(() => this.showLatest(), 0))
    } else {
      this.plot.setData(data)
    }
    this.showLatest()
  }

  /** The legend shows the newest values unless the pointer is over the chart. */
  showLatest () {
    const u = this.plot
    if (u && u.cursor.left < 0 && u.data[0].length) u.setLegend({ idx: u.data[0].length - 1 })
  }

  options (series) {
    const { fmt, fmt2, legend = true } = this.opts
    const fromZero = (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1]
    const right = series.some((s) => s.scale === 'right')
    return {
      width: this.width(),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: { show: legend, live: true },
      scales: { x: { time: true }, y: { range: fromZero }, ...(right ? { right: { range: fromZero } } : {}) },
      axes: [
        axis(null),
        axis(fmt, { size: 64 }),
        ...(right ? [axis(fmt2, { scale: 'right', side: 1, size: 64, grid: { show: false } })] : []),
      ],
      series: [
        { value: (_u, v) => (v == null ? '—' : new Date(v * 1000).toLocaleTimeString()) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.6,
          dash: s.dash,
          scale: s.scale ?? 'y',
          spanGaps: false,
          points: { show: false },
          value: (_u, v) => (v == null ? '—' : (s.scale === 'right' ? fmt2 : fmt)(v)),
        })),
      ],
    }
  }
}
