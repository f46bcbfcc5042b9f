"""Benchmarks 1 (event pipeline), 3 (freshness) and 5 (replay) of issue 9.

    python -m bench.pipeline --pg URL --kafka HOST:PORT --out results.json [--only pipeline|freshness]

1. Event pipeline: N ``inspection.inspection.completed`` events (one per inspection, over every
   commune of Sơn La and two years of dates) are written to the inspection service's outbox on
   PostgreSQL first (``Container.uow()`` + ``uow.publish``, batches of 100; timed on its own), then
   the real workers run as production runs them, each a process of its own: ``lanhmanh worker
   reporting`` (its live consumer: the projection handlers write ``p_inspections`` and the monthly
   rollup, inbox in the same transaction) and ``lanhmanh worker inspection`` (the outbox relay to
   Kafka). The figure is N divided by the time from the first outbox row published to the last
   inbox row written in reporting (both read from the databases). It is measured once per count of
   ``--reporting-workers`` (default 1 and 2: one consumer group whose members share the partitions,
   as the HorizontalPodAutoscaler adds workers under load); the last count's is the headline.
   Baseline, same run, same broker: plain kafka-python producing the *same* messages (the payloads
   read back from the outbox: same keys, sizes and headers; acks=all and idempotent, as the relay)
   to a topic with the same partition count, and a plain kafka-python consumer in another process
   reading them; from the first send to the last message received. Run just before the workers start
   and just after they stop (`bench.bracket`): the ratio is against the mean of the two, and the
   verdict (ratio ≥ 0.5) is ``yes`` or ``no`` only when the ratio against each run says the same,
   ``unsteady`` otherwise (the machine moved enough during the figure to decide it).
5. Replay: then reporting is rebuilt from the start of the topics (`handlers.start_rebuild` + a
   fresh consumer group, as ``POST /reporting/v1/admin/rebuild`` does), events per second; the
   rebuilt projections must equal the live ones (checked: the count of inspections per commune).
3. Freshness: the registry under gunicorn and the reporting service (each ``lanhmanh serve`` +
   ``lanhmanh worker``, `bench.system`) on PostgreSQL and Kafka; establishments are registered over
   HTTP at a fixed rate, open loop, by two writer processes (`bench.fresh_writer`); the latency is
   from the 201 to the moment the establishment is counted in reporting's projection (a poller reads
   reporting's database every 10 ms), p50/p95/p99, wall-clock times of one machine.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from sqlalchemy import bindparam, create_engine, func, select, text

from bench.bracket import Bracket
from bench.system import (BIN, create_database, drop_database, skip_history, spawn, start_system, stop_processes,
                          stop_system)
from chassis.auth import ADMIN, Principal
from chassis.config import Config
from chassis.service import bootstrap, discover
from chassis.transport.kafka import KafkaTransport
from contracts.events import inspection as inspection_events
from contracts.refdata import units

PARTITIONS = 6  # as in production and in the integration tests
GOAL_RATIO = 0.5
COMPLETED = inspection_events.INSPECTION_COMPLETED
SON_LA = "14"


# --- helpers ---------------------------------------------------------------------------------
def config(service: str, db_url: str, kafka: str, prefix: str) -> Config:
    return Config(service=service, database_url=db_url, transport="kafka", kafka_bootstrap_servers=kafka,
                  kafka_partitions=PARTITIONS, log_level="WARNING", consumer_group_prefix=prefix)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def son_la_communes() -> list[tuple[str, str]]:
    admin = units()
    return [(c.code, d.code) for d in admin.districts_in(SON_LA) for c in admin.communes_in(d.code)]


def completed_inspection(i: int, communes: list[tuple[str, str]], rng: random.Random) -> tuple[str, dict]:
    commune, district = communes[i % len(communes)]
    inspection_id = uuid.uuid4()
    passed = rng.random() < 0.8
    return str(inspection_id), {
        "inspection_id": inspection_id, "establishment_id": uuid.uuid4(), "plan_id": None,
        "kind": "specialised", "agency": "police", "commune_code": commune, "district_code": district,
        "conducted_on": date(2019, 1, 1) + timedelta(days=rng.randrange(730)), "passed": passed,
        "violation_codes": [] if passed else ["ND144-2021-D6-K3"], "sanctions": [] if passed else ["fine"],
        "fines_total_vnd": 0 if passed else 5_000_000, "signs_of_prostitution": not passed and rng.random() < 0.2,
        "people_identified": 0, "people_consenting_to_referral": 0, "reinspection_id": None,
    }


class Containers:
    """The inspection service (the source outbox) and the reporting service (the sink), on fresh
    databases of the benchmark's PostgreSQL, in consumer groups of this run only."""

    def __init__(self, pg: str, kafka: str, label: str):
        run = uuid.uuid4().hex[:8]
        self.pg, self.prefix = pg, f"bench-{label}-{run}-"
        self.databases = [f"bench_{label}_inspection_{run}", f"bench_{label}_reporting_{run}"]
        transport = KafkaTransport(kafka, partitions=PARTITIONS)
        services = discover(("inspection", "reporting"))
        self.inspection = bootstrap(services["inspection"], config(
            "inspection", create_database(pg, self.databases[0]), kafka, self.prefix), transport)
        self.reporting = bootstrap(services["reporting"], config(
            "reporting", create_database(pg, self.databases[1]), kafka, self.prefix), transport)
        self.inspection.migrate()
        self.reporting.migrate()
        transport.ensure_topics(sorted({*self.inspection.topics(), *self.reporting.topics()}))
        skip_history(kafka, self.prefix, ["inspection", "reporting"])  # this run's events, not the broker's history

    def inbox_count(self, consumer: str) -> int:
        inbox = self.reporting.service.tables["inbox"]
        with self.reporting.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(inbox).where(inbox.c.consumer == consumer)).scalar_one()

    def first_published_last_applied(self, consumer: str):
        outbox, inbox = self.inspection.service.tables["outbox"], self.reporting.service.tables["inbox"]
        with self.inspection.engine.connect() as conn:
            first = conn.execute(select(func.min(outbox.c.published_at))).scalar_one()
        with self.reporting.engine.connect() as conn:
            last = conn.execute(select(func.max(inbox.c.applied_at)).where(inbox.c.consumer == consumer)).scalar_one()
        return first, last

    def inspections_per_commune(self) -> dict[str, int]:
        with self.reporting.engine.connect() as conn:
            return dict(conn.execute(text("SELECT commune_code, count(*) FROM p_inspections GROUP BY commune_code")).all())

    def close(self) -> None:
        self.inspection.dispose()
        self.reporting.dispose()
        for name in self.databases:
            drop_database(self.pg, name)


