/**
 * Versions of the local infrastructure. Kafka's version is also the default in ../pom.xml; the
 * value here is passed to Maven explicitly, so this file is the one to edit.
 */
export const KAFKA_VERSION = process.env.SYNTHQ_KAFKA_VERSION ?? '4.4.0'
/** Apicurio Registry 3.3.x is compiled for Java 21. */
export const APICURIO_VERSION = process.env.SYNTHQ_APICURIO_VERSION ?? '3.3.3'
export const APICURIO_MIN_JAVA = 21
export const KAFKA_MIN_JAVA = 17
