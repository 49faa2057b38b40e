/**
 * deploy/k8s/ (a Kustomize base and an example overlay) and deploy/docker-compose.yml, checked
 * offline: no cluster, no Docker engine. The kustomizations are resolved here — resources,
 * namespace, images and JSON 6902 patches, the only features the overlay may use (any other
 * field fails the test rather than being ignored) — and, where a kustomize binary is on the
 * machine (`kustomize`, or `kubectl kustomize`), the result is compared with a real build.
 *
 * Then every object is validated against its API schema (kubernetes-models, KEDA's and
 * Prometheus Operator's CRDs; a kind with no schema fails), and the deployment is held to what
 * synthq needs: every stage of the method's topologies in exactly one Deployment (the response
 * stages too, which only a pipeline config file turns on: a Deployment running them must mount
 * one that does, and pass it with --config); no more replicas than partitions; the sink alone; a termination grace longer than the drain deadline;
 * secrets only as mounted files; probes and scraping on the metrics endpoint; the Compose file
 * split the same way. Each check is a function returning its findings, and each is also run on
 * a deliberately broken copy, which it must flag, so none can pass by checking nothing.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { isDeepStrictEqual } from 'node:util'
import { parse, parseAllDocuments } from 'yaml'
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1'
import { ConfigMap, Service, type IConfigMap, type IContainer, type IService } from 'kubernetes-models/v1'
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ScaledObject, TriggerAuthentication, type IScaledObject, type ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1'
import { ServiceMonitor, type IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { REPO_ROOT } from '../../deploy/local/lib/paths.ts'
import { DEFAULT_PARTITIONS, PIPELINE_CONFIG_FILE, PIPELINE_CONFIG_PATH, STAGE_GROUPS, pipelineConfigProblems, topologyOf, workloadName, type StageGroup, type TopologyName } from '../../deploy/stage-groups.ts'
import { COMPOSE_FILE, kedaSasl, PIPELINE_CONFIG_MAP, renderDeployFiles } from '../../scripts/gen-deploy.ts'
import { exitGraceMs } from '../../src/cli/exit.ts'
import { RUN_HELP } from '../../src/cli/help.ts'
import { prefixOf, runnerOf } from '../../src/config/defaults.ts'
import { metricsSettings } from '../../src/metrics/process-endpoint.ts'
import { DEFAULT_PIPELINE_OPTIONS, pipelineOptions, type PipelineOptions } from '../../src/topologies/options.ts'
import { topologyNames } from '../../src/topologies/registry.ts'
import { stageNames } from '../../src/topologies/topology.ts'
import { topicName } from '../../src/topics.ts'
import { testTmpDir } from '../helpers/env.ts'

const BASE = join(REPO_ROOT, 'deploy/k8s/base')
const OVERLAY = join(REPO_ROOT, 'deploy/k8s/overlays/example')

interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  [field: string]: unknown
}

// ---------------------------------------------------------------------------------------------
// Resolving a kustomization: the features the overlay uses, applied as kustomize applies them
// (patches, then the namespace, then images).

const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches'])
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'StorageClass', 'ClusterTriggerAuthentication'])

function loadYaml (file: string): K8sObject[] {
  const out: K8sObject[] = []
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length) throw new Error(`${relative(REPO_ROOT, file)}: ${doc.errors[0]!.message}`)
    const o = doc.toJS() as K8sObject | null
    if (o === null) continue
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof o.metadata?.name !== 'string') throw new Error(`${relative(REPO_ROOT, file)}: an object without apiVersion, kind or metadata.name`)
    out.push(o)
  }
  return out
}

/** A JSON Pointer (RFC 6901) as keys. */
function pointer (path: string): string[] {
  if (!path.startsWith('/')) throw new Error(`JSON pointer "${path}" must start with /`)
  return path.slice(1).split('/').map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'))
}

function child (node: unknown, key: string, path: string): unknown {
  if (Array.isArray(node)) {
    if (!/^(0|[1-9]\d*)$/.test(key) || Number(key) >= node.length) throw new Error(`${path}: no element ${key}`)
    return node[Number(key)]
  }
  if (node === null || typeof node !== 'object' || !(key in node)) throw new Error(`${path}: no member ${key}`)
  return (node as Record<string, unknown>)[key]
}

/** RFC 6902 add, remove, replace and test (the operations the overlay uses), on `doc` in place. */
function applyJsonPatch (doc: unknown, ops: unknown): void {
  if (!Array.isArray(ops)) throw new Error('a JSON 6902 patch is a list of operations (strategic-merge patches are not resolved by this test)')
  for (const raw of ops as Array<Record<string, unknown>>) {
    const op = raw.op
    const path = String(raw.path)
    const keys = pointer(path)
    const last = keys.pop()!
    let parent: unknown = doc
    for (const k of keys) parent = child(parent, k, path)
    if (op === 'test') {
      if (!isDeepStrictEqual(child(parent, last, path), raw.value)) throw new Error(`test failed at ${path}: ${JSON.stringify(child(parent, last, path))} is not ${JSON.stringify(raw.value)}`)
    } else if (op === 'replace') {
      child(parent, last, path)
      if (Array.isArray(parent)) parent[Number(last)] = structuredClone(raw.value)
      else (parent as Record<string, unknown>)[last] = structuredClone(raw.value)
    } else if (op === 'remove') {
      child(parent, last, path)
      if (Array.isArray(parent)) parent.splice(Number(last), 1)
      else delete (parent as Record<string, unknown>)[last]
    } else if (op === 'add') {
      if (Array.isArray(parent)) {
        const i = last === '-' ? parent.length : Number(last)
        if (!/^(0|[1-9]\d*|-)$/.test(last) || i > parent.length) throw new Error(`${path}: cannot add at ${last}`)
        parent.splice(i, 0, structuredClone(raw.value))
      } else if (parent !== null && typeof parent === 'object') {
        (parent as Record<string, unknown>)[last] = structuredClone(raw.value)
      } else throw new Error(`${path}: cannot add to a scalar`)
    } else {
      throw new Error(`JSON patch op "${String(op)}" is not resolved by this test`)
    }
  }
}

function groupVersion (apiVersion: string): { group: string, version: string } {
  const i = apiVersion.lastIndexOf('/')
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) }
}

function matchesTarget (o: K8sObject, target: Record<string, unknown>): boolean {
  for (const key of Object.keys(target)) if (!['group', 'version', 'kind', 'name'].includes(key)) throw new Error(`patch target field ${key} is not resolved by this test`)
  for (const v of Object.values(target)) if (/[*+?()[\]{}|^$\\]/.test(String(v))) throw new Error(`patch target "${String(v)}": kustomize reads it as a regular expression; use exact names`)
  const gv = groupVersion(o.apiVersion)
  return (target.group === undefined || target.group === gv.group) && (target.version === undefined || target.version === gv.version) &&
    (target.kind === undefined || target.kind === o.kind) && (target.name === undefined || target.name === o.metadata.name)
}

