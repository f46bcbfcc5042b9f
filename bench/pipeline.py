"""Benchmarks 1 (event pipeline) and 3 (freshness, simplified) of issue 9.

    python -m bench.pipeline --pg URL --kafka HOST:PORT --out results.json

1. Event pipeline: N events written to the registry's outbox on PostgreSQL (``Container.uow()`` +
   ``uow.publish``, in batches), published by the real `Relay` to Kafka and applied by a real
   `ConsumerRunner` (inbox + a one-row handler) into another PostgreSQL database. Writer, relay and
   consumer run at once on threads of this process (as a `Worker` does); the figure is N divided
   by the time from the first outbox write to the last consumer commit.
   Baseline, same run, same broker: plain kafka-python producing the *same* messages (the payloads
   read back from the outbox: same keys, sizes and headers) to a topic with the same partition
   count, and a plain kafka-python consumer reading them, also at once on two threads.
3. Freshness: one event per transaction at a fixed rate (like one HTTP write each); the time from
   the outbox commit returning to the consumer's commit returning, p50/p95/p99, with the relay and
   the consumer running on threads with the production poll interval.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from datetime import date
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.engine import make_url

from chassis.config import Config
from chassis.consumer import ConsumerSpec
from chassis.db import chassis_tables
from chassis.service import Service, bootstrap, discover
from chassis.transport.kafka import KafkaTransport
from chassis.uow import UnitOfWork
from contracts import topics
from contracts.events import registry as registry_events

PARTITIONS = 6  # as in production and in the integration tests
REVIEWED = registry_events.ESTABLISHMENT_REVIEWED

# --- the sink: a minimal consumer service (like tests/support/probe.py) whose unit of work
# --- records when its commit returned, per event ------------------------------------------
sink_metadata = MetaData()
chassis_tables(sink_metadata)
applied = Table(
    "applied", sink_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
)
committed_at: dict[str, float] = {}  # event id -> time.time() after the consumer's commit
_committed_lock = threading.Lock()


class TimedUnitOfWork(UnitOfWork):
    event_id: str | None = None

    def commit(self) -> None:
        super().commit()
        if self.event_id is not None:
            t = time.time()
            with _committed_lock:
                committed_at[self.event_id] = t


def record(uow, event) -> None:
    uow.event_id = event.id
    uow.session.execute(insert(applied).values(event_id=event.id, subject=event.subject))


def sink_service(group: str) -> Service:
    return Service(name="benchsink", title="bench sink", description="records registry events",
                   metadata=sink_metadata, migrations=Path("/nonexistent"), uow_class=TimedUnitOfWork,
                   consumers=[ConsumerSpec(group, {REVIEWED.type: record}, [topics.REGISTRY_ESTABLISHMENTS])])


# --- helpers ---------------------------------------------------------------------------------
def new_database(server_url: str, label: str) -> str:
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def config(service: str, db_url: str, kafka: str, **kw) -> Config:
    return Config(service=service, database_url=db_url, transport="kafka", kafka_bootstrap_servers=kafka,
                  kafka_partitions=PARTITIONS, log_level="WARNING", **kw)


def review_data(key: str, i: int) -> dict:
    return {"establishment_id": uuid.UUID(key), "period": "2020S1", "reviewed_on": date(2020, 6, 1),
            "outcome": f"review {i}: đạt yêu cầu", "risk_level": "low", "commune_code": "03646",
            "district_code": "116"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def setup(pg: str, kafka: str, label: str):
    transport = KafkaTransport(kafka, partitions=PARTITIONS)
    registry = bootstrap(discover(("registry",))["registry"],
                         config("registry", new_database(pg, f"registry_{label}"), kafka), transport)
    registry.migrate()
    group = f"bench-sink-{label}-{uuid.uuid4().hex[:6]}"
    sink = bootstrap(sink_service(group), config("benchsink", new_database(pg, f"sink_{label}"), kafka), transport)
    sink_metadata.create_all(sink.engine)
    transport.ensure_topics(sorted({*registry.topics(), *sink.topics()}))
    return registry, sink, group


def skip_to_end(kafka: str, group: str, topic: str) -> None:
    """Commit the group's offsets at the end of the topic, so it reads only what comes next."""
    c = KafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
    c.assign(tps)
    c.seek_to_end(*tps)
    c.commit({tp: OffsetAndMetadata(c.position(tp), "", -1) for tp in tps})
    c.close()


def start_threads(registry, sink, stop: threading.Event, poll_interval: float) -> list[threading.Thread]:
    relay = registry.relay()
    (runner,) = sink.consumer_runners()
    threads = [threading.Thread(target=relay.run, args=(stop, poll_interval), daemon=True, name="relay"),
               threading.Thread(target=runner.run, args=(stop,), daemon=True, name="consumer")]
    for t in threads:
        t.start()
    return threads


