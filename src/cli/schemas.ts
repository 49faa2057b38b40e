/**
 * `synthq schemas register` (every topic's value schema, with the ids the registry gives) and
 * `synthq schemas check` (the local schemas against the registry's latest versions; exit 1 when
 * one is incompatible).
 */

async function openSerde (prefix: string): Promise<{ registry: import('../serde/registry-client.ts').RegistryClient, catalog: import('../serde/schema-catalog.ts').SchemaCatalog, serde: import('../serde/avro-serde.ts').AvroSerde }> {
  const { registryConnectionFromEnv } = await import('../config/connection.ts')
  const { localInfraAddresses } = await import('../config/local-infra.ts')
  const { RegistryClient } = await import('../serde/registry-client.ts')
  const { SchemaCatalog } = await import('../serde/schema-catalog.ts')
  const { AvroSerde } = await import('../serde/avro-serde.ts')
  const registry = new RegistryClient(registryConnectionFromEnv(process.env, localInfraAddresses()))
  const catalog = SchemaCatalog.load()
  return { registry, catalog, serde: new AvroSerde(registry, catalog, { prefix }) }
}

export async function registerSchemas (prefix: string): Promise<number> {
  const { serde } = await openSerde(prefix)
  for (const [subject, id] of await serde.registerAll()) process.stdout.write(`${subject}  id ${id}\n`)
  return 0
}

export async function checkSchemas (prefix: string): Promise<number> {
  const { registry, catalog } = await openSerde(prefix)
  const { topicPlan } = await import('../runtime/kafka/topic-admin.ts')
  const { valueSubject } = await import('../topics.ts')
  let bad = 0
  for (const plan of topicPlan({ prefix })) {
    const subject = valueSubject(plan.topic)
    const verdict = await registry.isCompatible(subject, catalog.get(plan.spec.recordName).schema)
    if (!verdict.compatible) bad++
    process.stdout.write(`${subject}  ${verdict.compatible ? 'compatible' : 'INCOMPATIBLE'}${verdict.messages.length ? `  ${verdict.messages.join('; ')}` : ''}\n`)
  }
  return bad ? 1 : 0
}