function setImage (image: string, rule: Record<string, unknown>): string {
  for (const key of Object.keys(rule)) if (!['name', 'newName', 'newTag', 'digest'].includes(key)) throw new Error(`images field ${key} is not resolved by this test`)
  const at = image.indexOf('@')
  const noDigest = at < 0 ? image : image.slice(0, at)
  const slash = noDigest.lastIndexOf('/')
  const colon = noDigest.lastIndexOf(':')
  const name = colon > slash ? noDigest.slice(0, colon) : noDigest
  const tag = colon > slash ? noDigest.slice(colon + 1) : undefined
  if (name !== rule.name) return image
  const newName = (rule.newName as string | undefined) ?? name
  if (rule.digest) return `${newName}@${String(rule.digest)}`
  const newTag = (rule.newTag as string | undefined) ?? tag
  return `${newName}${newTag ? `:${newTag}` : ''}${at < 0 || rule.newTag ? '' : image.slice(at)}`
}

/** `kustomize build dir`, for the fields above. */
function kustomize (dir: string): K8sObject[] {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Record<string, unknown>
  const where = relative(REPO_ROOT, join(dir, 'kustomization.yaml'))
  for (const key of Object.keys(k)) if (!KUSTOMIZATION_FIELDS.has(key)) throw new Error(`${where}: ${key} is not resolved by this test (only ${[...KUSTOMIZATION_FIELDS].join(', ')})`)
  if (k.apiVersion !== 'kustomize.config.k8s.io/v1beta1' || k.kind !== 'Kustomization') throw new Error(`${where}: not a kustomize.config.k8s.io/v1beta1 Kustomization`)
  const objects: K8sObject[] = []
  for (const r of (k.resources as string[] | undefined) ?? []) {
    const path = join(dir, r)
    objects.push(...(statSync(path).isDirectory() ? kustomize(path) : loadYaml(path)))
  }
  const ids = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)
  const dup = ids.find((id, i) => ids.indexOf(id) !== i)
  if (dup) throw new Error(`${where}: ${dup} is defined twice`)
  for (const p of (k.patches as Array<Record<string, unknown>> | undefined) ?? []) {
    for (const key of Object.keys(p)) if (!['target', 'patch'].includes(key)) throw new Error(`${where}: patch field ${key} is not resolved by this test`)
    const target = (p.target ?? {}) as Record<string, unknown>
    const hits = objects.filter((o) => matchesTarget(o, target))
    if (hits.length === 0) throw new Error(`${where}: the patch for ${JSON.stringify(target)} matches no object`)
    for (const o of hits) applyJsonPatch(o, parse(String(p.patch)))
  }
  if (k.namespace !== undefined) for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = String(k.namespace)
  for (const rule of (k.images as Array<Record<string, unknown>> | undefined) ?? []) {
    for (const d of objects.filter((o) => o.kind === 'Deployment') as unknown as IDeployment[]) {
      for (const c of [...d.spec!.template.spec!.containers, ...(d.spec!.template.spec!.initContainers ?? [])]) if (c.image) c.image = setImage(c.image, rule)
    }
  }
  return objects
}

/** A real kustomize build of `dir`, or why there is none on this machine. */
function realKustomize (dir: string): K8sObject[] | string {
  for (const [cmd, args] of [['kustomize', ['build', dir]], ['kubectl', ['kustomize', dir]]] as const) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 })
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') continue
    if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`)
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean)
  }
  return 'neither kustomize nor kubectl is on this machine'
}

// ---------------------------------------------------------------------------------------------
// The checks. Each returns what it found wrong (empty: nothing).

const MODELS: Record<string, (o: K8sObject) => void> = {
  'v1/ConfigMap': (o) => new ConfigMap(o as never).validate(),
  'v1/Service': (o) => new Service(o as never).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o as never).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never).validate(),
  'keda.sh/v1alpha1/ScaledObject': (o) => new ScaledObject(o as never).validate(),
  'keda.sh/v1alpha1/TriggerAuthentication': (o) => new TriggerAuthentication(o as never).validate(),
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => new ServiceMonitor(o as never).validate(),
}

function schemaProblems (objects: K8sObject[]): string[] {
  const out: string[] = []
  for (const o of objects) {
    const validate = MODELS[`${o.apiVersion}/${o.kind}`]
    if (!validate) { out.push(`${o.kind}/${o.metadata.name}: no schema for ${o.apiVersion} ${o.kind}`); continue }
    try {
      validate(o)
    } catch (err) {
      out.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`)
    }
  }
  return out
}

const of = <T>(objects: K8sObject[], kind: string): T[] => objects.filter((o) => o.kind === kind) as unknown as T[]

/** The container's environment as Kubernetes gives it: its ConfigMaps (envFrom), then env. */
function containerEnv (objects: K8sObject[], c: IContainer, namespace: string | undefined): Record<string, string> {
  const env: Record<string, string> = {}
  for (const from of c.envFrom ?? []) {
    if (from.secretRef) { Object.assign(env, { [`<secret ${from.secretRef.name}>`]: '' }); continue }
    const cm = of<IConfigMap>(objects, 'ConfigMap').find((m) => m.metadata?.name === from.configMapRef?.name && m.metadata?.namespace === namespace)
    if (!cm) throw new Error(`container ${c.name}: ConfigMap ${from.configMapRef?.name} is not in the manifests`)
    Object.assign(env, cm.data)
  }
  for (const e of c.env ?? []) env[e.name] = e.value !== undefined ? expand(e.value, env) : e.valueFrom?.fieldRef ? `<${e.valueFrom.fieldRef.fieldPath}>` : '<secret>'
  return env
}

/** Kubernetes' $(VAR) expansion in command, args and env values. */
function expand (s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => name === undefined ? '$' : env[name] ?? m)
}

/** The options of `synthq run` that take a value, from its help. */
const RUN_FLAGS = new Map([...RUN_HELP.matchAll(/^ {2}--([a-z-]+)( [A-Z]+)?\s/gm)].map((m) => [m[1]!, Boolean(m[2])]))

interface Workload {
  name: string
  topology: string
  stages: string[]
  flags: Map<string, string[]>
  env: Record<string, string>
  /** The pipeline settings it runs with: its config file's (--config or SYNTHQ_CONFIG), else the defaults. */
  options: PipelineOptions
}