# --- 1. the event pipeline -----------------------------------------------------------------------
def pipeline(pg: str, kafka: str, n: int, batch: int, keys: int, timeout: float) -> dict:
    registry, sink, group = setup(pg, kafka, "pipeline")
    skip_to_end(kafka, group, topics.REGISTRY_ESTABLISHMENTS)
    key_pool = [str(uuid.uuid4()) for _ in range(keys)]
    committed_at.clear()
    stop = threading.Event()
    written = {}

    def write():
        for start in range(0, n, batch):
            with registry.uow() as uow:
                for i in range(start, min(n, start + batch)):
                    uow.publish(REVIEWED, key_pool[i % keys], review_data(key_pool[i % keys], i))
                uow.commit()
        written["t"] = time.perf_counter()

    t0 = time.perf_counter()
    threads = start_threads(registry, sink, stop, registry.config.relay_poll_interval)
    writer = threading.Thread(target=write, name="writer")
    writer.start()
    deadline = time.monotonic() + timeout
    while len(committed_at) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    t_end = time.perf_counter()
    done = len(committed_at)
    stop.set()
    writer.join()
    for t in threads:
        t.join(15)
    with sink.engine.connect() as conn:
        rows = conn.execute(select(applied.c.event_id)).scalars().all()
    outbox = registry.service.tables["outbox"]
    with registry.engine.connect() as conn:
        messages = conn.execute(select(outbox.c.message_key, outbox.c.payload).order_by(outbox.c.id)).all()
    elapsed = t_end - t0
    result = {
        "events": n, "applied": done, "applied_rows": len(rows), "applied_twice": len(rows) - len(set(rows)),
        "seconds": elapsed, "events_per_s": done / elapsed, "outbox_write_s": written["t"] - t0,
        "outbox_write_events_per_s": n / (written["t"] - t0), "batch": batch, "keys": keys,
        "relay_batch_size": registry.config.relay_batch_size,
        "mean_payload_bytes": statistics.mean(len(m.payload.encode()) for m in messages),
    }
    registry.dispose()
    sink.dispose()
    return result, [(m.message_key.encode(), m.payload.encode()) for m in messages]


def baseline(kafka: str, messages: list[tuple[bytes, bytes]], timeout: float) -> dict:
    """Plain kafka-python: the same messages produced (acks=all, as the relay) and consumed, at once."""
    topic = f"bench.baseline.{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka, group_id=f"bench-baseline-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=True)
    consumer.poll(timeout_ms=1000)  # join the group before the clock starts (the pipeline's consumer has too)
    producer = KafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True, linger_ms=5)
    got = {"n": 0}
    n = len(messages)

    def consume():
        deadline = time.monotonic() + timeout
        while got["n"] < n and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200, max_records=500).values():
                got["n"] += len(records)

    t0 = time.perf_counter()
    reader = threading.Thread(target=consume)
    reader.start()
    for key, value in messages:
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    t_produced = time.perf_counter()
    reader.join()
    elapsed = time.perf_counter() - t0
    producer.close()
    consumer.close()
    return {"events": n, "consumed": got["n"], "seconds": elapsed, "events_per_s": got["n"] / elapsed,
            "produce_s": t_produced - t0}


# --- 3. freshness -------------------------------------------------------------------------------
def freshness(pg: str, kafka: str, rate: float, duration: float) -> dict:
    registry, sink, group = setup(pg, kafka, f"fresh{int(rate)}")
    skip_to_end(kafka, group, topics.REGISTRY_ESTABLISHMENTS)
    committed_at.clear()
    stop = threading.Event()
    threads = start_threads(registry, sink, stop, registry.config.relay_poll_interval)
    time.sleep(3)  # let the consumer join its group
    written: dict[str, float] = {}
    n = int(rate * duration)
    t0 = time.perf_counter()
    late = 0
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            late += 1
        key = str(uuid.uuid4())
        with registry.uow() as uow:  # one event per transaction, like one HTTP write
            event_id = uow.publish(REVIEWED, key, review_data(key, i))
            uow.commit()
        written[event_id] = time.time()
    achieved = n / (time.perf_counter() - t0)
    deadline = time.monotonic() + 60
    while len(set(written) & set(committed_at)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(15)
    lat = [committed_at[e] - t for e, t in written.items() if e in committed_at]
    registry.dispose()
    sink.dispose()
    return {"rate": rate, "achieved_rate": achieved, "duration_s": duration, "events": n, "applied": len(lat),
            "writes_behind_schedule": late, "p50_s": pct(lat, 50), "p95_s": pct(lat, 95), "p99_s": pct(lat, 99),
            "max_s": max(lat) if lat else float("nan"),
            "relay_poll_interval_s": registry.config.relay_poll_interval}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True, help="SQLAlchemy URL of the server's postgres database")
    ap.add_argument("--kafka", required=True)
    ap.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", "20000")))
    ap.add_argument("--batch", type=int, default=100, help="events per outbox transaction")
    ap.add_argument("--keys", type=int, default=5000, help="distinct message keys (aggregates)")
    ap.add_argument("--rates", default=os.environ.get("BENCH_FRESH_RATES", "100,200"))
    ap.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_FRESH_SECONDS", "20")))
    ap.add_argument("--only", choices=["pipeline", "freshness"], default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out: dict = {}
    if args.only in (None, "pipeline"):
        print(f"pipeline: {args.events} events ...", flush=True)
        result, messages = pipeline(args.pg, args.kafka, args.events, args.batch, args.keys, timeout=900)
        print(f"  {result['events_per_s']:.0f} events/s ({result['applied']}/{args.events} applied)", flush=True)
        print("baseline: plain kafka-python, same messages ...", flush=True)
        base = baseline(args.kafka, messages, timeout=300)
        print(f"  {base['events_per_s']:.0f} events/s", flush=True)
        out["pipeline"] = {**result, "baseline": base, "ratio": result["events_per_s"] / base["events_per_s"],
                           "goal_ratio": 0.5}
    if args.only in (None, "freshness"):
        out["freshness"] = []
        for rate in [float(r) for r in args.rates.split(",") if r]:
            print(f"freshness at {rate:.0f} writes/s for {args.duration:.0f} s ...", flush=True)
            f = freshness(args.pg, args.kafka, rate, args.duration)
            print(f"  p50 {f['p50_s']*1000:.0f} ms, p95 {f['p95_s']*1000:.0f} ms, p99 {f['p99_s']*1000:.0f} ms "
                  f"({f['applied']}/{f['events']} applied)", flush=True)
            out["freshness"].append(f)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