# --- 1. the event pipeline, and 5. the replay ---------------------------------------------------
def worker_env(system: Containers, kafka: str, workdir: Path) -> dict:
    env = {**os.environ, "EVENT_TRANSPORT": "kafka", "KAFKA_BOOTSTRAP_SERVERS": kafka,
           "KAFKA_PARTITIONS": str(PARTITIONS), "KAFKA_CONSUMER_GROUP_PREFIX": system.prefix, "LOG_LEVEL": "WARNING",
           "LANHMANH_VAR_DIR": str(workdir), "INSPECTION_DATABASE_URL": system.inspection.config.database_url,
           "REPORTING_DATABASE_URL": system.reporting.config.database_url}
    env.pop("DATABASE_URL", None)
    return env


def wait_for_group(kafka: str, group: str, timeout: float = 60, members: int = 1) -> None:
    """Until the consumer group is stable with ``members`` members (the workers are reading)."""
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                described = admin.describe_groups([group])[group]
                if described["group_state"] == "Stable" and len(described["members"]) >= members:
                    return
            except Exception:  # noqa: BLE001 - no coordinator until a member joins
                pass
            time.sleep(0.3)
        raise RuntimeError(f"consumer group {group} did not become stable in {timeout:.0f} s")
    finally:
        admin.close()


