"""The distributed system the HTTP benchmarks run against: each service under gunicorn + its worker.

    system = start_system(pg_url, kafka, ["registry", "inspection"], workdir)
    ...
    stop_system(system)

Each service gets a fresh PostgreSQL database of its own on the given server (named
``bench_<label>_<service>_<random>``, dropped by `stop_system`), is migrated, and runs as
``lanhmanh serve SERVICE --workers N`` (gunicorn master + N workers, 4 threads each: the settings
of production) and ``lanhmanh worker SERVICE`` (outbox relay + consumers), in consumer groups of
this run only, which start at the end of their topics (`skip_history`). Tokens are signed with a secret of this run. Used by `bench.http_writes`,
`bench.load` and their smoke test, so that all three start the processes the same way as
`bench/run.sh` did by hand before.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.engine import make_url

ALL_SERVICES = ("registry", "inspection", "cases", "support", "reporting")
BIN = Path(sys.executable).parent


@dataclass
class ServiceProcesses:
    name: str
    base_url: str
    database_url: str
    web: subprocess.Popen  # the gunicorn master; its workers are its children
    worker: subprocess.Popen


@dataclass
class System:
    pg_url: str
    kafka: str
    secret: str
    env: dict
    workdir: Path
    services: dict[str, ServiceProcesses] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        """``/registry/v1/...`` → the URL of the process that serves that service."""
        return self.services[path.lstrip("/").split("/", 1)[0]].base_url + path

    def token(self, *roles: str, district: str | None = "116") -> str:
        """A bearer token signed with this run's secret (district 116 = Thành phố Sơn La by default)."""
        from chassis.auth import Authenticator

        return Authenticator(self.secret, None, "lanhmanh").issue(f"bench-{uuid.uuid4().hex[:6]}", list(roles),
                                                                  district)

    def headers(self, *roles: str, district: str | None = "116") -> dict:
        return {"Authorization": f"Bearer {self.token(*roles, district=district)}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(pg_url: str, name: str) -> str:
    """Make an empty database on the server of ``pg_url``; return its URL."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def drop_database(pg_url: str, name: str) -> None:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def spawn(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A child in a session of its own, so that stopping it also stops its gunicorn workers."""
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(url: str, processes: list[subprocess.Popen], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            if p.poll() is not None:
                raise RuntimeError(f"exited early ({p.returncode}): {' '.join(p.args)}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def skip_history(kafka: str, prefix: str, services) -> None:
    """Commit every consumer group of ``services`` at the end of its topics, so that the run's services
    read only the events of this run, not the history of a shared broker (or of the benchmarks before:
    benchmark 1 alone leaves 20 000 events on the registry's topic)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from chassis.service import discover

    for service in discover(tuple(services)).values():
        for spec in service.consumers:
            consumer = KafkaConsumer(bootstrap_servers=kafka, group_id=prefix + spec.name, enable_auto_commit=False)
            try:
                tps = [TopicPartition(topic, p) for topic in spec.topics
                       for p in consumer.partitions_for_topic(topic) or []]
                consumer.assign(tps)
                consumer.seek_to_end(*tps)
                consumer.commit({tp: OffsetAndMetadata(consumer.position(tp), "", -1) for tp in tps})
            finally:
                consumer.close()


def start_system(pg_url: str, kafka: str, services, workdir: Path, label: str = "http",
                 web_workers: int = 2) -> System:
    """Start ``services`` (web + worker each) on fresh databases; wait until every one is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:8]
    secret = f"bench-secret-{uuid.uuid4().hex}"
    env = {**os.environ, "EVENT_TRANSPORT": "kafka", "KAFKA_BOOTSTRAP_SERVERS": kafka, "KAFKA_PARTITIONS": "6",
           "JWT_SECRET": secret, "LOG_LEVEL": "WARNING", "LANHMANH_VAR_DIR": str(workdir / "var"),
           "KAFKA_CONSUMER_GROUP_PREFIX": f"bench-{label}-{run_id}-"}
    env.pop("DATABASE_URL", None)
    system = System(pg_url, kafka, secret, env, workdir)
    try:
        urls = {}
        for name in services:
            db = f"bench_{label}_{name}_{run_id}"
            urls[name] = create_database(pg_url, db)
            system.databases.append(db)
            env[f"{name.upper()}_DATABASE_URL"] = urls[name]
        subprocess.run([str(BIN / "lanhmanh"), "migrate", *services], env=env, check=True, capture_output=True)
        subprocess.run([str(BIN / "lanhmanh"), "topics"], env=env, check=True, capture_output=True)
        skip_history(kafka, env["KAFKA_CONSUMER_GROUP_PREFIX"], services)
        for name in services:
            port = free_port()
            web = spawn([str(BIN / "lanhmanh"), "serve", name, "--bind", f"127.0.0.1:{port}",
                         "--workers", str(web_workers)], env, workdir / f"{name}-web.log")
            worker = spawn([str(BIN / "lanhmanh"), "worker", name], env, workdir / f"{name}-worker.log")
            system.services[name] = ServiceProcesses(name, f"http://127.0.0.1:{port}", urls[name], web, worker)
        every = [p for s in system.services.values() for p in (s.web, s.worker)]
        for name, s in system.services.items():
            wait_ready(f"{s.base_url}/{name}/readyz", every)
    except BaseException:
        stop_system(system)
        raise
    return system


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, wait, then SIGKILL what is left."""
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def stop_system(system: System) -> None:
    stop_processes([p for s in system.services.values() for p in (s.web, s.worker)])
    for db in system.databases:
        drop_database(system.pg_url, db)


def outbox_backlog(system: System, timeout: float = 30.0) -> dict[str, dict]:
    """Wait (at most ``timeout`` s) until every service's worker published its whole outbox."""
    engines = {name: create_engine(s.database_url) for name, s in system.services.items()}
    deadline = time.monotonic() + timeout
    try:
        while True:
            counts = {}
            for name, engine in engines.items():
                with engine.connect() as conn:
                    pending, total = conn.execute(text(
                        "SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM outbox")).one()
                counts[name] = {"outbox_rows": total, "pending": pending}
            if all(c["pending"] == 0 for c in counts.values()) or time.monotonic() > deadline:
                return counts
            time.sleep(0.5)
    finally:
        for engine in engines.values():
            engine.dispose()


def wait_known_to_inspection(system: System, ids: list[str], timeout: float = 120.0) -> None:
    """Wait until the inspection service's local copy (fed by the registry's events) holds ``ids``."""
    engine = create_engine(system.services["inspection"].database_url)
    query = text("SELECT count(*) FROM establishments WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                if conn.execute(query, {"ids": list(ids)}).scalar_one() >= len(set(ids)):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the inspection service did not learn {len(ids)} establishments in {timeout:.0f} s")
            time.sleep(0.3)
    finally:
        engine.dispose()
