/**
 * Compression codecs for KafkaJS, which decodes only gzip by itself. Topics written by other
 * producers (Java, librdkafka, franz-go) are often snappy-, lz4- or zstd-compressed; without
 * these, KafkaJS fails on the first such batch.
 *
 * - snappy: kafkajs-snappy (pure JS, understands the xerial framing Java clients write)
 * - lz4:    lz4-napi (Rust lz4_flex, prebuilt binaries): Kafka uses the LZ4 frame format
 * - zstd:   zstd-napi (the reference C library, built on install)
 */
import kafkajs from 'kafkajs'
import SnappyCodec from 'kafkajs-snappy'
import { compressFrameSync, decompressFrameSync } from 'lz4-napi'
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi'

const { CompressionCodecs, CompressionTypes } = kafkajs

/** What KafkaJS passes to compress: an encoder whose `buffer` holds the record batch. */
interface Encoder { buffer: Buffer }
type CodecFactory = () => { compress: (encoder: Encoder) => Promise<Buffer>, decompress: (buffer: Buffer) => Promise<Buffer> }

const lz4Codec: CodecFactory = () => ({
  compress: async (encoder) => compressFrameSync(encoder.buffer),
  decompress: async (buffer) => decompressFrameSync(buffer),
})

const zstdCodec: CodecFactory = () => ({
  compress: async (encoder) => zstdCompress(encoder.buffer),
  decompress: async (buffer) => zstdDecompress(buffer),
})

let registered = false

/** Registers snappy, lz4 and zstd with KafkaJS (process-wide, idempotent). */
export function registerCodecs (): void {
  if (registered) return
  const codecs = CompressionCodecs as Record<number, CodecFactory>
  codecs[CompressionTypes.Snappy] = SnappyCodec as unknown as CodecFactory
  codecs[CompressionTypes.LZ4] = lz4Codec
  codecs[CompressionTypes.ZSTD] = zstdCodec
  registered = true
}