def pipeline(pg: str, kafka: str, n: int, batch: int, timeout: float, workdir: Path, reporting_workers: int = 1,
             replay_with: Counter | None = None) -> tuple[dict, dict | None, Counter]:
    """The outbox filled first, then the real workers as production runs them: ``lanhmanh worker
    inspection`` (the relay) and ``reporting_workers`` processes of ``lanhmanh worker reporting``
    (the projections; one consumer group sharing the partitions, as the HorizontalPodAutoscaler
    scales a worker under load, deploy/k8s/base/service/hpa.yaml); the baseline run on the same
    messages just before the workers start and just after they stop (`bench.bracket`). With
    ``replay_with`` (the inspections per commune that earlier runs left on this broker), then the
    replay, whose rebuilt projection must hold those and this run's. Returns the figures (with the
    baseline's two runs, the ratio and the verdict), the replay's and this run's inspections per
    commune."""
    system = Containers(pg, kafka, "pipeline")
    workers = []
    try:
        communes, rng = son_la_communes(), random.Random(9)
        events = [completed_inspection(i, communes, rng) for i in range(n)]
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            with system.inspection.uow() as uow:
                for key, data in events[start:start + batch]:
                    uow.publish(COMPLETED, key, data)
                uow.commit()
        write_s = time.perf_counter() - t0
        outbox = system.inspection.service.tables["outbox"]
        with system.inspection.engine.connect() as conn:
            messages = [(m.message_key.encode(), m.payload.encode()) for m in conn.execute(
                select(outbox.c.message_key, outbox.c.payload).order_by(outbox.c.id))]
        before = baseline(kafka, messages, min(timeout, 600))
        env = worker_env(system, kafka, workdir)
        for k in range(reporting_workers):
            workers.append(spawn([str(BIN / "lanhmanh"), "worker", "reporting"], env,
                                 workdir / f"reporting-worker-{k}.log"))
        from services.reporting.handlers import LIVE_GROUP

        wait_for_group(kafka, system.prefix + LIVE_GROUP, members=reporting_workers)
        workers.append(spawn([str(BIN / "lanhmanh"), "worker", "inspection"], env, workdir / "inspection-worker.log"))
        deadline = time.monotonic() + timeout
        while (done := system.inbox_count(LIVE_GROUP)) < n and time.monotonic() < deadline:
            if any(w.poll() is not None for w in workers):
                raise RuntimeError(f"a worker exited; see {workdir}")
            # a count(*) of an inbox of 100 000 rows costs PostgreSQL 12-17 ms: once a second, not
            # five times, takes little from the system measured (the clock is the database's times)
            time.sleep(1.0)
        stop_processes(workers)
        after = baseline(kafka, messages, min(timeout, 600))
        first, last = system.first_published_last_applied(LIVE_GROUP)
        elapsed = (last - first).total_seconds()
        rate = done / elapsed
        bracket = Bracket(before, after)
        base_rate = bracket.mean("events_per_s")
        live_counts = Counter(system.inspections_per_commune())
        result = {
            "events": n, "applied": done, "projected_inspections": sum(live_counts.values()),
            "seconds": elapsed, "events_per_s": rate, "outbox_fill_s": write_s,
            "outbox_fill_events_per_s": n / write_s, "batch": batch,
            "relay_batch_size": system.inspection.config.relay_batch_size, "reporting_workers": reporting_workers,
            "consumer_batch_size": system.reporting.config.consumer_batch_size,
            "clock": "first outbox row published -> last inbox row of reporting written (database times)",
            "mean_payload_bytes": statistics.mean(len(value) for _, value in messages),
            "baseline": bracket.as_baseline("events_per_s"), "ratio": rate / base_rate, "goal_ratio": GOAL_RATIO,
            "verdict": bracket.verdict(lambda b: rate / b["events_per_s"] >= GOAL_RATIO),
        }
        replayed = replay(system, replay_with + live_counts, timeout) if replay_with is not None else None
        if replayed is not None:
            replayed.update(baseline_events_per_s=base_rate, ratio=replayed["events_per_s"] / base_rate)
        return result, replayed, live_counts
    finally:
        stop_processes(workers)
        system.close()


