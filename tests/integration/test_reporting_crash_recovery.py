"""A reporting worker SIGKILLed again and again in the middle of a stream ends with the same
projections as a worker that ran undisturbed (issue 8)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select

from chassis import envelope
from chassis.transport import Outgoing
from chassis.transport.kafka import KafkaTransport
from contracts import topics
from contracts.events import cases, inspection, registry, support
from contracts.refdata import SON_LA, units
from services.reporting.handlers import PROJECTION_HANDLERS
from services.reporting.tables import PROJECTIONS, metadata
from tests.conftest import TEST_SECRET
from tests.integration.conftest import wait_until
from tests.support.infra import PrivateBroker, free_port

pytestmark = pytest.mark.infra
BIN = Path(sys.executable).parent
CONSUMER = "reporting-projections"
KILLS = 4
inbox = metadata.tables["inbox"]


def stream(seed: int = 8) -> list[Outgoing]:
    """A year of events from every service, each aggregate's events in order under its key."""
    rng = random.Random(seed)
    communes = [c for d in units().districts_in(SON_LA) for c in units().communes_in(d.code)]
    out: list[Outgoing] = []

    def emit(event_type, key, data):
        _, value = envelope.build(event_type, str(key), data, "/lanhmanh/test")
        out.append(Outgoing(event_type.topic, str(key), value))

    def day():
        return date(2020, 1, 1) + timedelta(days=rng.randrange(360))

    for i in range(900):
        commune = rng.choice(communes)
        where = {"commune_code": commune.code, "district_code": commune.parent_code}
        e = uuid.uuid4()
        emit(registry.ESTABLISHMENT_REGISTERED, e, {
            "establishment_id": e, "name": f"Cơ sở {i}", "business_type": rng.choice(registry.BUSINESS_TYPES),
            "licence_number": None, "address": "Bản Mòng", "province_code": SON_LA, "employees": 3,
            "operating_since": date(2018, 1, 1), "status": "active", "risk_level": "medium",
            "registered_at": datetime(2020, 1, 2, tzinfo=timezone.utc), **where})
        if i % 2:
            emit(registry.ESTABLISHMENT_REVIEWED, e, {"establishment_id": e, "period": "2020S1",
                                                      "reviewed_on": date(2020, 6, 1), "outcome": "compliant",
                                                      "risk_level": "low", **where})
        if i % 7 == 0:
            emit(registry.ESTABLISHMENT_STATUS_CHANGED, e, {"establishment_id": e, "previous_status": "active",
                                                            "status": "suspended", "reason": "vi phạm",
                                                            "effective_on": day(), **where})
        inspection_id = uuid.uuid4()
        emit(inspection.INSPECTION_COMPLETED, inspection_id, {
            "inspection_id": inspection_id, "establishment_id": e, "plan_id": None, "kind": "specialised",
            "agency": "culture", "conducted_on": day(), "passed": i % 3 != 0, "violation_codes": [],
            "sanctions": [], "fines_total_vnd": 0, "suspension_days": 0, "signs_of_prostitution": i % 11 == 0,
            "people_identified": 0, "people_consenting_to_referral": 0, "reinspection_id": None, **where})
    for i in range(120):
        commune = rng.choice(communes)
        where = {"commune_code": commune.code, "district_code": commune.parent_code}
        h, t, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        emit(cases.HOTSPOT_DETECTED, h, {"hotspot_id": h, "kind": "public_place", "detected_on": date(2020, 2, 1),
                                          "found_by": "tip", "establishment_id": None, **where})
        if i % 2:
            emit(cases.HOTSPOT_ELIMINATED, h, {"hotspot_id": h, "eliminated_on": date(2020, 3, 1), **where})
        emit(cases.TIP_RECEIVED, t, {"tip_id": t, "source": "hotline", "establishment_id": None,
                                      "received_at": datetime(2020, 4, 1, tzinfo=timezone.utc),
                                      "inspection_id": None, **where})
        emit(cases.TIP_CLASSIFIED, t, {"tip_id": t, "classification": "criminal", "establishment_id": None,
                                        "classified_at": datetime(2020, 4, 3, tzinfo=timezone.utc), **where})
        emit(cases.CASE_OPENED, c, {"case_id": c, "articles": ["327"], "opened_on": date(2020, 4, 5),
                                     "tip_id": t, "establishment_ids": [], "suspects_count": 1, **where})
        for previous, stage, month in (("opened", "investigation", 5), ("investigation", "prosecution", 7),
                                       ("prosecution", "trial", 9))[: i % 4]:
            emit(cases.CASE_STAGE_CHANGED, c, {"case_id": c, "previous_stage": previous, "stage": stage,
                                                "on": date(2020, month, 1), "mobile_trial": stage == "trial",
                                                "correction": False, **where})
        person, support_case = uuid.uuid4(), uuid.uuid4()
        person_where = {"district_code": commune.parent_code, "age_band": "25_34", "sex": "female"}
        emit(support.SUPPORT_CASE_OPENED, person, {"person_ref": person, "support_case_id": support_case,
                                                   "opened_on": date(2020, 5, 1), **person_where})
        emit(support.SERVICE_DELIVERED, person, {"person_ref": person, "support_case_id": support_case,
                                                 "service_type": "vocational_training", "completed": True,
                                                 "delivered_on": date(2020, 6, 1), **person_where})
    return out


