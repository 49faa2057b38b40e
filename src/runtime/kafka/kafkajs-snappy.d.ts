// kafkajs-snappy ships no types: a KafkaJS codec factory (codecs.ts registers it). Beside the only code that knows KafkaJS.
declare module 'kafkajs-snappy' {
  const factory: () => { compress: (encoder: { buffer: Buffer }) => Promise<Buffer>, decompress: (buffer: Buffer) => Promise<Buffer> }
  export default factory
}
