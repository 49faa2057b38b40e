// Lint: ESLint's recommended rules plus typescript-eslint's, on every TypeScript file, and the
// layering rule that keeps KafkaJS behind the runtime's transport seam.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const KAFKAJS_ONLY_IN_RUNTIME = 'KafkaJS is imported in src/runtime/kafka/ only: use the transport seam (src/runtime/transport.ts, open-transport.ts) or add to its Kafka implementation'

export default tseslint.config(
  { ignores: ['node_modules/', '.synthq/', 'dist/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', crypto: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  // The transport seam (src/runtime/transport.ts): KafkaJS is known only to its Kafka
  // implementation, so moving to another client touches one folder.
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'kafkajs', message: KAFKAJS_ONLY_IN_RUNTIME }, { name: 'kafkajs-snappy', message: KAFKAJS_ONLY_IN_RUNTIME }],
        patterns: [{ group: ['kafkajs/*'], message: KAFKAJS_ONLY_IN_RUNTIME }],
      }],
    },
  },
  { files: ['src/runtime/kafka/**/*.ts'], rules: { 'no-restricted-imports': 'off' } },
)
