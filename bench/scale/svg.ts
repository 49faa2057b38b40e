/**
 * The scaling chart of `npm run bench:scale -- --write-docs` (docs/images/scaling.svg): worker
 * processes against documents/s, the measured medians joined by a line, every round's figure as
 * a dot, and the ideal (linear from the 1-process median) dashed. Hand-made SVG, no dependency.
 */

export interface ChartPoint { processes: number, median: number, rounds: number[] }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function niceStep (max: number): number {
  const raw = max / 5
  const p = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p
  return 10 * p
}

export function scalingSvg (points: ChartPoint[], o: { title: string, subtitle: string, extra?: { label: string, processes: number, value: number } }): string {
  const W = 640
  const H = 400
  const m = { left: 64, right: 24, top: 58, bottom: 56 }
  const pw = W - m.left - m.right
  const ph = H - m.top - m.bottom
  const maxP = Math.max(...points.map((p) => p.processes))
  const base = points.find((p) => p.processes === 1)?.median ?? points[0]!.median / points[0]!.processes
  const top = Math.max(base * maxP, ...points.flatMap((p) => [p.median, ...p.rounds]), o.extra?.value ?? 0) * 1.08
  const step = niceStep(top)
  const yMax = Math.ceil(top / step) * step
  const x = (p: number): number => m.left + (p / maxP) * pw
  const y = (v: number): number => m.top + ph - (v / yMax) * ph
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`)
  parts.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${esc(o.subtitle)}</text>`)
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${m.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#333">${Number(v.toFixed(2))}</text>`)
  }
  for (let p = 0; p <= maxP; p++) {
    parts.push(`<line x1="${x(p).toFixed(1)}" x2="${x(p).toFixed(1)}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#333"/>`)
    parts.push(`<text x="${x(p).toFixed(1)}" y="${m.top + ph + 19}" text-anchor="middle" fill="#333">${p}</text>`)
  }
  parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#333"/>`)
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#333"/>`)
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 14}" text-anchor="middle">worker processes (each: 4 synthesis stages, same concurrency)</text>`)
  parts.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">documents/s out of the scored topic</text>`)
  // Ideal: linear from the 1-process median.
  parts.push(`<line x1="${x(0)}" y1="${y(0)}" x2="${x(maxP).toFixed(1)}" y2="${y(base * maxP).toFixed(1)}" stroke="#999" stroke-width="1.5" stroke-dasharray="6 4"/>`)
  const sorted = [...points].sort((a, b) => a.processes - b.processes)
  parts.push(`<polyline fill="none" stroke="#1f6feb" stroke-width="2.5" points="${sorted.map((p) => `${x(p.processes).toFixed(1)},${y(p.median).toFixed(1)}`).join(' ')}"/>`)
  for (const p of sorted) {
    for (const r of p.rounds) parts.push(`<circle cx="${x(p.processes).toFixed(1)}" cy="${y(r).toFixed(1)}" r="3" fill="none" stroke="#1f6feb" stroke-opacity="0.6"/>`)
    parts.push(`<circle cx="${x(p.processes).toFixed(1)}" cy="${y(p.median).toFixed(1)}" r="5" fill="#1f6feb"/>`)
    // The last point's label goes to its left, inside the plot.
    const last = p.processes === maxP
    parts.push(`<text x="${(x(p.processes) + (last ? -10 : 8)).toFixed(1)}" y="${(y(p.median) + (last ? -12 : 16)).toFixed(1)}" text-anchor="${last ? 'end' : 'start'}" fill="#1f6feb">${p.median.toFixed(2)} (${(p.median / base).toFixed(2)}×)</text>`)
  }
  if (o.extra) {
    const ex = x(o.extra.processes)
    const ey = y(o.extra.value)
    parts.push(`<path d="M ${(ex - 6).toFixed(1)} ${(ey - 6).toFixed(1)} L ${(ex + 6).toFixed(1)} ${(ey + 6).toFixed(1)} M ${(ex - 6).toFixed(1)} ${(ey + 6).toFixed(1)} L ${(ex + 6).toFixed(1)} ${(ey - 6).toFixed(1)}" stroke="#d1242f" stroke-width="2.5"/>`)
    parts.push(`<text x="${(ex - 10).toFixed(1)}" y="${(ey + 4).toFixed(1)}" text-anchor="end" fill="#d1242f">${esc(o.extra.label)}</text>`)
  }
  // Legend.
  const lx = m.left + 14
  const ly = m.top + 10
  parts.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="#1f6feb" stroke-width="2.5"/><circle cx="${lx + 13}" cy="${ly}" r="4" fill="#1f6feb"/>`)
  parts.push(`<text x="${lx + 34}" y="${ly + 4}">measured (median; rings: each round)</text>`)
  parts.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly + 20}" y2="${ly + 20}" stroke="#999" stroke-width="1.5" stroke-dasharray="6 4"/>`)
  parts.push(`<text x="${lx + 34}" y="${ly + 24}">ideal: linear from 1 process</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