/** The settings with every optional stage on: the method's topologies as a deployment must cover them. */
const ALL_STAGES_ON: PipelineOptions = { ...DEFAULT_PIPELINE_OPTIONS, responses: { ...DEFAULT_PIPELINE_OPTIONS.responses, enabled: true, preferences: true } }

let configFiles = 0
let configDir: string | undefined
/** The pipeline settings of a config file's text, read as `synthq run --config` reads the file. */
function optionsOfText (text: string): PipelineOptions {
  configDir ??= testTmpDir('deploy-pipeline-config')
  const file = join(configDir, `synthq-${++configFiles}.yaml`)
  writeFileSync(file, text)
  return pipelineOptions(file)
}

/**
 * What a `synthq run` command line runs; throws on what the CLI would refuse. `configText` reads
 * the file a path in the container names (from its mounts), or throws when nothing is mounted there.
 */
function parseRun (name: string, argv: string[], env: Record<string, string>, configText: (path: string) => string = (path) => { throw new Error(`${name}: --config ${path}: no file is mounted there`) }): Workload {
  if (argv[0] !== 'run' || !argv[1]) throw new Error(`${name}: not a \`synthq run <topology>\` command: ${argv.join(' ')}`)
  const flags = new Map<string, string[]>()
  for (let i = 2; i < argv.length; i++) {
    const flag = /^--([a-z-]+)$/.exec(argv[i]!)?.[1]
    if (!flag || !RUN_FLAGS.has(flag)) throw new Error(`${name}: "${argv[i]}" is not an option of synthq run`)
    const value = RUN_FLAGS.get(flag) ? argv[++i] : ''
    if (value === undefined || /^\$\(/.test(value)) throw new Error(`${name}: --${flag} has no value (${value ?? 'missing'})`)
    flags.set(flag, [...(flags.get(flag) ?? []), value])
  }
  const topology = argv[1]
  const config = flags.get('config')?.at(-1) ?? env.SYNTHQ_CONFIG
  let options = DEFAULT_PIPELINE_OPTIONS
  if (config) {
    try {
      options = optionsOfText(configText(config))
    } catch (err) {
      throw new Error(`${name}: --config ${config}: ${(err as Error).message}`, { cause: err })
    }
  }
  const all = topologyNames().includes(topology) ? stageNames(topologyOf(topology as TopologyName, options)) : []
  return { name, topology, stages: flags.get('stage') ?? all, flags, env, options }
}

/** The text of the file at `path` in a pod: from the ConfigMap volume mounted over it. */
function podFile (objects: K8sObject[], d: IDeployment, c: IContainer, path: string): string {
  const mount = (c.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
  const volume = d.spec!.template.spec!.volumes?.find((v) => v.name === mount?.name)
  if (!mount || !volume?.configMap) throw new Error(`no ConfigMap volume is mounted over ${path}`)
  const inside = path.slice(mount.mountPath.replace(/\/$/, '').length + 1)
  const key = volume.configMap.items ? volume.configMap.items.find((i) => i.path === inside)?.key : inside
  const cm = of<IConfigMap>(objects, 'ConfigMap').find((m) => m.metadata?.name === volume.configMap!.name && m.metadata?.namespace === d.metadata?.namespace)
  if (!cm) throw new Error(`ConfigMap ${volume.configMap.name} (mounted over ${path}) is not in the manifests`)
  const text = key === undefined ? undefined : cm.data?.[key]
  if (text === undefined) throw new Error(`ConfigMap ${volume.configMap.name} projects nothing at ${inside}`)
  return text
}

/** The topology a workload's process builds. */
const topologyOfWorkload = (w: Pick<Workload, 'topology' | 'options'>): ReturnType<typeof topologyOf> => topologyOf(w.topology as TopologyName, w.options)

interface PodWorkload extends Workload { deployment: IDeployment, container: IContainer }

function workloads (objects: K8sObject[]): PodWorkload[] {
  return of<IDeployment>(objects, 'Deployment').map((d) => {
    const container = d.spec!.template.spec!.containers[0]!
    const env = containerEnv(objects, container, d.metadata?.namespace)
    if (container.command) throw new Error(`${d.metadata!.name}: the image's entrypoint is synthq's; use args, not command`)
    return { ...parseRun(d.metadata!.name!, (container.args ?? []).map((a) => expand(a, env)), env, (path) => podFile(objects, d, container, path)), deployment: d, container }
  })
}

/**
 * The method's topologies (demo is a template), with every optional stage on: every stage in
 * exactly one workload, and each workload's stages in the topology its own settings build.
 */
function stageProblems (ws: Array<Pick<Workload, 'name' | 'topology' | 'stages' | 'options'>>): string[] {
  const out: string[] = []
  for (const t of topologyNames().filter((n) => n !== 'demo')) {
    for (const stage of stageNames(topologyOf(t as TopologyName, ALL_STAGES_ON))) {
      const runners = ws.filter((w) => w.topology === t && w.stages.includes(stage)).map((w) => w.name)
      if (runners.length !== 1) out.push(`${t} stage ${stage} runs in ${runners.length} workloads${runners.length ? ` (${runners.join(', ')})` : ''}, not exactly one`)
    }
  }
  for (const w of ws) {
    if (!topologyNames().includes(w.topology) || w.topology === 'demo') { out.push(`${w.name}: topology ${w.topology} is not one of the method's`); continue }
    const own = stageNames(topologyOfWorkload(w))
    for (const s of w.stages) {
      if (own.includes(s)) continue
      out.push(stageNames(topologyOf(w.topology as TopologyName, ALL_STAGES_ON)).includes(s)
        ? `${w.name}: topology ${w.topology} has no stage ${s} with the pipeline settings it runs with (${w.options === DEFAULT_PIPELINE_OPTIONS ? 'the defaults: no --config' : 'its --config file'}): synthq run would refuse --stage ${s}`
        : `${w.name}: topology ${w.topology} has no stage ${s}`)
    }
  }
  return out
}

/** A stage group as the workload its processes are: with deploy/pipeline.yaml's settings when it runs with the config file. */
function groupWorkload (g: StageGroup): Pick<Workload, 'name' | 'topology' | 'stages' | 'options'> {
  return { name: g.name, topology: g.topology, stages: [...g.stages], options: g.pipelineConfig ? pipelineOptions(PIPELINE_CONFIG_FILE) : DEFAULT_PIPELINE_OPTIONS }
}

const statefulStages = (topology: string): string[] => topologyOf(topology as TopologyName).statefulStages.map((s) => s.name)
const partitionsOf = (w: Workload): number => Number(w.flags.get('partitions')?.[0] ?? DEFAULT_PARTITIONS)

function replicaProblems (objects: K8sObject[]): string[] {
  const out: string[] = []
  const ws = workloads(objects)
  const scaled = of<IScaledObject>(objects, 'ScaledObject')
  for (const w of ws) {
    const p = partitionsOf(w)
    if (!(Number.isInteger(p) && p >= 1)) out.push(`${w.name}: --partitions ${p} is not a partition count`)
    const replicas = w.deployment.spec!.replicas
    if (replicas !== undefined && replicas > p) out.push(`${w.name}: ${replicas} replicas for input topics of ${p} partitions`)
    const scalers = scaled.filter((s) => s.spec.scaleTargetRef.name === w.name && (s.spec.scaleTargetRef.kind ?? 'Deployment') === 'Deployment' && s.metadata?.namespace === w.deployment.metadata?.namespace)
    const stateful = w.stages.filter((s) => statefulStages(w.topology).includes(s))
    if (stateful.length) {
      if (w.stages.length !== 1) out.push(`${w.name}: the stateful stage ${stateful.join(', ')} shares its process with ${w.stages.filter((s) => !stateful.includes(s)).join(', ')}, which then cannot scale`)
      if (replicas !== 1) out.push(`${w.name}: runs ${stateful.join(', ')} (a second instance takes its state over) with replicas ${replicas ?? 'unset'}, not 1`)
      if (w.deployment.spec!.strategy?.type !== 'Recreate') out.push(`${w.name}: runs ${stateful.join(', ')} with strategy ${w.deployment.spec!.strategy?.type ?? 'RollingUpdate (default)'}: a rolling update would run two at once`)
      if (scalers.length) out.push(`${w.name}: runs ${stateful.join(', ')} and is autoscaled by ${scalers.map((s) => s.metadata!.name).join(', ')}`)
      continue
    }
    if (scalers.length !== 1) { out.push(`${w.name}: ${scalers.length} ScaledObjects target it, not 1`); continue }
    if (replicas !== undefined) out.push(`${w.name}: sets replicas ${replicas} though KEDA scales it (each apply would reset the count)`)
    const s = scalers[0]!.spec
    if (s.maxReplicaCount === undefined || s.maxReplicaCount > p) out.push(`${w.name}: maxReplicaCount ${s.maxReplicaCount ?? 'unset (KEDA: 100)'} exceeds the ${p} partitions of its input topics`)
    if ((s.minReplicaCount ?? 0) < 1 || (s.minReplicaCount ?? 0) > (s.maxReplicaCount ?? 0)) out.push(`${w.name}: minReplicaCount ${s.minReplicaCount ?? 0} (it must be at least 1, at most the maximum)`)
    const prefix = prefixOf(w.flags.get('prefix')?.[0], w.env)
    const t = topologyOfWorkload(w)
    for (const stage of w.stages) {
      const input = t.stages.find((x) => x.name === stage)!.input
      const triggers = s.triggers.filter((tr) => tr.type === 'kafka' && tr.metadata.consumerGroup === `${prefix}.${stage}`)
      if (triggers.length !== 1) { out.push(`${w.name}: ${triggers.length} kafka triggers on consumer group ${prefix}.${stage}, not 1`); continue }
      const m = triggers[0]!.metadata
      if (m.topic !== topicName(input, prefix)) out.push(`${w.name}: the trigger of ${stage} reads topic ${m.topic}, its input is ${topicName(input, prefix)}`)
      if (m.bootstrapServers !== w.env.SYNTHQ_KAFKA_BROKERS) out.push(`${w.name}: the trigger of ${stage} asks ${m.bootstrapServers}, the pods use ${w.env.SYNTHQ_KAFKA_BROKERS}`)
      if (m.allowIdleConsumers === 'true') out.push(`${w.name}: the trigger of ${stage} allows idle consumers`)
      const sasl = w.env.SYNTHQ_KAFKA_SASL_MECHANISM
      if ((m.sasl ?? undefined) !== (sasl ? kedaSasl(sasl) : undefined)) out.push(`${w.name}: the trigger of ${stage} uses SASL ${m.sasl ?? 'none'}, the pods ${sasl ?? 'none'}`)
      if ((m.tls === 'enable') !== /^(1|true|yes|on)$/i.test(w.env.SYNTHQ_KAFKA_SSL ?? '')) out.push(`${w.name}: the trigger of ${stage} has tls ${m.tls ?? 'unset'}, the pods SYNTHQ_KAFKA_SSL=${w.env.SYNTHQ_KAFKA_SSL ?? 'unset'}`)
      const auth = triggers[0]!.authenticationRef?.name
      if (sasl && !of<ITriggerAuthentication>(objects, 'TriggerAuthentication').some((a) => a.metadata?.name === auth)) out.push(`${w.name}: the trigger of ${stage} names TriggerAuthentication ${auth ?? '(none)'}, which is not in the manifests`)
    }
    const extra = s.triggers.filter((tr) => !w.stages.some((st) => tr.metadata.consumerGroup === `${prefix}.${st}`))
    if (extra.length) out.push(`${w.name}: triggers on consumer groups it does not run: ${extra.map((tr) => tr.metadata.consumerGroup).join(', ')}`)
  }
  for (const s of scaled) if (!ws.some((w) => w.name === s.spec.scaleTargetRef.name)) out.push(`ScaledObject ${s.metadata!.name} targets ${s.spec.scaleTargetRef.name}, which is not in the manifests`)
  return out
}

/** SIGTERM → drain (--drain-timeout) → grace (SYNTHQ_EXIT_GRACE_MS) → exit: the pod's grace must outlast both. */
function graceProblems (objects: K8sObject[]): string[] {
  const out: string[] = []
  for (const w of workloads(objects)) {
    const raw = w.flags.get('drain-timeout')?.[0]
    if (raw === undefined) { out.push(`${w.name}: no explicit --drain-timeout`); continue }
    const drain = Number(raw)
    if (!Number.isInteger(drain) || drain < 1) { out.push(`${w.name}: --drain-timeout ${raw} is not a positive integer`); continue }
    const deadline = drain + exitGraceMs(w.env) / 1000
    const grace = w.deployment.spec!.template.spec!.terminationGracePeriodSeconds ?? 30
    if (!(grace > deadline)) out.push(`${w.name}: terminationGracePeriodSeconds ${grace} is not longer than the drain timeout ${drain} s + exit grace ${exitGraceMs(w.env) / 1000} s`)
  }
  return out
}

/** Variables that would hold a secret's value itself (their *_FILE forms name a file instead). */
const SECRET_VALUE = /(PASSWORD|API_KEY|SECRET|TOKEN)$/
/** The secrets the pods must read from mounted files. */
const SECRET_FILE_VARS = ['SYNTHQ_LLM_API_KEY_FILE', 'SYNTHQ_KAFKA_SASL_PASSWORD_FILE', 'SYNTHQ_REGISTRY_PASSWORD_FILE']

function secretProblems (objects: K8sObject[]): string[] {
  const out: string[] = []
  for (const o of objects) if (o.kind === 'Secret') out.push(`Secret ${o.metadata.name} is in the manifests: its values would be in git`)
  for (const cm of of<IConfigMap>(objects, 'ConfigMap')) {
    for (const key of Object.keys(cm.data ?? {})) if (SECRET_VALUE.test(key)) out.push(`ConfigMap ${cm.metadata!.name}: ${key} puts a secret's value in the environment (use ${key}_FILE)`)
  }
  for (const d of of<IDeployment>(objects, 'Deployment')) {
    const pod = d.spec!.template.spec!
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const where = `${d.metadata!.name}/${c.name}`
      for (const from of c.envFrom ?? []) if (from.secretRef) out.push(`${where}: envFrom Secret ${from.secretRef.name} puts secret values in the environment`)
      for (const e of c.env ?? []) {
        if (e.valueFrom?.secretKeyRef) out.push(`${where}: env ${e.name} comes from Secret ${e.valueFrom.secretKeyRef.name} (secretKeyRef): secrets are mounted files only`)
        if (SECRET_VALUE.test(e.name)) out.push(`${where}: env ${e.name} holds a secret's value (use ${e.name}_FILE)`)
      }
      if (c !== pod.containers[0]) continue
      const env = containerEnv(objects, c, d.metadata?.namespace)
      for (const name of SECRET_FILE_VARS) {
        const file = env[name]
        if (!file) { out.push(`${where}: ${name} is not set`); continue }
        const mount = (c.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
        const volume = pod.volumes?.find((v) => v.name === mount?.name)
        if (!mount || !volume?.secret) { out.push(`${where}: ${name}=${file} is not in a mounted Secret`); continue }
        if (!mount.readOnly) out.push(`${where}: the Secret volume ${mount.name} is mounted writable`)
        const inside = file.slice(mount.mountPath.replace(/\/$/, '').length + 1)
        if (volume.secret.items && !volume.secret.items.some((i) => i.path === inside)) out.push(`${where}: ${name}=${file}, but Secret ${volume.secret.secretName} projects no ${inside}`)
      }
    }
  }
  return out
}

/** The label names of synthq's series (src/metrics/). */
const SYNTHQ_LABELS = new Set(['runner', 'stage', 'topology', 'outcome', 'figure', 'topic', 'model', 'endpoint', 'kind', 'result', 'error', 'prefix', 'version'])
/** The labels Prometheus Operator gives every ServiceMonitor target. */
const OPERATOR_TARGET_LABELS = ['namespace', 'service', 'pod', 'container', 'endpoint', 'job', 'instance']

/** The metrics endpoint: reachable from the kubelet, probed, and scraped. */
function probeProblems (objects: K8sObject[]): string[] {
  const out: string[] = []
  const services = of<IService>(objects, 'Service')
  for (const w of workloads(objects)) {
    const c = w.container
    const m = metricsSettings({ host: w.flags.get('metrics-host')?.[0], port: w.flags.get('metrics-port')?.[0], disabled: w.flags.has('no-metrics') }, w.env)
    if (!m.enabled) { out.push(`${w.name}: the metrics endpoint is off, and with it the probes`); continue }
    if (m.host !== '0.0.0.0' && m.host !== '::') out.push(`${w.name}: the metrics endpoint listens on ${m.host}, out of the kubelet's and Prometheus's reach`)
    const port = (c.ports ?? []).find((p) => p.name === 'metrics')
    if (!port || port.containerPort !== m.port) out.push(`${w.name}: the container port "metrics" is ${port?.containerPort ?? 'missing'}, the endpoint listens on ${m.port}`)
    for (const [kind, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz'], ['startupProbe', '/healthz']] as const) {
      const probe = c[kind]
      if (probe?.httpGet?.path !== path || probe.httpGet.port !== 'metrics') out.push(`${w.name}: ${kind} is ${probe?.httpGet ? `GET ${probe.httpGet.path} on ${probe.httpGet.port}` : 'missing'}, not GET ${path} on the metrics port`)
    }
    // A start waits up to 5 minutes for Kafka and the registry (docs/architecture.md, "Starting
    // during an outage"): the startup probe must not restart it sooner.
    const s = c.startupProbe
    if (s && (s.periodSeconds ?? 10) * (s.failureThreshold ?? 3) < 300) out.push(`${w.name}: the startup probe gives up after ${(s.periodSeconds ?? 10) * (s.failureThreshold ?? 3)} s, before a start that waits out a 5-minute outage`)
    const a = w.deployment.spec!.template.metadata?.annotations ?? {}
    if (a['prometheus.io/scrape'] !== 'true' || a['prometheus.io/port'] !== String(m.port) || a['prometheus.io/path'] !== '/metrics') out.push(`${w.name}: the pod's prometheus.io annotations do not point at /metrics on ${m.port}`)
    const labels = w.deployment.spec!.template.metadata?.labels ?? {}
    const selects = (sel: Record<string, string> | undefined): boolean => Object.entries(sel ?? {}).every(([k, v]) => labels[k] === v)
    if (!services.some((svc) => selects(svc.spec?.selector) && svc.spec?.ports?.some((p) => p.targetPort === 'metrics' || p.targetPort === m.port))) out.push(`${w.name}: no Service exposes its metrics port`)
    const pdbs = of<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').filter((p) => selects(p.spec?.selector?.matchLabels))
    if (pdbs.length !== 1) out.push(`${w.name}: ${pdbs.length} PodDisruptionBudgets select its pods, not 1`)
    else if (pdbs[0]!.spec?.maxUnavailable === undefined || pdbs[0]!.spec.maxUnavailable === 0 || pdbs[0]!.spec.minAvailable !== undefined) out.push(`${w.name}: its PodDisruptionBudget should allow one pod at a time (maxUnavailable), not block drains`)
  }
  for (const sm of of<IServiceMonitor>(objects, 'ServiceMonitor')) {
    const svc = services.find((s) => Object.entries(sm.spec.selector.matchLabels ?? {}).every(([k, v]) => s.metadata?.labels?.[k] === v))
    if (!svc) { out.push(`ServiceMonitor ${sm.metadata!.name} selects no Service`); continue }
    for (const e of sm.spec.endpoints ?? []) {
      if (!svc.spec?.ports?.some((p) => p.name === e.port)) out.push(`ServiceMonitor ${sm.metadata!.name}: Service ${svc.metadata!.name} has no port ${e.port}`)
      // Target labels the operator adds, and those asked for: none may take a name synthq's own
      // series use, or Prometheus renames synthq's to exported_<name> (docs/metrics.md).
      const dropped = (e.relabelings ?? []).filter((r) => r.action === 'labeldrop').map((r) => new RegExp(`^(?:${r.regex ?? ''})$`))
      const targetLabels = [...OPERATOR_TARGET_LABELS, ...(sm.spec.podTargetLabels ?? []), ...(sm.spec.targetLabels ?? [])].map((l) => l.replace(/[^a-zA-Z0-9_]/g, '_'))
      for (const l of targetLabels) if (SYNTHQ_LABELS.has(l) && !e.honorLabels && !dropped.some((re) => re.test(l))) out.push(`ServiceMonitor ${sm.metadata!.name}: the target label ${l} would rename synthq's own ${l} label to exported_${l}`)
    }
  }
  return out
}

interface ComposeService { command?: string[], environment?: Record<string, string | number>, volumes?: string[], stop_grace_period?: string, profiles?: string[], deploy?: { replicas?: number }, scale?: number }

/** The text of the file at `path` in a Compose service's container: from the file bind-mounted there (host paths relative to the Compose file). */
function composeFile (s: ComposeService, path: string): string {
  for (const v of s.volumes ?? []) {
    const [host, inContainer] = v.split(':')
    if (inContainer === path && host && /^\.{0,2}\//.test(host)) return readFileSync(join(REPO_ROOT, COMPOSE_FILE, '..', host), 'utf8')
  }
  throw new Error(`no file is bind-mounted at ${path}`)
}

function composeSeconds (d: string | undefined): number {
  if (d === undefined) return 10 // Compose's default
  const m = /^(\d+)(s|m)$/.exec(d)
  if (!m) throw new Error(`stop_grace_period ${d}: not understood by this test`)
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1)
}

/** The Compose file's pipeline services: the same stage groups, each stop outlasting its drain. */
function composeProblems (services: Record<string, ComposeService>): string[] {
  const out: string[] = []
  const pipeline = Object.entries(services).filter(([, s]) => s.profiles?.includes('pipeline'))
  const ws = pipeline.map(([name, s]) => {
    const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]))
    return { ...parseRun(name, s.command ?? [], env, (path) => composeFile(s, path)), service: s }
  })
  out.push(...stageProblems(ws))
  for (const g of STAGE_GROUPS) {
    const w = ws.find((x) => x.name === workloadName(g))
    if (!w) { out.push(`no Compose service ${workloadName(g)} for stage group ${g.name}`); continue }
    if (w.topology !== g.topology || !isDeepStrictEqual(w.stages, [...g.stages])) out.push(`${w.name} runs ${w.topology} ${w.stages.join(', ')}; deploy/stage-groups.ts says ${g.topology} ${g.stages.join(', ')}`)
    if (!g.scalable && ((w.service.deploy?.replicas ?? 1) !== 1 || (w.service.scale ?? 1) !== 1)) out.push(`${w.name} must run once`)
  }
  for (const w of ws) {
    if (runnerOf(w.flags.get('runner')?.[0], w.env) !== 'kafka') out.push(`${w.name}: not on the Kafka runner`)
    const drain = Number(w.flags.get('drain-timeout')?.[0] ?? NaN)
    if (!Number.isInteger(drain)) { out.push(`${w.name}: no explicit --drain-timeout`); continue }
    const stop = composeSeconds(w.service.stop_grace_period)
    if (!(stop > drain + exitGraceMs(w.env) / 1000)) out.push(`${w.name}: stop_grace_period ${stop} s is not longer than the drain timeout ${drain} s + exit grace ${exitGraceMs(w.env) / 1000} s`)
    for (const k of Object.keys(w.env)) if (SECRET_VALUE.test(k)) out.push(`${w.name}: ${k} puts a secret's value in the environment`)
  }
  return out
}

