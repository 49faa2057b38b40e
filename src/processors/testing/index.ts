/**
 * Test utilities for processors, shipped so that users can unit-test their own processors as
 * Kafka Streams users do with its test-utils: a mock context and a scripted LLM (docs/testing.md).
 */
export { MockProcessorContext, type CapturedOutput, type CapturedRejection, type MockProcessorContextOptions } from './mock-processor-context.ts'
export { ScriptedLlm, SCRIPTED_ENDPOINT, SCRIPTED_MODEL, type AnswerOptions, type ScriptedCall, type ScriptedLlmOptions, type ScriptedRequest } from './scripted-llm.ts'
