/**
 * Purity and NMI, the figures topic quality is judged by: exact values on partitions worked out
 * by hand (NMI checked against scikit-learn's normalized_mutual_info_score, arithmetic mean).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { clusteringQuality } from '../../../src/sink/clusters/quality.ts'
import { seededRandom } from '../../../src/sink/clusters/vectors.ts'

describe('clusteringQuality', () => {
  it('identical partitions (up to renaming) score 1 and 1', () => {
    const q = clusteringQuality([5, 5, 7, 7, 9], ['a', 'a', 'b', 'b', 'c'])
    assert.equal(q.purity, 1)
    assert.ok(Math.abs(q.nmi - 1) < 1e-12)
    assert.equal(q.topics, 3)
    assert.equal(q.classes, 3)
  })

  it('a worked example: purity 0.7, NMI 0.44270128334605 (scikit-learn)', () => {
    const q = clusteringQuality([0, 0, 0, 1, 1, 1, 2, 2, 2, 2], ['x', 'x', 'y', 'y', 'y', 'z', 'z', 'z', 'x', 'z'])
    assert.ok(Math.abs(q.purity - 0.7) < 1e-12)
    assert.ok(Math.abs(q.nmi - 0.44270128334605) < 1e-12)
  })

  it('one topic for everything: NMI 0, purity = share of the largest class', () => {
    const q = clusteringQuality([1, 1, 1, 1], ['a', 'a', 'a', 'b'])
    assert.equal(q.nmi, 0)
    assert.equal(q.purity, 0.75)
  })

  it('independent labels give NMI near 0', () => {
    const rand = seededRandom(1)
    const n = 20_000
    const q = clusteringQuality(Array.from({ length: n }, () => Math.floor(rand() * 5)), Array.from({ length: n }, () => Math.floor(rand() * 3)))
    assert.ok(q.nmi < 0.002, `NMI ${q.nmi}`)
  })

  it('rejects arrays of different lengths', () => {
    assert.throws(() => clusteringQuality([1], []), RangeError)
  })
})
