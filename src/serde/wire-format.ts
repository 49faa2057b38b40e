/**
 * Confluent's wire format: magic byte 0, the schema's registry id as a 4-byte big-endian
 * integer, then the Avro binary body.
 * https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format
 */
import { DecodeError } from '../errors.ts'

export const MAGIC_BYTE = 0
export const HEADER_SIZE = 5

export function frame (schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + body.length)
  out.writeUInt8(MAGIC_BYTE, 0)
  out.writeUInt32BE(schemaId, 1)
  body.copy(out, HEADER_SIZE)
  return out
}

export interface Framed {
  schemaId: number
  body: Buffer
}

export function unframe (buf: Buffer | null | undefined): Framed {
  if (!buf || buf.length === 0) throw new DecodeError('empty value: expected a Confluent wire-format record (magic byte, schema id, Avro body)')
  if (buf.length < HEADER_SIZE) throw new DecodeError(`value of ${buf.length} byte(s) is too short for the Confluent wire format (at least ${HEADER_SIZE})`)
  if (buf[0] !== MAGIC_BYTE) throw new DecodeError(`value starts with byte 0x${buf[0]!.toString(16).padStart(2, '0')}, not the Confluent magic byte 0x00: it was not written by a schema-registry serializer`)
  return { schemaId: buf.readUInt32BE(1), body: buf.subarray(HEADER_SIZE) }
}
