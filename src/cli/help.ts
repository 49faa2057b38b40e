/**
 * The help of `synthq` and of the commands main.ts runs itself; commands with their own module
 * (tap, ingest, status, dlq, dashboard, export, index, llm-sim) keep their help beside their code.
 */
import { DEFAULT_TOPIC_PREFIX } from '../topics.ts'

export const EXIT_CODES = `exit codes (every command):
  0    done
  1    could not do it: bad configuration, a server unreachable, an unreadable input
  2    the command line is wrong (unknown option, bad value): see synthq <command> --help
  3    done, with findings: unhealthy (status, sink, export), rejected records (ingest),
       undecodable records (tap), dead letters not replayed (dlq replay)
  4    run stopped by something a restart does not fix: another instance took over its state
       (fenced), or an LLM endpoint rejected the key or the model
  130  stopped at once by a second Ctrl-C (uncommitted work runs again on the next start)`

export const SETTINGS = `settings (each level overrides the ones below it):
  1. flags on the command line              --runner kafka, --db FILE, --prefix P, …
  2. environment variables                  SYNTHQ_RUNNER, SYNTHQ_DB, SYNTHQ_PREFIX, SYNTHQ_KAFKA_*,
                                            SYNTHQ_REGISTRY_*, SYNTHQ_LLM_*, SYNTHQ_METRICS_*
  3. the config file (--config FILE or $SYNTHQ_CONFIG, YAML or JSON): defaults:, kafka:,
     registry:, metrics:, llm:, pipeline: — docs/cli.md
  4. built-in defaults (embedded runner, .synthq/embedded/synthq.db, prefix ${DEFAULT_TOPIC_PREFIX})`

export const HELP = `synthq — synthesize instruction-tuning data from real documents, on Kafka

usage: synthq <command> [options]        synthq <command> --help for its options and examples
       synthq --version                  the version

run the pipeline
  start                  the whole method on the shipped real data, embedded runner, no servers
  run <topology>         run attribution, synthesis or demo until Ctrl-C (embedded or --runner kafka)
  ingest <paths…>        put corpus files (JSONL, JSON, Parquet, gzip; FineWeb, PILE, MathPILE, …)
                         or seed prompts into the pipeline's input topics

watch it
  status                 lag, throughput, dead letters, LLM figures, sample balance; exit 3 if unhealthy
  dashboard              a live web dashboard on http://127.0.0.1:7464
  tap <topic>            print any topic's records as decoded JSON lines (filter, follow, table)
  dlq                    list, summarise and replay dead letters
  sink                   the sink's counts, topics, balance, diversity and health checks

get the data out
  export --out DIR       the current sample as a dataset (JSONL or Parquet) with its card

set up and check
  describe <topology>    a topology's stages, topics and tables (what reads and writes what)
  topics                 the topic map: topic, key, value schema, cleanup, writer → readers
  topics create          create the pipeline's topics on Kafka
  schemas register|check register the Avro schemas / test them against the registry
  llm check <topology>   check every LLM stage's endpoint answers with its model
  llm usage              tokens, cost and cache hits per stage and model
  prompts [diff …]       the prompts' versions (live, file, hash); diff two versions
  shadow <stage>         run another prompt version beside the live one (--prompt-version V)
  compare <stage>        the live and shadow versions side by side
  shadow promote <stage> make the shadow's version live from chosen offsets
  index build|search     the embedded BM25 search index search-retrieval uses
  llm-sim                serve the OpenAI-compatible LLM SIMULATOR (synthetic answers, sim-* models)

${SETTINGS}

${EXIT_CODES}

examples:
  npm start                                       (= synthq start)
  synthq ingest ../shared/data/web/c4_en_validation_2k.jsonl --preset c4
  synthq run synthesis --llm sim                  (in another terminal: synthq dashboard)
  synthq status
  synthq export --out ./dataset --format parquet
  npm run infra:up && synthq run synthesis --runner kafka --llm sim
`

