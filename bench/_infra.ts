/** Where benchmarks find Kafka and the registry: the environment, else `npm run infra:up`'s. */
import { localInfraAddresses } from '../src/config/local-infra.ts'

export function benchInfra (): { brokers: string[], registryUrl: string } {
  const local = localInfraAddresses()
  const brokers = (process.env.SYNTHQ_KAFKA_BROKERS || local.brokers)?.split(',')
  const registryUrl = process.env.SYNTHQ_REGISTRY_URL || local.url
  if (!brokers || !registryUrl) {
    process.stderr.write('bench: no Kafka: run `npm run infra:up` first (or set SYNTHQ_KAFKA_BROKERS and SYNTHQ_REGISTRY_URL)\n')
    process.exit(2)
  }
  return { brokers, registryUrl }
}
