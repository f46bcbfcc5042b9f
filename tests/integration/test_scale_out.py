"""Consumers scale out: three worker processes of one service share a consumer group over six
partitions; one is killed mid-stream; the others take over its partitions; every event is
applied exactly once (issue 7)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
import requests
from kafka import KafkaAdminClient
from sqlalchemy import func, select

from chassis import envelope
from chassis.auth import ADMIN, Principal
from chassis.service import bootstrap
from chassis.transport import Outgoing
from contracts import topics
from contracts.events import inspection
from services.registry import handlers
from services.registry.tables import establishments
from tests.conftest import TEST_SECRET, make_config
from chassis.transport.kafka import KafkaTransport
from bench.system import stop_processes
from tests.support.infra import PrivateBroker, free_port
from tests.integration.conftest import wait_until

pytestmark = pytest.mark.infra
BIN = Path(sys.executable).parent
GROUP = "registry-inspection-risk"
EVENTS = 1500


def consumed(port: int) -> float:
    """Events this worker has applied, from its /metrics."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return -1.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("lanhmanh_events_consumed_total{") and f'consumer="{GROUP}"' in line)


def test_three_workers_share_six_partitions_and_survive_losing_one(services, tmp_path, new_database):
    broker = PrivateBroker(tmp_path)  # a broker of its own: the topic must be made with six partitions here
    broker.start()
    kafka_servers = broker.bootstrap
    kafka = KafkaTransport(kafka_servers, partitions=6)
    url = new_database("registry")
    registry = bootstrap(services["registry"], make_config("registry", tmp_path, database_url=url,
                                                           transport="kafka"), kafka)
    registry.migrate()
    kafka.ensure_topics(registry.topics())
    admin_client = KafkaAdminClient(bootstrap_servers=kafka_servers)
    wait_until(lambda: len(admin_client.describe_topics([topics.INSPECTION_RISK])[0]["partitions"]) == 6, 20, 0.2,
               "the topic to have its six partitions")

    actor = Principal("loader", frozenset({ADMIN}))
    ids = [handlers.register_establishment(registry.uow(), actor, {
        "name": f"Karaoke {i}", "business_type": "karaoke", "owner_name": "Lò Văn Thành",
        "address": "Bản Hài", "commune_code": "03646", "risk_level": "low"}, ("14",)).id for i in range(EVENTS)]

    env = {**os.environ, "REGISTRY_DATABASE_URL": url, "EVENT_TRANSPORT": "kafka", "KAFKA_PARTITIONS": "6",
           "KAFKA_BOOTSTRAP_SERVERS": kafka_servers, "JWT_SECRET": TEST_SECRET, "LOG_LEVEL": "WARNING"}
    ports = [free_port() for _ in range(3)]
    workers = [subprocess.Popen([str(BIN / "lanhmanh"), "worker", "registry", "--metrics-port", str(port)],
                                env=env, stdout=(tmp_path / f"worker{n}.log").open("wb"), stderr=subprocess.STDOUT,
                                start_new_session=True) for n, port in enumerate(ports)]
    try:
        def group_has_three_members():
            try:
                described = admin_client.describe_groups([GROUP])
            except Exception:  # noqa: BLE001 - the group's coordinator is not there until a member joins
                return False
            group = described[GROUP]
            assignments = [m["member_assignment"] for m in group["members"]]
            assigned = [p for a in assignments if isinstance(a, dict) for t in a["assigned_partitions"]
                        for p in t["partitions"]]
            return group["group_state"] == "Stable" and len(group["members"]) == 3 and sorted(assigned) == list(range(6))
        wait_until(group_has_three_members, 60, 0.5, "three members in the consumer group")

        event_ids = []
        messages = []
        for establishment_id in ids:
            event_id, value = envelope.build(inspection.RISK_ASSESSED, establishment_id, {
                "establishment_id": uuid.UUID(establishment_id), "inspection_id": uuid.uuid4(),
                "risk_level": "high", "assessed_on": date(2020, 5, 4), "suspension_days": 7,
                "commune_code": "03646", "district_code": "116"}, "/lanhmanh/test")
            event_ids.append(event_id)
            messages.append(Outgoing(topics.INSPECTION_RISK, establishment_id, value))
        assert all(r is None for r in kafka.producer().send(messages, 60))

        wait_until(lambda: sum(max(0.0, consumed(p)) for p in ports) >= EVENTS * 0.15, 120, 0.05,
                   "the workers to be mid-stream")
        before_kill = [consumed(p) for p in ports]
        os.killpg(workers[0].pid, signal.SIGKILL)  # no goodbye: its partitions must be taken over
        workers[0].wait(10)
        assert sum(1 for c in before_kill if c > 0) >= 2, f"the work was not shared: {before_kill}"

        inbox = registry.service.tables["inbox"]

        def applied() -> int:
            with registry.engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(inbox).where(
                    inbox.c.consumer == GROUP, inbox.c.event_id.in_(event_ids))).scalar_one()
        wait_until(lambda: applied() == EVENTS, 180, 0.5, "every event to be applied")
        time.sleep(2)  # anything applied twice would show now
        assert applied() == EVENTS

        outbox = registry.service.tables["outbox"]
        with registry.engine.connect() as conn:
            suspensions = conn.execute(select(outbox.c.message_key, func.count()).where(
                outbox.c.event_type.like("%status_changed%")).group_by(outbox.c.message_key)).all()
            risks = conn.execute(select(establishments.c.risk_level, establishments.c.status, func.count())
                                 .group_by(establishments.c.risk_level, establishments.c.status)).all()
        assert len(suspensions) == EVENTS and all(n == 1 for _, n in suspensions)  # each effect exactly once
        assert risks == [("high", "suspended", EVENTS)]
        survivors = [consumed(p) for p in ports[1:]]
        assert all(c > 0 for c in survivors)
    finally:
        stop_processes(workers)
        admin_client.close()
        registry.dispose()
        broker.stop()
