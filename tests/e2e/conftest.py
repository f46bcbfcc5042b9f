"""The whole system over real HTTP, in both modes.

* embedded: `lanhmanh run` (one process, SQLite, the embedded event log);
* distributed: `lanhmanh serve registry` under gunicorn with two workers and
  `lanhmanh worker registry`, on PostgreSQL and Kafka.

Every end-to-end test runs against both (the ``system`` fixture is parametrised).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from chassis.auth import Authenticator
from tests.conftest import TEST_SECRET, require_env

BIN = Path(sys.executable).parent
TOPIC = "lanhmanh.registry.establishments"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class System:
    mode: str
    base_url: str
    read_events: Callable[[str], list[dict]]  # CloudEvents on the registry topic with this subject
    processes: list[subprocess.Popen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self, *roles: str, district: str | None = None, **extra) -> dict:
        jwt = Authenticator(TEST_SECRET, None, "lanhmanh").issue(f"e2e-{uuid.uuid4().hex[:6]}", list(roles), district)
        return {"Authorization": f"Bearer {jwt}", **extra}

    def events_for(self, subject: str, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.read_events(subject)
            if len(events) >= count:
                return events
            time.sleep(0.2)
        raise AssertionError(f"{self.mode}: fewer than {count} events for {subject} after {timeout}s")


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(url: str, processes: list[subprocess.Popen], logs: list[Path], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            if p.poll() is not None:
                raise RuntimeError(f"process exited early: {p.args}\n" + "\n".join(l.read_text()[-3000:] for l in logs))
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout}s\n" + "\n".join(l.read_text()[-3000:] for l in logs))


def _stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def _embedded(tmp: Path) -> System:
    from chassis.transport.embedded import EmbeddedTransport

    port = free_port()
    env = {**os.environ, "LANHMANH_VAR_DIR": str(tmp / "var"), "JWT_SECRET": TEST_SECRET, "EVENT_TRANSPORT": "embedded"}
    env.pop("DATABASE_URL", None)
    log = tmp / "run.log"
    process = _start([str(BIN / "lanhmanh"), "run", "--port", str(port), "--no-demo"], env, log)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(base + "/registry/readyz", [process], [log])

    def read_events(subject: str) -> list[dict]:
        transport = EmbeddedTransport(f"sqlite:///{tmp}/var/events.db")
        consumer = transport.consumer(f"e2e-reader-{uuid.uuid4().hex[:6]}", [TOPIC])
        events = [json.loads(m.value) for m in consumer.poll(0.05, 100000)]
        transport.engine.dispose()
        return [e for e in events if e.get("subject") == subject]

    return System("embedded", base, read_events, [process])


def _distributed(tmp: Path) -> System:
    from kafka import KafkaConsumer

    server_url = require_env("LANHMANH_TEST_DATABASE_URL")
    kafka = require_env("KAFKA_BOOTSTRAP_SERVERS")
    name = f"lm_e2e_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    db_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    port = free_port()
    env = {**os.environ, "REGISTRY_DATABASE_URL": db_url, "EVENT_TRANSPORT": "kafka",
           "KAFKA_BOOTSTRAP_SERVERS": kafka, "JWT_SECRET": TEST_SECRET, "KAFKA_PARTITIONS": "3"}
    subprocess.run([str(BIN / "lanhmanh"), "migrate", "registry"], env=env, check=True, capture_output=True)
    web_log, worker_log = tmp / "web.log", tmp / "worker.log"
    web = _start([str(BIN / "lanhmanh"), "serve", "registry", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                 env, web_log)
    worker = _start([str(BIN / "lanhmanh"), "worker", "registry"], env, worker_log)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(base + "/registry/readyz", [web, worker], [web_log, worker_log])
    reader = KafkaConsumer(TOPIC, bootstrap_servers=kafka, group_id=f"e2e-{uuid.uuid4().hex[:6]}",
                           auto_offset_reset="earliest", enable_auto_commit=False)
    seen: list[dict] = []

    def read_events(subject: str) -> list[dict]:
        for records in reader.poll(500).values():
            for r in records:
                event = json.loads(r.value)
                assert r.key.decode() == event["subject"]  # the key is the aggregate id
                seen.append(event)
        return [e for e in seen if e.get("subject") == subject]

    system = System("distributed", base, read_events, [web, worker])
    system._cleanup = lambda: (reader.close(), _drop(server_url, name))  # type: ignore[attr-defined]
    return system


def _drop(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def system(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    system = _embedded(tmp) if request.param == "embedded" else _distributed(tmp)
    yield system
    _stop(system.processes)
    cleanup = getattr(system, "_cleanup", None)
    if cleanup:
        cleanup()