def projections(url: str) -> dict[str, list]:
    engine = create_engine(url)
    with engine.connect() as conn:
        dump = {t.name: sorted(tuple(str(v) for v in row) for row in conn.execute(select(t))) for t in PROJECTIONS}
    engine.dispose()
    return dump


def metric(port: int, name: str) -> float | None:
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name + "{") and f'consumer="{CONSUMER}"' in line]
    return sum(values) if values else None


def test_a_reporting_worker_killed_repeatedly_ends_with_the_projections_of_a_clean_run(tmp_path, new_database):
    broker = PrivateBroker(tmp_path)
    broker.start()
    workers: list[subprocess.Popen] = []
    try:
        kafka = KafkaTransport(broker.bootstrap, partitions=6)
        kafka.ensure_topics(list(topics.ALL))
        events = stream()
        assert all(r is None for r in kafka.producer().send(events, 120))

        def start_worker(url: str, prefix: str, port: int, log: str) -> subprocess.Popen:
            env = {**os.environ, "REPORTING_DATABASE_URL": url, "EVENT_TRANSPORT": "kafka", "KAFKA_PARTITIONS": "6",
                   "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "JWT_SECRET": TEST_SECRET, "LOG_LEVEL": "WARNING",
                   "KAFKA_CONSUMER_GROUP_PREFIX": prefix}
            process = subprocess.Popen([str(BIN / "lanhmanh"), "worker", "reporting", "--metrics-port", str(port)],
                                       env=env, stdout=(tmp_path / log).open("ab"), stderr=subprocess.STDOUT,
                                       start_new_session=True)
            workers.append(process)
            return process

        handled = sum(1 for m in events if json.loads(m.value)["type"] in PROJECTION_HANDLERS)

        def applied(url: str) -> int:
            engine = create_engine(url)
            with engine.connect() as conn:
                count = conn.execute(select(func.count()).select_from(inbox).where(inbox.c.consumer == CONSUMER)).scalar()
            engine.dispose()
            return count

        def caught_up(url: str) -> bool:
            return applied(url) == handled

        def migrate(url: str) -> None:
            subprocess.run([str(BIN / "lanhmanh"), "migrate", "reporting"], check=True, capture_output=True,
                           env={**os.environ, "REPORTING_DATABASE_URL": url})

        clean_url, crashed_url = new_database("reporting_clean"), new_database("reporting_crashed")
        migrate(clean_url)
        migrate(crashed_url)

        port = free_port()
        clean = start_worker(clean_url, "clean-", port, "clean.log")
        wait_until(lambda: caught_up(clean_url), 240, 1.0, "the undisturbed worker to catch up")
        os.killpg(clean.pid, signal.SIGTERM)
        clean.wait(30)

        rng, kills = random.Random(1), 0
        while kills < KILLS:
            port = free_port()
            worker = start_worker(crashed_url, "crashed-", port, "crashed.log")
            wait_until(lambda: (metric(port, "lanhmanh_events_consumed_total") or 0) > 0 or worker.poll() is not None,
                       120, 0.05, "the worker to apply events")
            time.sleep(rng.uniform(0, 0.3))
            if caught_up(crashed_url):
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
                break  # finished before it could be killed again
            os.killpg(worker.pid, signal.SIGKILL)  # mid-stream, mid-transaction as likely as not
            worker.wait(10)
            kills += 1
        assert kills >= 2 and applied(crashed_url) < handled, "the stream was too short to kill the worker mid-stream"
        port = free_port()
        final = start_worker(crashed_url, "crashed-", port, "crashed.log")
        wait_until(lambda: caught_up(crashed_url), 240, 1.0, "the restarted worker to catch up")
        os.killpg(final.pid, signal.SIGTERM)
        final.wait(30)

        clean_projection, crashed_projection = projections(clean_url), projections(crashed_url)
        assert sum(len(rows) for rows in clean_projection.values()) > 2000
        assert crashed_projection == clean_projection
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait(10)
        broker.stop()