// ---------------------------------------------------------------------------------------------

const base = kustomize(BASE)
const overlay = kustomize(OVERLAY)
const compose = parse(readFileSync(join(REPO_ROOT, COMPOSE_FILE), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> }
const copy = (objects: K8sObject[]): K8sObject[] => structuredClone(objects)
const find = <T>(objects: K8sObject[], kind: string, name: string): T => objects.find((o) => o.kind === kind && o.metadata.name === name) as unknown as T

test('the committed manifests and Compose services are what npm run deploy:gen writes', () => {
  for (const f of renderDeployFiles()) {
    assert.equal(readFileSync(join(REPO_ROOT, f.path), 'utf8'), f.text, `${f.path} is stale: run npm run deploy:gen`)
  }
})

test('the stage groups cover the method, and the deployments use the CLI\'s real options and defaults', () => {
  assert.deepEqual(stageProblems(STAGE_GROUPS.map(groupWorkload)), [])
  assert.deepEqual(STAGE_GROUPS.flatMap((g) => pipelineConfigProblems(g)), [])
  assert.equal(Number(/--partitions N\s+kafka: partitions of topics it creates \(default (\d+)\)/.exec(RUN_HELP)?.[1]), DEFAULT_PARTITIONS)
  for (const flag of ['stage', 'drain-timeout', 'partitions', 'replication']) assert.equal(RUN_FLAGS.get(flag), true, `synthq run --${flag} takes a value`)
  assert.ok(STAGE_GROUPS.some((g) => !g.scalable && g.stages.includes('sink')), 'the sink has a group of its own that does not scale')
})

for (const [name, objects] of [['base', base], ['example overlay', overlay]] as const) {
  test(`${name}: every object validates against its API schema`, () => {
    assert.deepEqual(schemaProblems(objects), [])
    assert.deepEqual(objects.map((o) => o.kind).sort(), [
      'ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'Deployment', 'Deployment',
      'PodDisruptionBudget', 'PodDisruptionBudget', 'PodDisruptionBudget', 'PodDisruptionBudget',
      'ScaledObject', 'ScaledObject', 'ScaledObject', 'Service', ...(name === 'base' ? [] : ['ServiceMonitor']), 'TriggerAuthentication',
    ])
  })

  test(`${name}: every stage of attribution and synthesis runs in exactly one Deployment`, () => {
    assert.deepEqual(stageProblems(workloads(objects)), [])
    assert.deepEqual(workloads(objects).map((w) => [w.name, w.topology, w.stages]), STAGE_GROUPS.map((g) => [workloadName(g), g.topology, [...g.stages]]))
  })

  test(`${name}: the response stages run with the pipeline config mounted read-only from ConfigMap ${PIPELINE_CONFIG_MAP} and passed with --config`, () => {
    const ws = workloads(objects)
    const responses = ws.filter((w) => w.stages.some((s) => ['response', 'response-b', 'judge'].includes(s)))
    assert.deepEqual(responses.map((w) => w.name), STAGE_GROUPS.filter((g) => g.pipelineConfig).map(workloadName))
    for (const w of responses) {
      assert.deepEqual(w.flags.get('config'), [PIPELINE_CONFIG_PATH])
      assert.equal(w.options.responses.enabled, true)
      assert.equal(w.options.responses.preferences, true)
      const mount = w.container.volumeMounts!.find((m) => PIPELINE_CONFIG_PATH.startsWith(`${m.mountPath}/`))
      assert.equal(mount?.readOnly, true, `${w.name}: the config is mounted read-only`)
      assert.equal(w.deployment.spec!.template.spec!.volumes!.find((v) => v.name === mount.name)?.configMap?.name, PIPELINE_CONFIG_MAP)
    }
    // The other Deployments run with the defaults (the file's llm.stages names stages they do not run).
    for (const w of ws.filter((x) => !responses.includes(x))) assert.equal(w.flags.has('config'), false, w.name)
    if (name === 'base') assert.equal(find<IConfigMap>(objects, 'ConfigMap', PIPELINE_CONFIG_MAP).data!['synthq.yaml'], readFileSync(PIPELINE_CONFIG_FILE, 'utf8'), 'the ConfigMap holds deploy/pipeline.yaml as it is')
  })

  test(`${name}: replica maxima within the input topics' partitions; KEDA triggers on each stage's consumer group; the sink alone`, () => {
    assert.deepEqual(replicaProblems(objects), [])
  })

  test(`${name}: terminationGracePeriodSeconds outlasts the drain timeout plus the exit grace`, () => {
    assert.deepEqual(graceProblems(objects), [])
  })

  test(`${name}: secrets reach the pods as mounted files only`, () => {
    assert.deepEqual(secretProblems(objects), [])
  })

  test(`${name}: probes, scraping and disruption budgets on the metrics endpoint`, () => {
    assert.deepEqual(probeProblems(objects), [])
  })
}

test('the example overlay customises what it says it does', () => {
  for (const o of overlay) assert.equal(o.metadata.namespace, 'synthq-prod', `${o.kind}/${o.metadata.name}`)
  const ws = workloads(overlay)
  for (const w of ws) {
    assert.equal(w.container.image, 'registry.example.com/ml/synthq:0.1.0')
    assert.equal(partitionsOf(w), 12)
    assert.match(w.env.SYNTHQ_KAFKA_BROKERS!, /^kafka-0\.kafka\.data\.svc:9093,/)
    assert.deepEqual(w.deployment.spec!.template.spec!.volumes!.flatMap((v) => v.secret ? [v.secret.secretName] : []), ['synthq-prod-llm', 'synthq-prod-kafka', 'synthq-prod-registry'])
  }
  assert.equal(find<IScaledObject>(overlay, 'ScaledObject', 'synthq-synthesis').spec.maxReplicaCount, 12)
  assert.equal(find<IScaledObject>(overlay, 'ScaledObject', 'synthq-attribution').spec.maxReplicaCount, 4)
  assert.equal(find<IScaledObject>(overlay, 'ScaledObject', 'synthq-responses').spec.maxReplicaCount, DEFAULT_PARTITIONS)
  assert.equal(find<ITriggerAuthentication>(overlay, 'TriggerAuthentication', 'synthq-kafka').spec.secretTargetRef![0]!.name, 'synthq-prod-kafka')
  // The base is unchanged by building the overlay.
  assert.equal(find<IScaledObject>(base, 'ScaledObject', 'synthq-synthesis').spec.maxReplicaCount, DEFAULT_PARTITIONS)
})

test('the Compose file runs the same stage groups, and its stops outlast the drain', () => {
  assert.deepEqual(composeProblems(compose.services), [])
})

test('the resolution here agrees with a real kustomize build, where one is on the machine', (t) => {
  for (const [dir, mine] of [[BASE, base], [OVERLAY, overlay]] as const) {
    const real = realKustomize(dir)
    if (typeof real === 'string') { t.skip(real); return }
    const key = (o: K8sObject): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`
    assert.deepEqual(real.map(key).sort(), mine.map(key).sort(), relative(REPO_ROOT, dir))
    for (const o of mine) assert.deepEqual(real.find((r) => key(r) === key(o)), o, `${relative(REPO_ROOT, dir)}: ${key(o)}`)
  }
})

test('each check flags a deliberately broken manifest (none passes by checking nothing)', () => {
  // Schemas: a wrong type, a missing required field, a kind with no schema.
  const badType = copy(base)
  find<IDeployment>(badType, 'Deployment', 'synthq-sink').spec!.replicas = 'one' as unknown as number
  assert.match(schemaProblems(badType).join('\n'), /synthq-sink: .*replicas must be integer/)
  const noTarget = copy(base)
  delete (find<IScaledObject>(noTarget, 'ScaledObject', 'synthq-synthesis').spec as Partial<IScaledObject['spec']>).scaleTargetRef
  assert.match(schemaProblems(noTarget).join('\n'), /scaleTargetRef/)
  assert.deepEqual(schemaProblems([{ apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' } }]), ['Gadget/g: no schema for example.com/v1 Gadget'])

  // Stages: one dropped, one run twice.
  const synth = STAGE_GROUPS.map(groupWorkload)
  synth[1]!.stages = synth[1]!.stages.filter((s) => s !== 'scoring')
  synth[2]!.stages.push('situation-envisioning')
  const stages = stageProblems(synth).join('\n')
  assert.match(stages, /synthesis stage scoring runs in 0 workloads/)
  assert.match(stages, /synthesis stage situation-envisioning runs in 2 workloads/)

  // The response stages: run without --config, with a mounted config that turns preference pairs
  // off, with nothing mounted where --config points; and the generator's own check of the file.
  const noConfig = copy(base)
  const rc = find<IDeployment>(noConfig, 'Deployment', 'synthq-responses').spec!.template.spec!.containers[0]!
  rc.args = rc.args!.filter((a, i, all) => a !== '--config' && all[i - 1] !== '--config')
  assert.match(stageProblems(workloads(noConfig)).join('\n'), /synthq-responses: topology synthesis has no stage response with the pipeline settings it runs with \(the defaults: no --config\)/)
  const noPairs = copy(base)
  const cm = find<IConfigMap>(noPairs, 'ConfigMap', PIPELINE_CONFIG_MAP)
  cm.data!['synthq.yaml'] = cm.data!['synthq.yaml']!.replace('preferences: true', 'preferences: false')
  const pairs = stageProblems(workloads(noPairs)).join('\n')
  assert.match(pairs, /synthq-responses: topology synthesis has no stage response-b with the pipeline settings it runs with \(its --config file\)/)
  assert.match(pairs, /synthq-responses: topology synthesis has no stage judge /)
  const unmounted = copy(base)
  find<IDeployment>(unmounted, 'Deployment', 'synthq-responses').spec!.template.spec!.containers[0]!.volumeMounts!.pop()
  assert.throws(() => workloads(unmounted), /synthq-responses: --config \/etc\/synthq\/synthq\.yaml: no ConfigMap volume is mounted over/)
  const composeNoFile = structuredClone(compose.services)
  delete composeNoFile['synthq-responses']!.volumes
  assert.throws(() => composeProblems(composeNoFile), /synthq-responses: --config \/etc\/synthq\/synthq\.yaml: no file is bind-mounted/)
  const configs = testTmpDir('deploy-pipeline-config-broken')
  const responsesGroup = STAGE_GROUPS.find((g) => g.pipelineConfig)!
  const off = join(configs, 'off.yaml')
  writeFileSync(off, readFileSync(PIPELINE_CONFIG_FILE, 'utf8').replace('preferences: true', 'preferences: false'))
  assert.match(pipelineConfigProblems(responsesGroup, off).join('\n'), /leaves stage response-b out of topology synthesis/)
  const foreign = join(configs, 'foreign.yaml')
  writeFileSync(foreign, `${readFileSync(PIPELINE_CONFIG_FILE, 'utf8').trimEnd()}\n    scoring: { temperature: 0 }\n`)
  assert.match(pipelineConfigProblems(responsesGroup, foreign).join('\n'), /sets llm\.stages\.scoring, a stage the group does not run/)

  // Replicas: a maximum above the partitions, a second sink, a trigger on another topic.
  const tooMany = copy(base)
  find<IScaledObject>(tooMany, 'ScaledObject', 'synthq-synthesis').spec.maxReplicaCount = DEFAULT_PARTITIONS + 1
  find<IDeployment>(tooMany, 'Deployment', 'synthq-sink').spec!.replicas = 2
  find<IScaledObject>(tooMany, 'ScaledObject', 'synthq-attribution').spec.triggers[1]!.metadata.topic = 'synthq.documents'
  const replicas = replicaProblems(tooMany).join('\n')
  assert.match(replicas, /synthq-synthesis: maxReplicaCount 7 exceeds the 6 partitions/)
  assert.match(replicas, /synthq-sink: runs sink .* replicas 2, not 1/)
  assert.match(replicas, /synthq-attribution: the trigger of search-retrieval reads topic synthq\.documents/)
  // Partitions lowered in the overlay's ConfigMap without lowering the maxima.
  const fewer = copy(overlay)
  find<IConfigMap>(fewer, 'ConfigMap', 'synthq').data!.SYNTHQ_TOPIC_PARTITIONS = '8'
  assert.match(replicaProblems(fewer).join('\n'), /synthq-synthesis: maxReplicaCount 12 exceeds the 8 partitions/)

  // Grace: exactly the drain deadline is not enough; a longer drain in the ConfigMap needs a longer grace.
  const short = copy(base)
  find<IDeployment>(short, 'Deployment', 'synthq-synthesis').spec!.template.spec!.terminationGracePeriodSeconds = 45
  assert.match(graceProblems(short).join('\n'), /synthq-synthesis: terminationGracePeriodSeconds 45 is not longer than the drain timeout 30 s \+ exit grace 15 s/)
  const longDrain = copy(base)
  find<IConfigMap>(longDrain, 'ConfigMap', 'synthq').data!.SYNTHQ_DRAIN_TIMEOUT_SECONDS = '120'
  assert.equal(graceProblems(longDrain).length, STAGE_GROUPS.length)

  // Secrets: from a secretKeyRef, as a literal in the ConfigMap, a *_FILE outside any Secret volume.
  const leaky = copy(base)
  find<IDeployment>(leaky, 'Deployment', 'synthq-attribution').spec!.template.spec!.containers[0]!.env!.push({ name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'openai', key: 'key' } } })
  find<IConfigMap>(leaky, 'ConfigMap', 'synthq').data!.SYNTHQ_REGISTRY_PASSWORD = 'hunter2'
  find<IConfigMap>(leaky, 'ConfigMap', 'synthq').data!.SYNTHQ_LLM_API_KEY_FILE = '/tmp/key'
  const secrets = secretProblems(leaky).join('\n')
  assert.match(secrets, /env OPENAI_API_KEY comes from Secret openai \(secretKeyRef\)/)
  assert.match(secrets, /ConfigMap synthq: SYNTHQ_REGISTRY_PASSWORD puts a secret's value in the environment/)
  assert.match(secrets, /SYNTHQ_LLM_API_KEY_FILE=\/tmp\/key is not in a mounted Secret/)

  // Probes: readiness on the liveness path, metrics on loopback.
  const probes = copy(base)
  find<IDeployment>(probes, 'Deployment', 'synthq-sink').spec!.template.spec!.containers[0]!.readinessProbe!.httpGet!.path = '/healthz'
  find<IConfigMap>(probes, 'ConfigMap', 'synthq').data!.SYNTHQ_METRICS_HOST = '127.0.0.1'
  const probe = probeProblems(probes).join('\n')
  assert.match(probe, /synthq-sink: readinessProbe is GET \/healthz on metrics, not GET \/readyz/)
  assert.match(probe, /listens on 127\.0\.0\.1/)
  const monitor = copy(overlay)
  delete find<IServiceMonitor>(monitor, 'ServiceMonitor', 'synthq').spec.endpoints![0]!.relabelings
  assert.match(probeProblems(monitor).join('\n'), /the target label endpoint would rename synthq's own endpoint label/)

  // Compose: Docker's default 10-s stop, and a service that lost a stage.
  const services = structuredClone(compose.services)
  delete services['synthq-sink']!.stop_grace_period
  services['synthq-synthesis']!.command = services['synthq-synthesis']!.command!.filter((a, i, all) => a !== 'scoring' && !(a === '--stage' && all[i + 1] === 'scoring'))
  const comp = composeProblems(services).join('\n')
  assert.match(comp, /synthq-sink: stop_grace_period 10 s is not longer than/)
  assert.match(comp, /synthesis stage scoring runs in 0 workloads/)

  // The resolver refuses what it does not apply, and a failing `test` op fails the build.
  assert.throws(() => applyJsonPatch({ a: 1 }, { a: 2 }), /strategic-merge patches are not resolved/)
  assert.throws(() => applyJsonPatch({ a: [{ name: 'x' }] }, [{ op: 'test', path: '/a/0/name', value: 'y' }]), /test failed at \/a\/0\/name/)
  assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: 'move', from: '/a', path: '/b' }]), /op "move" is not resolved/)
})
