/**
 * Eigenvalues of a real symmetric matrix, for the Vendi score: Householder reduction to
 * tridiagonal form, then the implicit QL algorithm with Wilkinson-type shifts on the tridiagonal
 * matrix (the classic pair of Bowdler, Martin, Reinsch & Wilkinson, Handbook for Automatic
 * Computation vol. II, 1971, as in EISPACK's tred1/tql1; see also Golub & Van Loan, "Matrix
 * Computations", §8.3). Eigenvalues only, so no transformation is accumulated.
 *
 * Cost: (4/3)m³ flops for the reduction, O(m²) for QL — about 0.1 s for m = 384 and 1–2 s for
 * m = 1,000 in JavaScript. Cyclic Jacobi is simpler but needs several O(m³) sweeps; it serves as
 * the independent reference in test/sink/diversity. The sink runs it in a worker thread
 * (vendi-thread.ts), never on its event loop.
 *
 * Why not a package: `npm run bench:vendi` measures ml-matrix 6.15.1's EigenvalueDecomposition
 * (JAMA's tred2/tql2, the maintained JavaScript choice) against this solver on the same matrices.
 * It is as accurate (Vendi scores within 4e-14 relative, eigenvalues within 1e-13 of the largest)
 * but 3.3–5.9× slower (1,000×1,000 kernel: 10.5 s against 1.8 s), because it always accumulates
 * the eigenvectors, which the Vendi score does not need, and has no eigenvalues-only mode. The
 * rule was "as accurate and within ~1.5× the time", so this solver stays (figures of one run on
 * the 2-core development machine; docs/sink.md has the table).
 */

/**
 * The eigenvalues of the m×m symmetric matrix `a` (row-major; only read, copied), ascending.
 * Throws if QL fails to converge (it does not for finite input).
 */
export function symmetricEigenvalues (a: Float64Array, m: number): Float64Array {
  if (a.length !== m * m) throw new RangeError(`symmetricEigenvalues: ${a.length} entries for a ${m}×${m} matrix`)
  if (m === 0) return new Float64Array(0)
  const A = Float64Array.from(a)
  const d = new Float64Array(m)
  const e = new Float64Array(m)
  tridiagonalise(A, m, d, e)
  tridiagonalQL(d, e)
  return d.sort()
}

/**
 * Householder: for k = 0 … m−3, reflect rows/columns k+1 … m−1 so column k has zeros below its
 * subdiagonal. d gets the diagonal, e[k] the subdiagonal entry (k+1, k); e[m−1] = 0.
 */
function tridiagonalise (A: Float64Array, m: number, d: Float64Array, e: Float64Array): void {
  const v = new Float64Array(m)
  const p = new Float64Array(m)
  for (let k = 0; k < m - 2; k++) {
    let s = 0
    for (let i = k + 1; i < m; i++) s += A[i * m + k]! * A[i * m + k]!
    const x0 = A[(k + 1) * m + k]!
    let alpha = Math.sqrt(s)
    if (alpha === 0) { e[k] = 0; continue }
    if (x0 > 0) alpha = -alpha
    // v = x − alpha·e1, P = I − beta·v·vᵀ maps x to alpha·e1.
    let vv = 0
    for (let i = k + 1; i < m; i++) {
      v[i] = A[i * m + k]! - (i === k + 1 ? alpha : 0)
      vv += v[i]! * v[i]!
    }
    e[k] = alpha
    if (vv === 0) continue
    const beta = 2 / vv
    // B ← P B P for the trailing block B = A[k+1:, k+1:]: p = beta·B·v, w = p − (beta·pᵀv/2)·v,
    // B ← B − v·wᵀ − w·vᵀ.
    let pv = 0
    for (let i = k + 1; i < m; i++) {
      let acc = 0
      const row = i * m
      for (let j = k + 1; j < m; j++) acc += A[row + j]! * v[j]!
      p[i] = beta * acc
      pv += p[i]! * v[i]!
    }
    const kk = (beta * pv) / 2
    for (let i = k + 1; i < m; i++) p[i] = p[i]! - kk * v[i]!
    for (let i = k + 1; i < m; i++) {
      const row = i * m
      const vi = v[i]!
      const wi = p[i]!
      for (let j = k + 1; j < m; j++) A[row + j] = A[row + j]! - vi * p[j]! - wi * v[j]!
    }
  }
  for (let i = 0; i < m; i++) d[i] = A[i * m + i]!
  if (m >= 2) e[m - 2] = A[(m - 1) * m + (m - 2)]!
  e[m - 1] = 0
}

/**
 * Implicit QL on the symmetric tridiagonal matrix (diagonal d, subdiagonal e[0 … m−2]); d is
 * overwritten with the eigenvalues (unordered), e destroyed.
 */
function tridiagonalQL (d: Float64Array, e: Float64Array): void {
  const m = d.length
  const EPS = Number.EPSILON
  // Negligible is judged against the largest |d|+|e| seen so far (EISPACK tql1's tst1), not only
  // the two neighbouring diagonal entries: a rank-deficient kernel has runs of zero eigenvalues,
  // where that local test can never pass.
  let scale = 0
  for (let l = 0; l < m; l++) {
    scale = Math.max(scale, Math.abs(d[l]!) + Math.abs(e[l]!))
    let iter = 0
    for (;;) {
      // Deflate: the first negligible subdiagonal entry at or after l ends the active block.
      let k = l
      for (; k < m - 1; k++) {
        const dd = Math.max(Math.abs(d[k]!) + Math.abs(d[k + 1]!), scale)
        if (Math.abs(e[k]!) <= EPS * dd) break
      }
      if (k === l) break
      if (++iter > 60) throw new Error('symmetricEigenvalues: QL did not converge')
      // Shift: the eigenvalue of the leading 2×2 block closer to d[l].
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!)
      let r = Math.hypot(g, 1)
      g = d[k]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r))
      let s = 1
      let c = 1
      let p = 0
      let underflow = false
      for (let i = k - 1; i >= l; i--) {
        const f = s * e[i]!
        const b = c * e[i]!
        r = Math.hypot(f, g)
        e[i + 1] = r
        if (r === 0) {
          // Exact split: subtract the accumulated shift and restart on the smaller block.
          d[i + 1] = d[i + 1]! - p
          e[k] = 0
          underflow = true
          break
        }
        s = f / r
        c = g / r
        g = d[i + 1]! - p
        r = (d[i]! - g) * s + 2 * c * b
        p = s * r
        d[i + 1] = g + p
        g = c * r - b
      }
      if (underflow) continue
      d[l] = d[l]! - p
      e[l] = g
      e[k] = 0
    }
  }
}