def replay(system: Containers, live_counts: Counter, timeout: float) -> dict:
    """Rebuild reporting from the start of every topic, as an administrator's rebuild does; the
    rebuilt projection must hold ``live_counts`` (what every run on this broker projected live)."""
    from services.reporting import handlers

    actor = Principal("bench", frozenset({ADMIN}))
    t0 = time.perf_counter()
    group = handlers.start_rebuild(system.reporting.uow(), actor)
    runner = system.reporting.runner_for(handlers.replay_spec(group))
    handled = handlers.replay(runner, timeout=timeout, quiet=5.0)
    elapsed = time.perf_counter() - t0
    rebuilt = Counter(system.inspections_per_commune())
    return {"messages": handled, "seconds": elapsed, "events_per_s": handled / elapsed,
            "projected_inspections": sum(rebuilt.values()), "equals_live": rebuilt == live_counts,
            "note": "reads every topic from its start: the events of every run on the same broker"}


def baseline(kafka: str, messages: list[tuple[bytes, bytes]], timeout: float) -> dict:
    """Plain kafka-python: the same messages produced (acks=all, idempotent, as the relay) by this
    process and consumed by another (as the relay's and the consumer's workers are two processes)."""
    topic = f"bench.baseline.{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()
    n = len(messages)
    reader = subprocess.Popen([sys.executable, "-m", "bench.plain_consumer", "--kafka", kafka, "--topic", topic,
                               "--count", str(n), "--timeout", str(timeout)], stdout=subprocess.PIPE, text=True)
    if reader.stdout.readline().strip() != "ready":
        raise RuntimeError("the baseline consumer did not start")
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    producer = KafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True, linger_ms=5)
    t0 = time.time()
    for key, value in messages:
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    produce_s = time.time() - t0
    producer.close()
    done = json.loads(reader.stdout.readline())
    reader.wait(30)
    elapsed = done["last"] - t0
    return {"events": n, "consumed": done["consumed"], "seconds": elapsed,
            "events_per_s": done["consumed"] / elapsed, "produce_s": produce_s,
            "processes": "producer and consumer in two processes"}


# --- 3. freshness: from a 201 to the establishment counted in reporting ----------------------------
class Poller:
    """Notes when each establishment first shows in reporting's projection (every 10 ms)."""

    def __init__(self, database_url: str):
        self.engine = create_engine(database_url)
        self.waiting: dict[str, float] = {}  # id -> time.time() of its 201 (in the writer's process)
        self.latency: dict[str, float] = {}
        self.lock = threading.Lock()
        self.query = text("SELECT id FROM p_establishments WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True))

    def expect(self, establishment_id: str, at: float) -> None:
        with self.lock:
            self.waiting[establishment_id] = at

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self.lock:
                ids = list(self.waiting)
            if ids:
                with self.engine.connect() as conn:
                    seen = conn.execute(self.query, {"ids": ids}).scalars().all()
                now = time.time()
                with self.lock:
                    for i in seen:
                        self.latency[i] = now - self.waiting.pop(i)
            stop.wait(0.01)


def freshness(pg: str, kafka: str, rate: float, duration: float, workdir: Path, writers: int = 2) -> dict:
    system = start_system(pg, kafka, ["registry", "reporting"], workdir / f"fresh{int(rate)}", label="fresh")
    stop = threading.Event()
    try:
        poller = Poller(system.services["reporting"].database_url)
        polling = threading.Thread(target=poller.run, args=(stop,), daemon=True)
        polling.start()
        start_at = time.time() + 2
        procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.fresh_writer", "--url", system.url("/registry/v1/establishments"),
             "--token", system.token("police"), "--rate", str(rate), "--seconds", str(duration),
             "--start-at", str(start_at), "--offset", str(k), "--step", str(writers)],
            stdout=subprocess.PIPE, text=True) for k in range(writers)]
        errors, late = [], 0

        def read(proc) -> None:
            nonlocal late
            for line in proc.stdout:
                first, _, rest = line.strip().partition(" ")
                if first == "ERROR":
                    errors.append(rest)
                elif first == "DONE":
                    late += int(rest.split("=")[1])
                else:
                    poller.expect(first, float(rest))
        readers = [threading.Thread(target=read, args=(p,), daemon=True) for p in procs]
        for r in readers:
            r.start()
        for p in procs:
            p.wait(duration + 120)
        for r in readers:
            r.join(10)
        n = int(rate * duration)
        deadline = time.monotonic() + 60
        while poller.waiting and time.monotonic() < deadline:
            time.sleep(0.05)
        lat = list(poller.latency.values())
        return {"rate": rate, "duration_s": duration, "writes": n, "writers": writers,
                "answered_201": len(lat) + len(poller.waiting), "counted_in_reporting": len(lat),
                "errors": len(errors), "first_errors": errors[:3], "writes_behind_schedule": late,
                "p50_s": pct(lat, 50), "p95_s": pct(lat, 95), "p99_s": pct(lat, 99),
                "max_s": max(lat) if lat else float("nan")}
    finally:
        stop.set()
        stop_system(system)


