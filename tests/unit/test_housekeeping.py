"""Housekeeping (chassis/housekeeping.py): published outbox rows, inbox rows and idempotency answers
go once older than what each is kept for; pending events, recent rows and the skipping of
redeliveries stay. The same check runs on PostgreSQL and Kafka in tests/integration/test_housekeeping_pg.py."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from chassis.config import Config, ConfigError
from chassis.housekeeping import Housekeeping, rules
from chassis.service import bootstrap
from tests.conftest import make_config
from tests.support import probe as probe_module
from tests.unit.test_event_plumbing import register

ESTABLISHMENT = {"name": "Nhà nghỉ Hoa Ban", "business_type": "accommodation", "owner_name": "Cầm Thị Hoa",
                 "address": "Bản Hài, xã Chiềng Ngần", "commune_code": "03646"}


def rows(container, table: str) -> int:
    with container.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(container.service.tables[table])).scalar_one()


def read_until(consumer, keys: set[str], timeout: float = 30.0) -> list:
    """The messages of these keys, read from the start of the topics (a shared broker holds others)."""
    found, deadline = [], time.monotonic() + timeout
    while {m.key for m in found} != keys and time.monotonic() < deadline:
        found += [m for m in consumer.poll(0.5, 500) if m.key in keys]
    return found


def applied(probe, subjects: set[str]) -> list[str]:
    with probe.engine.connect() as conn:
        return sorted(conn.execute(select(probe_module.applied.c.subject)
                                   .where(probe_module.applied.c.subject.in_(subjects))).scalars())


def check_housekeeping(registry, probe, transport, headers: dict) -> None:
    """Three events published and applied, one still pending, one POST answered with a key; then
    housekeeping as if days had passed. (On a shared broker the probe may apply other tests'
    events too: only these three are looked at.)"""
    mine = {str(register(registry, name=f"Karaoke {n}").id) for n in range(3)}
    assert registry.relay().run_once() == 3
    register(registry, name="Karaoke chưa gửi")  # still in the outbox, not published
    (runner,) = probe.consumer_runners()
    deadline = time.monotonic() + 30
    while len(applied(probe, mine)) < 3 and time.monotonic() < deadline:
        runner.run_once(timeout=0.5)
    assert applied(probe, mine) == sorted(mine)
    key = {**headers, "Idempotency-Key": str(uuid.uuid4())}
    app = registry.create_app()
    first = app.test_client().post("/registry/v1/establishments", json=ESTABLISHMENT, headers=key)
    assert first.status_code == 201
    assert rows(registry, "outbox") == 5 and rows(registry, "idempotency_keys") == 1
    inbox = rows(probe, "inbox")
    assert inbox >= 3

    now = datetime.now(timezone.utc)
    keeper = Housekeeping("registry", registry.service.tables, registry.session_factory,
                          rules(registry.config), chunk=2)  # 3 published rows: two chunks
    assert keeper.run_once(now + timedelta(days=6)) == {"outbox": 0, "inbox": 0, "idempotency_keys": 0}
    again = app.test_client().post("/registry/v1/establishments", json=ESTABLISHMENT, headers=key)
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]  # replayed

    # A week on: the published rows and the answer go; the pending events stay and still go out.
    assert keeper.run_once(now + timedelta(days=8)) == {"outbox": 3, "inbox": 0, "idempotency_keys": 1}
    assert rows(registry, "outbox") == 2 and registry.relay().backlog() == 2
    assert registry.relay().run_once() == 2

    # The probe's inbox is kept for 30 days: the three events delivered again are still skipped.
    probe_keeper = probe.housekeeping()
    assert probe_keeper.run_once(now + timedelta(days=8))["inbox"] == 0
    redelivered = read_until(transport.consumer(f"again-{uuid.uuid4().hex[:8]}", runner.spec.topics), mine)
    assert sorted(m.key for m in redelivered) == sorted(mine)
    assert [runner.handle(m) for m in redelivered] == ["duplicate"] * 3
    assert applied(probe, mine) == sorted(mine)  # each once
    assert probe_keeper.run_once(now + timedelta(days=31))["inbox"] == inbox
    assert rows(probe, "inbox") == 0


def test_old_rows_go_and_what_is_still_needed_stays(registry, tmp_path, embedded_transport, token):
    probe = bootstrap(probe_module.probe, make_config("probe", tmp_path), embedded_transport)
    probe_module.metadata.create_all(probe.engine)
    try:
        check_housekeeping(registry, probe, embedded_transport, token("admin"))
    finally:
        probe.dispose()


def test_a_worker_keeps_house_as_soon_as_it_starts(registry, token):
    from chassis.worker import Worker

    register(registry)
    registry.relay().run_once()
    with registry.engine.begin() as conn:  # published nine days ago
        outbox = registry.service.tables["outbox"]
        conn.execute(outbox.update().values(published_at=datetime.now(timezone.utc) - timedelta(days=9)))
    worker = Worker([registry]).start()
    try:
        deadline = time.monotonic() + 10
        while rows(registry, "outbox") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert rows(registry, "outbox") == 0
    assert "registry-housekeeping" in {t.name for t in worker.threads}


def test_a_pass_stops_between_chunks_when_asked(registry):
    for n in range(5):
        register(registry, name=f"Karaoke {n}")
    registry.relay().run_once()
    keeper = Housekeeping("registry", registry.service.tables, registry.session_factory, rules(registry.config),
                          chunk=2)
    stop = threading.Event()
    stop.set()
    assert keeper.run_once(datetime.now(timezone.utc) + timedelta(days=8), stop)["outbox"] == 0
    assert keeper.run_once(datetime.now(timezone.utc) + timedelta(days=8))["outbox"] == 5


@pytest.mark.parametrize("variable", ["OUTBOX_KEEP_DAYS", "INBOX_KEEP_DAYS", "IDEMPOTENCY_KEEP_DAYS"])
def test_a_retention_under_a_day_is_refused_by_name(variable):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env("registry", {variable: "0.5"})


def test_retentions_come_from_the_environment():
    config = Config.from_env("registry", {"INBOX_KEEP_DAYS": "90", "REGISTRY_OUTBOX_KEEP_DAYS": "2"})
    kept = {rule.table: rule.keep for rule in rules(config)}
    assert kept == {"outbox": timedelta(days=2), "inbox": timedelta(days=90), "idempotency_keys": timedelta(days=7)}
