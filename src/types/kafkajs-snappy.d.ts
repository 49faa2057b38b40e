// kafkajs-snappy ships no types: a KafkaJS codec factory.
declare module 'kafkajs-snappy' {
  const factory: () => { compress: (encoder: { buffer: Buffer }) => Promise<Buffer>, decompress: (buffer: Buffer) => Promise<Buffer> }
  export default factory
}
