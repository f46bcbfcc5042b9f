"""The consuming half of benchmark 1's baseline, in a process of its own (as the reporting worker is):
plain kafka-python reading N messages of a topic.

    python -m bench.plain_consumer --kafka HOST:PORT --topic T --count N

Prints ``ready`` once it has its partitions, then, when N messages have come (or after --timeout
seconds), one JSON line: ``{"consumed": n, "last": <time.time() of the last message>}``.
"""
from __future__ import annotations

import argparse
import json
import time
import uuid

from kafka import KafkaConsumer

from chassis.transport.kafka import unnamed_topics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kafka", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    consumer = KafkaConsumer(args.topic, bootstrap_servers=args.kafka, group_id=f"bench-baseline-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=True)
    if unnamed_topics(consumer, [args.topic], args.timeout):  # known before the first join, as the services do
        raise SystemExit(f"plain_consumer: the broker named no partitions of {args.topic} in {args.timeout} s")
    while not consumer.assignment():
        consumer.poll(timeout_ms=200)
    print("ready", flush=True)
    got, last, deadline = 0, 0.0, time.monotonic() + args.timeout
    while got < args.count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200, max_records=500).values():
            got += len(records)
            last = time.time()
    consumer.close()
    print(json.dumps({"consumed": got, "last": last}), flush=True)


if __name__ == "__main__":
    main()
