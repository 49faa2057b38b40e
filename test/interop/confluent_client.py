"""An independent Confluent-format client for synthq's interoperability tests.

Uses Confluent's own Python client (confluent-kafka, librdkafka inside) with its Schema Registry
AvroSerializer / AvroDeserializer (fastavro underneath): none of synthq's code. Records travel as
JSON lines on stdin/stdout.

  produce --topic T [--schema-file F | --raw] [--compression gzip|snappy|lz4|zstd]
      reads JSON lines {"key": str, "value": obj|str}; Avro-encodes value with the schema in F
      (registering it under T-value, as Confluent's default TopicNameStrategy does), or sends
      value as UTF-8 text with --raw.
  consume --topic T --count N [--raw]
      prints N records {"key", "value", "partition", "offset", "schema_id"} as JSON lines.
"""
import argparse
import base64
import datetime
import faulthandler
import json
import sys
import uuid

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext


def to_json(value):
    """fastavro gives datetimes for timestamp-millis and bytes for bytes: make them JSON."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"not JSON serialisable: {type(value)}")


def from_json(value):
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def produce(args):
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "compression.type": args.compression,
        "linger.ms": 50,
        "enable.idempotence": True,
    })
    serializer = None
    if not args.raw:
        registry = SchemaRegistryClient({"url": args.registry, "timeout": 10})
        with open(args.schema_file, encoding="utf-8") as f:
            schema_str = f.read()
        serializer = AvroSerializer(registry, schema_str, conf={"auto.register.schemas": True})
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        record = json.loads(line)
        value = record["value"]
        if serializer:
            data = serializer(from_json(value), SerializationContext(args.topic, MessageField.VALUE))
        else:
            data = value.encode("utf-8")
        producer.produce(args.topic, key=record["key"].encode("utf-8"), value=data, on_delivery=on_delivery)
        count += 1
    remaining = producer.flush(30)
    if errors or remaining:
        raise SystemExit(f"delivery failed: {errors or remaining}")
    print(json.dumps({"produced": count}))


def consume(args):
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": f"interop-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    deserializer = None
    if not args.raw:
        deserializer = AvroDeserializer(SchemaRegistryClient({"url": args.registry, "timeout": 10}))
    consumer.subscribe([args.topic])
    seen = 0
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=args.timeout)
    try:
        while seen < args.count:
            if datetime.datetime.now() > deadline:
                raise SystemExit(f"timed out after {seen} of {args.count} records")
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            raw = msg.value()
            if deserializer:
                value = deserializer(raw, SerializationContext(msg.topic(), MessageField.VALUE))
                schema_id = int.from_bytes(raw[1:5], "big")
            else:
                value = raw.decode("utf-8")
                schema_id = None
            print(json.dumps({
                "key": msg.key().decode("utf-8") if msg.key() is not None else None,
                "value": value,
                "partition": msg.partition(),
                "offset": msg.offset(),
                "schema_id": schema_id,
            }, default=to_json), flush=True)
            seen += 1
    finally:
        consumer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["produce", "consume"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--schema-file")
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    # The Schema Registry client has no HTTP timeout unless given one (httpx with timeout=None),
    # so a stalled request would hang forever; past the deadline, print where it hung and exit.
    faulthandler.dump_traceback_later(args.timeout + 15, exit=True)
    if not args.raw and not args.registry:
        parser.error("--registry is required unless --raw")
    if args.command == "produce":
        if not args.raw and not args.schema_file:
            parser.error("produce needs --schema-file unless --raw")
        produce(args)
    else:
        consume(args)


if __name__ == "__main__":
    main()
