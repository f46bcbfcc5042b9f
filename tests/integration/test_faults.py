"""Faults against the distributed mode with a real broker (issue 8): the broker goes away
for 30 seconds while writes keep coming."""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from chassis.auth import Authenticator
from chassis.consumer import ConsumerSpec
from chassis.service import bootstrap
from chassis.transport.kafka import KafkaTransport
from tests.conftest import TEST_SECRET, make_config

from tests.integration.conftest import wait_until
from bench.system import stop_processes
from tests.support import probe as probe_module
from tests.support.infra import PrivateBroker, PrivateDatabase, free_port
from tests.support.probe import applied_rows

pytestmark = pytest.mark.infra
BIN = Path(sys.executable).parent
OUTAGE_SECONDS = 30

def test_writes_acknowledged_during_a_30_second_broker_outage_reach_the_consumer_once(
        tmp_path, new_database):
    broker = PrivateBroker(tmp_path)
    broker.start()
    processes = []
    try:
        kafka = KafkaTransport(broker.bootstrap, partitions=6)
        env = {**os.environ, "REGISTRY_DATABASE_URL": new_database("registry"), "EVENT_TRANSPORT": "kafka",
               "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_PARTITIONS": "6", "JWT_SECRET": TEST_SECRET}
        subprocess.run([str(BIN / "lanhmanh"), "migrate", "registry"], env=env, check=True, capture_output=True)
        port = free_port()
        for command, log in (([str(BIN / "lanhmanh"), "serve", "registry", "--bind", f"127.0.0.1:{port}",
                               "--workers", "2"], "web.log"), ([str(BIN / "lanhmanh"), "worker", "registry"], "worker.log")):
            processes.append(subprocess.Popen(command, env=env, stdout=(tmp_path / log).open("wb"),
                                              stderr=subprocess.STDOUT, start_new_session=True))
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ok(f"{base}/registry/readyz"), 60, 0.3, "the registry")

        spec = probe_module.probe.consumers[0]
        probe = bootstrap(dataclasses.replace(probe_module.probe, consumers=[
            ConsumerSpec(f"probe-{uuid.uuid4().hex[:8]}", spec.handlers, spec.topics)]),
            make_config("probe", tmp_path, database_url=new_database("probe"), transport="kafka"), kafka)
        probe_module.metadata.create_all(probe.engine)
        (runner,) = probe.consumer_runners()
        stop = threading.Event()
        consuming = threading.Thread(target=runner.run, args=(stop,), daemon=True)
        consuming.start()

        headers = {"Authorization": "Bearer " + Authenticator(TEST_SECRET, None, "lanhmanh").issue("u", ["police"])}
        acknowledged, readiness_during_outage = [], []
        started = time.monotonic()
        outage = (5.0, 5.0 + OUTAGE_SECONDS)
        state = "up"
        while time.monotonic() - started < outage[1] + 5:
            elapsed = time.monotonic() - started
            if state == "up" and elapsed >= outage[0]:
                broker.stop()
                state = "down"
            elif state == "down" and elapsed >= outage[1]:
                broker.resume()
                state = "back"
            response = requests.post(f"{base}/registry/v1/establishments", headers=headers, timeout=15, json={
                "name": f"Nhà nghỉ Hoa Ban {len(acknowledged)}", "business_type": "accommodation",
                "owner_name": "Cầm Thị Hoa", "address": "Bản Mòng", "commune_code": "03646"})
            assert response.status_code == 201, response.text  # the API does not need the broker
            acknowledged.append(response.json()["id"])
            if state == "down" and len(readiness_during_outage) < 3:
                readiness_during_outage.append(requests.get(f"{base}/registry/readyz", timeout=15).status_code)
            time.sleep(0.1)

        assert state == "back" and len(acknowledged) > 100
        assert 503 in readiness_during_outage  # /readyz reported the outage
        wait_until(lambda: set(acknowledged) <= {r.subject for r in applied_rows(probe)}, 180, 1.0,
                   "every acknowledged write at the consumer")
        time.sleep(3)
        subjects = [r.subject for r in applied_rows(probe)]
        assert len(subjects) == len(set(subjects)) == len(acknowledged)  # each applied exactly once
        stop.set()
        consuming.join(15)
        probe.dispose()
    finally:
        stop_processes(processes)
        broker.stop()

def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False

def test_a_postgresql_restart_is_survived_without_restarting_the_service(tmp_path, kafka_servers):
    from sqlalchemy import create_engine, func, select

    from services.registry.tables import establishments, metadata

    database = PrivateDatabase()
    database.start()
    process = None
    try:
        env = {**os.environ, "REGISTRY_DATABASE_URL": database.url, "EVENT_TRANSPORT": "kafka",
               "KAFKA_BOOTSTRAP_SERVERS": kafka_servers, "JWT_SECRET": TEST_SECRET}
        subprocess.run([str(BIN / "lanhmanh"), "migrate", "registry"], env=env, check=True, capture_output=True)
        port = free_port()
        process = subprocess.Popen([str(BIN / "lanhmanh"), "serve", "registry", "--bind", f"127.0.0.1:{port}",
                                    "--workers", "2"], env=env, stdout=(tmp_path / "web.log").open("wb"),
                                   stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ok(f"{base}/registry/readyz"), 60, 0.3, "the registry")
        headers = {"Authorization": "Bearer " + Authenticator(TEST_SECRET, None, "lanhmanh").issue("u", ["police"])}

        def post(i):
            return requests.post(f"{base}/registry/v1/establishments", headers=headers, timeout=20, json={
                "name": f"Spa Ngọc Lan {i}", "business_type": "sauna_spa", "owner_name": "Lường Thị Lan",
                "address": "Tổ 3", "commune_code": "03646"})

        acknowledged = [post(i).json()["id"] for i in range(5)]
        database.stop()
        ready = requests.get(f"{base}/registry/readyz", timeout=20)
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        during = post(99)
        assert during.status_code == 503  # a clear "try again", not a 500
        assert during.headers["Content-Type"].startswith("application/problem+json")
        database.resume()
        wait_until(lambda: _ok(f"{base}/registry/readyz"), 60, 0.5, "the registry to see the database again")
        after = [post(100 + i) for i in range(5)]
        assert [r.status_code for r in after] == [201] * 5  # no restart of the service was needed
        acknowledged += [r.json()["id"] for r in after]
        engine = create_engine(database.url)
        with engine.connect() as conn:
            stored = conn.execute(select(establishments.c.id)).scalars().all()
            outbox = conn.execute(select(func.count()).select_from(metadata.tables["outbox"])).scalar_one()
        engine.dispose()
        assert sorted(stored) == sorted(acknowledged)  # nothing half-applied, nothing lost
        assert outbox == len(acknowledged)  # one event per acknowledged write, none for the refused one
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        database.stop()
