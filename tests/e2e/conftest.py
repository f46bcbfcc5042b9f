"""The whole system over real HTTP, in both modes.

* embedded: `lanhmanh run` (one process, SQLite, the embedded event log);
* distributed: `lanhmanh serve registry` under gunicorn with two workers and
  `lanhmanh worker registry`, on PostgreSQL and Kafka.

Every end-to-end test runs against both (the ``system`` fixture is parametrised).
"""
from __future__ import annotations

import json
import os
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
from bench.system import stop_processes
from tests.support.infra import free_port

BIN = Path(sys.executable).parent
TOPIC = "lanhmanh.registry.establishments"
LOG_TAIL = 25


@dataclass
class System:
    mode: str
    base_urls: dict[str, str]  # service name -> http://127.0.0.1:port (one port for all when embedded)
    read_events: Callable[[str, str], list[dict]]  # (topic, subject) -> the CloudEvents on it so far
    processes: list[subprocess.Popen] = field(default_factory=list)
    env: dict = field(default_factory=dict)  # the environment its processes run with (databases, broker)
    logs: list[Path] = field(default_factory=list)  # what its processes print, shown when a test fails

    def publish(self, event_type, key: str, data: dict, source: str = "/lanhmanh/test") -> str:
        """Put an event on its topic as another service's relay would; return its id."""
        from chassis.envelope import build
        from chassis.transport import Outgoing

        event_id, value = build(event_type, key, data, source)
        if self.mode == "embedded":
            from chassis.transport.embedded import EmbeddedTransport

            transport = EmbeddedTransport(f"sqlite:///{self.env['LANHMANH_VAR_DIR']}/events.db")
        else:
            from chassis.transport.kafka import KafkaTransport

            transport = KafkaTransport(self.env["KAFKA_BOOTSTRAP_SERVERS"], 6)
        transport.ensure_topics([event_type.topic])
        assert transport.producer().send([Outgoing(event_type.topic, key, value)], 30) == [None]
        return event_id

    def url(self, path: str) -> str:
        """``/registry/v1/...`` → the URL of the process that serves that service."""
        service = path.lstrip("/").split("/", 1)[0]
        return self.base_urls.get(service, next(iter(self.base_urls.values()))) + path

    def headers(self, *roles: str, district: str | None = None, **extra) -> dict:
        jwt = Authenticator(TEST_SECRET, None, "lanhmanh").issue(f"e2e-{uuid.uuid4().hex[:6]}", list(roles), district)
        return {"Authorization": f"Bearer {jwt}", **extra}

    def events_for(self, subject: str, count: int, timeout: float = 30.0, topic: str = TOPIC) -> list[dict]:
        """Wait until ``count`` events about ``subject`` are on ``topic``; return them in order."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.read_events(topic, subject)
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


def _embedded(tmp: Path) -> System:
    from chassis.transport.embedded import EmbeddedTransport

    port = free_port()
    env = {**os.environ, "LANHMANH_VAR_DIR": str(tmp / "var"), "JWT_SECRET": TEST_SECRET, "EVENT_TRANSPORT": "embedded"}
    env.pop("DATABASE_URL", None)
    log = tmp / "run.log"
    process = _start([str(BIN / "lanhmanh"), "run", "--port", str(port), "--no-demo"], env, log)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(base + "/registry/readyz", [process], [log])

    def read_events(topic: str, subject: str) -> list[dict]:
        transport = EmbeddedTransport(f"sqlite:///{tmp}/var/events.db")
        consumer = transport.consumer(f"e2e-reader-{uuid.uuid4().hex[:6]}", [topic])
        events = [json.loads(m.value) for m in consumer.poll(0.05, 100000)]
        transport.engine.dispose()
        return [e for e in events if e.get("subject") == subject]

    from chassis.service import discover

    return System("embedded", {name: base for name in discover()}, read_events, [process], env, [log])


def _distributed(tmp: Path) -> System:
    """Every installed service as its own gunicorn web process and worker, each with its own database."""
    from kafka import KafkaConsumer

    from chassis.service import discover
    from tests.support.kafka_reader import topic_reader

    server_url = require_env("LANHMANH_TEST_DATABASE_URL")
    kafka = require_env("KAFKA_BOOTSTRAP_SERVERS")
    env = {**os.environ, "EVENT_TRANSPORT": "kafka", "KAFKA_BOOTSTRAP_SERVERS": kafka, "JWT_SECRET": TEST_SECRET,
           "KAFKA_PARTITIONS": "6",
           # consumer groups of this system only: another system on the same broker cannot take its events
           "KAFKA_CONSUMER_GROUP_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}-"}
    databases, processes, logs, base_urls = [], [], [], {}
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    for service in discover():
        name = f"lm_e2e_{service}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        databases.append(name)
        env[f"{service.upper()}_DATABASE_URL"] = make_url(server_url).set(database=name).render_as_string(
            hide_password=False)
    admin.dispose()
    subprocess.run([str(BIN / "lanhmanh"), "migrate"], env=env, check=True, capture_output=True)
    for service in discover():
        port = free_port()
        web_log, worker_log = tmp / f"{service}-web.log", tmp / f"{service}-worker.log"
        processes.append(_start([str(BIN / "lanhmanh"), "serve", service, "--bind", f"127.0.0.1:{port}",
                                 "--workers", "2"], env, web_log))
        processes.append(_start([str(BIN / "lanhmanh"), "worker", service], env, worker_log))
        logs += [web_log, worker_log]
        base_urls[service] = f"http://127.0.0.1:{port}"
    for service, base in base_urls.items():
        _wait_ready(f"{base}/{service}/readyz", processes, logs)
    readers: dict[str, KafkaConsumer] = {}
    seen: dict[str, list[dict]] = {}

    def read_events(topic: str, subject: str) -> list[dict]:
        if topic not in readers:
            readers[topic] = topic_reader(kafka, topic, "e2e")
            seen[topic] = []
        for records in readers[topic].poll(500).values():
            for r in records:
                event = json.loads(r.value)
                assert r.key.decode() == event["subject"]  # the key is the aggregate id
                seen[topic].append(event)
        return [e for e in seen[topic] if e.get("subject") == subject]

    system = System("distributed", base_urls, read_events, processes, env, logs)
    system._cleanup = lambda: ([r.close() for r in readers.values()], [_drop(server_url, n) for n in databases])  # type: ignore[attr-defined]
    return system


def _drop(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the end of what the system's processes logged: a CI run keeps nothing else."""
    report = (yield).get_result()
    system = item.funcargs.get("system") if report.when == "call" and report.failed else None
    for path in getattr(system, "logs", []):
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        report.sections.append((f"{system.mode} {path.name} (last {LOG_TAIL} of {len(lines)} lines)",
                                "\n".join(lines[-LOG_TAIL:])))


@pytest.fixture(scope="session", params=["embedded", "distributed"])
def system(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    system = _embedded(tmp) if request.param == "embedded" else _distributed(tmp)
    yield system
    stop_processes(system.processes)
    cleanup = getattr(system, "_cleanup", None)
    if cleanup:
        cleanup()