def _counts(text: str) -> list[int]:
    """``1,2`` -> [1, 2]: worker counts, at least one, each at least 1."""
    counts = [int(c) for c in text.split(",") if c.strip()]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("give worker counts of at least 1, e.g. 1,2")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", required=True, help="SQLAlchemy URL of the server's postgres database")
    ap.add_argument("--kafka", required=True)
    ap.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", "100000")))
    ap.add_argument("--batch", type=int, default=100, help="events per outbox transaction")
    ap.add_argument("--rates", default=os.environ.get("BENCH_FRESH_RATES", "100,200"))
    ap.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_FRESH_SECONDS", "20")))
    ap.add_argument("--only", choices=["pipeline", "freshness"], default=None)
    ap.add_argument("--reporting-workers", type=_counts, default=os.environ.get("BENCH_REPORTING_WORKERS", "1,2"),
                    help="worker processes of reporting, one pipeline run per count (the last also replays)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out: dict = {}
    if args.only in (None, "pipeline"):
        counts = args.reporting_workers
        runs, projected = [], Counter()
        for i, count in enumerate(counts):
            print(f"pipeline: {args.events} events inspection outbox -> Kafka -> reporting projections "
                  f"({count} reporting worker{'s' if count > 1 else ''}), between two runs of the baseline "
                  f"(plain kafka-python, the same messages) ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="lanhmanh-pipeline-") as workdir:
                result, replayed, live = pipeline(
                    args.pg, args.kafka, args.events, args.batch, 1800, Path(workdir), count,
                    replay_with=projected if i == len(counts) - 1 else None)
            projected += live
            b = result["baseline"]
            print(f"  {result['events_per_s']:.0f} events/s ({result['applied']}/{args.events} applied); baseline "
                  f"{b['before']['events_per_s']:.0f} before, {b['after']['events_per_s']:.0f} after: "
                  f"ratio {result['ratio']:.2f}, goal met: {result['verdict']}", flush=True)
            runs.append(result)
        print(f"replay: {replayed['events_per_s']:.0f} events/s ({replayed['messages']} messages, "
              f"rebuilt == live: {replayed['equals_live']})", flush=True)
        out["pipeline"] = {**result, "by_reporting_workers": {str(r["reporting_workers"]): {
            "events_per_s": r["events_per_s"], "ratio": r["ratio"], "verdict": r["verdict"], "seconds": r["seconds"],
            "baseline_events_per_s": r["baseline"]["events_per_s"]} for r in runs}}
        out["replay"] = replayed
    if args.only in (None, "freshness"):
        out["freshness"] = []
        with tempfile.TemporaryDirectory(prefix="lanhmanh-fresh-") as workdir:
            for rate in [float(r) for r in args.rates.split(",") if r]:
                print(f"freshness at {rate:.0f} writes/s for {args.duration:.0f} s ...", flush=True)
                f = freshness(args.pg, args.kafka, rate, args.duration, Path(workdir))
                print(f"  p50 {f['p50_s']*1000:.0f} ms, p95 {f['p95_s']*1000:.0f} ms, p99 {f['p99_s']*1000:.0f} ms "
                      f"({f['counted_in_reporting']}/{f['writes']} counted, {f['errors']} errors, "
                      f"{f['writes_behind_schedule']} sent late)", flush=True)
                out["freshness"].append(f)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