const RUN_OPTIONS = `  --runner R             embedded (default) or kafka
  --db FILE              embedded: the database (default .synthq/embedded/synthq.db)
  --prefix P             topic name prefix (default ${DEFAULT_TOPIC_PREFIX})
  --config FILE          config file (llm:, pipeline:, kafka:, registry:, defaults:) — docs/cli.md
  --concurrency N        records in flight per stage (default 64; a stage that calls an LLM:
                         its endpoint's maxConcurrency, 256 unless configured)
  --drain-timeout S      seconds Ctrl-C waits for records in flight (default 30)
  --metrics-port N       the Prometheus endpoint's port (default: any free port, announced in
                         .synthq/run/ for synthq status and synthq dashboard)
  --metrics-host H       its address (default 127.0.0.1; 0.0.0.0 only on a trusted network)
  --no-metrics           no endpoint
  --prompt-version S=V   run version V of stage S's prompt (repeatable; synthq prompts
                         lists them; = pipeline.prompts in the config file)`

export const START_HELP = `synthq start — the whole method on the shipped real data, with nothing to install

1. builds the embedded BM25 search index over the shipped documents (once);
2. attribution: 345 real OpenAssistant prompts → concepts → retrieved documents → demonstrations;
3. synthesis: 900 real documents (C4 web pages, math and physics Stack Exchange) → situations →
   instructions → 7-criteria scores → the topic-balanced sample (K = 400 for this demo);
4. exports the sample to .synthq/dataset and keeps running for new records (Ctrl-C stops).

LLM stages use the endpoints you configure (--config, SYNTHQ_LLM_*: docs/llm.md), and the
built-in simulator for the rest — whose records are marked simulated.

usage: synthq start [options]

options:
  --until-idle           stop when everything is processed and exported
  --out DIR              where the dataset goes (default .synthq/dataset)
  --no-demo-data         do not feed the shipped data (ingest your own: synthq ingest --help)
  --resample-every M     draw new demonstrations every M documents (default 50; 1 = as the paper)
  --seed-gate N          keep only real prompts scoring at least N of 7
${RUN_OPTIONS}

examples:
  synthq start --until-idle
  synthq start --config synthq.yaml --out ./dataset
`

export const RUN_HELP = `synthq run <topology> — run a topology until Ctrl-C

topologies:
  attribution   real instructions → concepts → search → situations → demonstrations
  synthesis     documents → hygiene → situations → instructions → scores → the sample
  demo          documents → template situations → template instructions (no LLM)

usage: synthq run <topology> [options]

options:
${RUN_OPTIONS}
  --llm sim              LLM stages with no configured endpoint use the built-in simulator
  --stage NAME           run only this stage (repeatable): scale a slow stage out over processes
  --until-idle           embedded: stop when every record is processed
  --at-least-once        kafka: no transactions (default exactly-once)
  --partitions N         kafka: partitions of topics it creates (default 6)
  --replication N        kafka: their replication factor (default 1)
  --resample-every M     synthesis: new demonstrations every M documents (default 50)
  --seed-gate N          attribution: keep only real prompts scoring at least N of 7

Ctrl-C lets the records in flight finish and commits; a second Ctrl-C stops at once.

${EXIT_CODES}

examples:
  synthq run synthesis --llm sim
  synthq run synthesis --runner kafka --config synthq.yaml --metrics-port 9464
  synthq run synthesis --runner kafka --stage scoring --concurrency 256    (one more scorer)
  synthq run demo --runner kafka --until-idle
`

export const TOPICS_HELP = `synthq topics — the pipeline's topics

usage:
  synthq topics            print the topic map (no servers needed)
  synthq topics create     create the topics on Kafka (existing ones are left alone)

options:
  --prefix P               topic name prefix (default ${DEFAULT_TOPIC_PREFIX})
  --partitions N           create: partitions per topic (default 6)
  --replication N          create: replication factor (default 1)

Kafka is found through SYNTHQ_KAFKA_BROKERS (and SYNTHQ_KAFKA_SSL_*, SYNTHQ_KAFKA_SASL_*), the
config file's kafka: section, or the local infrastructure of npm run infra:up.

examples:
  synthq topics
  SYNTHQ_KAFKA_BROKERS=kafka-1:9092,kafka-2:9092 synthq topics create --partitions 12 --replication 3
`

export const SCHEMAS_HELP = `synthq schemas — the topics' Avro schemas and the schema registry

usage:
  synthq schemas register  register every topic's value schema (subjects <topic>-value)
  synthq schemas check     test the local schemas against the registry's latest versions;
                           exit 1 if any is incompatible

options:
  --prefix P               topic name prefix (default ${DEFAULT_TOPIC_PREFIX})

The registry is found through SYNTHQ_REGISTRY_URL (and _USERNAME, _PASSWORD[_FILE]), the config
file's registry: section, or the local infrastructure of npm run infra:up.

examples:
  synthq schemas register
  SYNTHQ_REGISTRY_URL=https://psrc-1.confluent.cloud SYNTHQ_REGISTRY_USERNAME=KEY SYNTHQ_REGISTRY_PASSWORD_FILE=/run/secrets/sr synthq schemas check
`

export const LLM_HELP = `synthq llm — the LLM stages' settings and spend

usage:
  synthq llm check <topology>   resolve each LLM stage's endpoint and model, check the endpoint
                                answers (reachable, key accepted, model served), and find its
                                structured-output dialect with one tiny request per dialect
                                (docs/llm.md); exit 1 if any of it fails
  synthq llm usage              requests, tokens, cost and cache hits per stage and model

options:
  --config FILE                 the config file with the llm: section (docs/llm.md)
  --db FILE                     usage: the database holding the ledger

examples:
  SYNTHQ_LLM_BASE_URL=http://gpu-1:8000/v1 SYNTHQ_LLM_MODEL=meta-llama/Llama-3.1-8B-Instruct synthq llm check synthesis
  synthq llm usage
`

export const PROMPTS_HELP = `synthq prompts — the prompts' versions (prompts are data: one file per version)

usage:
  synthq prompts                          every stage's prompt versions: stage, prompt id,
                                          version, live (*), content hash, file
  synthq prompts diff <stage> <v1> <v2>   a unified diff of two versions: system text, JSON
                                          schema (pretty-printed) and the messages rendered for
                                          the stage's fixed sample input

A stage runs its live version unless the config file selects another (pipeline.prompts:
{ <stage>: <version> }) or synthq run/start is given --prompt-version <stage>=<version>.
The hash covers the id, version, system text, schema and the sample rendering: a prompt whose
text changed without a new version shows a new hash under the old version.

examples:
  synthq prompts
  synthq prompts diff instruction-generation 1 2
`

export const SHADOW_HELP = `synthq shadow — try another prompt version on the live stream (docs/pipeline.md#shadow-prompt-versions-try-a-prompt-on-the-live-stream-before-it-goes-live)

usage:
  synthq shadow <stage> --prompt-version V [--through <stage>] [--from live|earliest]
      runs <stage> with version V of its prompt on the live stage's input, into topics under
      <prefix>.shadow.<stage>.v<V> that nothing live reads; --through also runs copies of the
      stages after it up to that one (--through scoring: score what V writes). A new shadow
      starts where the live stage is (--from live, default) or at the input's beginning
      (--from earliest); one that ran before resumes. Runs until Ctrl-C, or --until-idle.
  synthq compare <stage> --prompt-version V [--json] [--examples N] [--min-score N] [--config F]
      the live version and V side by side, on the inputs both answered: scores with a
      Mann–Whitney U test, schema-valid share and dead letters, tokens and cost per record
      (prices from --config's llm.prices), Vendi score and topic entropy of what each would
      keep, example pairs
  synthq shadow promote <stage> --prompt-version V [--from end|shadow|<p>:<offset>,…]
      makes V live from those offsets of the stage's input (default: its end now). Running
      stages take it up without a restart; outputs made before stay as they are. An offset
      before the live stage's position moves its group back (stop the stage first): those
      records are redone with V, answered from the LLM cache where the shadow asked already.
  synthq shadow list [--json]
      the shadow runs under the prefix (their topics and record counts) and the promotions in effect

options: --runner embedded|kafka, --db, --prefix, --llm sim, --config (as synthq run)

examples:
  synthq shadow instruction-generation --prompt-version 2 --through scoring --llm sim
  synthq compare instruction-generation --prompt-version 2
  synthq shadow promote instruction-generation --prompt-version 2 --from shadow
  synthq shadow list
  synthq tap synthq.shadow.instruction-generation.v2.instructions.synthesized --table
`

export const COMMAND_HELP: Record<string, string> = { start: START_HELP, run: RUN_HELP, topics: TOPICS_HELP, schemas: SCHEMAS_HELP, llm: LLM_HELP, prompts: PROMPTS_HELP, shadow: SHADOW_HELP, compare: SHADOW_HELP }
