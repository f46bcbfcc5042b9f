"""The outbox, the relay, the inbox and the consumer runner on SQLite and the embedded transport.

The same scenarios run against PostgreSQL and Kafka in tests/integration.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from chassis.auth import ADMIN, Principal
from chassis.outbox import Relay
from chassis.service import bootstrap
from chassis.transport import Outgoing
from contracts import topics
from services.registry import handlers
from tests.conftest import make_config
from tests.support import probe as probe_module
from tests.support.probe import applied_count, applied_rows

ADMIN_USER = Principal("admin-1", frozenset({ADMIN}))


@pytest.fixture
def probe(tmp_path, embedded_transport):
    container = bootstrap(probe_module.probe, make_config("probe", tmp_path, consumer_max_attempts=3),
                          embedded_transport)
    probe_module.metadata.create_all(container.engine)
    embedded_transport.ensure_topics(container.topics())
    probe_module.failures.clear()
    probe_module.database_away["now"] = False
    probe_module.dies_on_call["n"] = 0
    yield container
    probe_module.database_away["now"] = False
    container.dispose()


def register(registry, name="Karaoke Hoa Hồng", commune="03646"):
    return handlers.register_establishment(registry.uow(), ADMIN_USER, {
        "name": name, "business_type": "karaoke", "owner_name": "Lò Văn Thành",
        "address": "Tổ 2, Phường Chiềng Lề", "commune_code": commune,
    }, ("14",))


def drain(runner, rounds=5):
    for _ in range(rounds):
        runner.run_once(timeout=0.01)


def dead_letters(transport):
    consumer = transport.consumer("test-dead-letter-reader", [topics.DEAD_LETTERS])
    return [json.loads(m.value) for m in consumer.poll(0.01, 1000)]


class FlakyProducer:
    """Fails the first ``failures`` sends, as a broker that is down would."""

    def __init__(self, inner, failures):
        self.inner, self.failures, self.calls = inner, failures, 0

    def send(self, messages, timeout):
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            return [ConnectionError("broker unreachable")] * len(messages)
        return self.inner.send(messages, timeout)

    def close(self):
        pass


def outbox_rows(registry):
    table = registry.service.tables["outbox"]
    with registry.engine.connect() as conn:
        return conn.execute(select(table).order_by(table.c.id)).all()


def test_a_registration_reaches_a_consumer_exactly_once(registry, probe):
    establishment = register(registry)
    assert registry.relay().run_once() == 1
    (runner,) = probe.consumer_runners()
    drain(runner)
    rows = applied_rows(probe)
    assert [(r.subject, r.name) for r in rows] == [(establishment.id, "Karaoke Hoa Hồng")]


def test_relay_retries_an_unreachable_broker_until_it_acknowledges(registry, probe):
    register(registry)
    relay = registry.relay()
    relay.producer = FlakyProducer(relay.producer, failures=3)
    for _ in range(3):
        assert relay.run_once() == 0
        table = registry.service.tables["outbox"]
        with registry.engine.begin() as conn:  # skip the backoff wait
            conn.execute(update(table).values(next_attempt_at=table.c.created_at))
    (row,) = outbox_rows(registry)
    assert row.published_at is None and row.attempts == 3 and "broker unreachable" in row.last_error
    assert relay.run_once() == 1
    (row,) = outbox_rows(registry)
    assert row.published_at is not None
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert applied_count(probe) == 1


def test_a_failed_publish_is_postponed_with_backoff_not_abandoned(registry):
    register(registry)
    relay = registry.relay()
    relay.producer = FlakyProducer(relay.producer, failures=1)
    assert relay.run_once() == 0
    (row,) = outbox_rows(registry)
    assert row.next_attempt_at > row.created_at
    assert relay.run_once() == 0  # not due yet
    assert relay.backlog() == 1


def test_events_of_one_establishment_keep_their_order(registry, embedded_transport):
    establishment = register(registry)
    handlers.change_status(registry.uow(), ADMIN_USER, establishment.id, "suspended", "vi phạm", None)
    handlers.change_status(registry.uow(), ADMIN_USER, establishment.id, "active", "khắc phục xong", None)
    handlers.change_status(registry.uow(), ADMIN_USER, establishment.id, "closed", "ngừng kinh doanh", None)
    relay = registry.relay()
    relay.batch_size = 1  # one event per pass: order must come from the relay, not luck
    while relay.run_once():
        pass
    consumer = embedded_transport.consumer("order-check", [topics.REGISTRY_ESTABLISHMENTS])
    types = [json.loads(m.value)["type"].split(".")[-2] for m in consumer.poll(0.01, 100)]
    assert types == ["registered", "status_changed", "status_changed", "status_changed"]


def test_later_events_of_a_key_wait_for_an_earlier_one_that_failed(registry, embedded_transport):
    establishment = register(registry)
    handlers.change_status(registry.uow(), ADMIN_USER, establishment.id, "suspended", "vi phạm", None)
    relay = registry.relay()

    class FailFirst:
        def send(self, messages, timeout):
            return [ConnectionError("lost")] + [None] * (len(messages) - 1)

    relay.producer = FailFirst()
    assert relay.run_once() == 0
    assert all(row.published_at is None for row in outbox_rows(registry))


class CrashAfterSend(Relay):
    """A relay that dies after the broker acknowledged, before it could mark the rows."""

    def run_once(self):
        original = self.producer.send

        def send_then_crash(messages, timeout):
            original(messages, timeout)
            raise SystemExit("killed between publishing and marking")

        self.producer.send = send_then_crash
        try:
            return super().run_once()
        finally:
            self.producer.send = original


def test_relay_killed_between_publish_and_mark_gives_a_duplicate_applied_once(registry, probe, embedded_transport):
    register(registry)
    crashing = CrashAfterSend("registry", registry.service.tables["outbox"], registry.session_factory,
                              embedded_transport.producer())
    with pytest.raises(SystemExit):
        crashing.run_once()
    assert registry.relay().run_once() == 1  # the restarted relay publishes it again
    reader = embedded_transport.consumer("dup-check", [topics.REGISTRY_ESTABLISHMENTS])
    delivered = [json.loads(m.value)["id"] for m in reader.poll(0.01, 100)]
    assert len(delivered) == 2 and len(set(delivered)) == 1
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert applied_count(probe) == 1


def test_a_poison_event_is_dead_lettered_and_the_consumer_moves_on(registry, probe, embedded_transport):
    register(registry, name="poison")
    register(registry, name="Nhà nghỉ Bình Minh")
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert [r.name for r in applied_rows(probe)] == ["Nhà nghỉ Bình Minh"]
    (letter,) = dead_letters(embedded_transport)
    assert letter["consumer"] == "probe-registrations"
    assert "can never be applied" in letter["error"]
    assert json.loads(letter["original"])["data"]["name"] == "poison"


def test_an_unreadable_message_is_dead_lettered(registry, probe, embedded_transport):
    embedded_transport.producer().send([Outgoing(topics.REGISTRY_ESTABLISHMENTS, "k", b"\xff not json")], 1)
    register(registry)
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert applied_count(probe) == 1
    (letter,) = dead_letters(embedded_transport)
    assert "EnvelopeError" in letter["error"]


def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_attempts(registry, probe, embedded_transport):
    register(registry, name="fail-always")
    register(registry, name="Spa Ngọc Lan")
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert [r.name for r in applied_rows(probe)] == ["Spa Ngọc Lan"]
    (letter,) = dead_letters(embedded_transport)
    assert "handler failure for fail-always" in letter["error"]


def test_one_failing_event_among_many_does_not_hold_back_the_others(registry, probe, embedded_transport):
    names = [f"Karaoke số {i}" for i in range(30)]
    names[14] = "fail-always"
    for name in names:
        register(registry, name=name)
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    assert runner.run_once(timeout=0.01) == 30  # one poll: applied together, then one by one after the failure
    assert sorted(r.name for r in applied_rows(probe)) == sorted(n for n in names if n != "fail-always")
    (letter,) = dead_letters(embedded_transport)
    assert "handler failure for fail-always" in letter["error"]
    drain(runner)
    assert applied_count(probe) == 29  # nothing applied twice


def test_a_redelivered_event_in_a_batch_that_falls_back_is_counted_as_a_duplicate_once(
        registry, probe, embedded_transport):
    from prometheus_client import REGISTRY

    def duplicates() -> float:
        return REGISTRY.get_sample_value("lanhmanh_events_duplicate_total",
                                         {"service": "probe", "consumer": "probe-registrations"}) or 0.0

    register(registry, name="Karaoke Hoa Hồng")
    registry.relay().run_once()
    reader = embedded_transport.consumer("redeliver", [topics.REGISTRY_ESTABLISHMENTS])
    (sent,) = reader.poll(0.01, 10)
    embedded_transport.producer().send([Outgoing(sent.topic, sent.key, sent.value, sent.headers)], 1)  # again
    register(registry, name="fail-always")  # makes the poll's batch fail and fall back to one by one
    registry.relay().run_once()
    before = duplicates()
    (runner,) = probe.consumer_runners()

    drain(runner)

    assert applied_count(probe) == 1
    assert duplicates() - before == 1


def test_a_consumer_killed_in_the_middle_of_a_batch_applies_all_of_it_after_restart(registry, probe):
    names = [f"Nhà nghỉ số {i}" for i in range(10)]
    for name in names:
        register(registry, name=name)
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    probe_module.dies_on_call["n"] = 4  # three handlers have run (and "committed") when it dies
    with pytest.raises(SystemExit):
        runner.run_once(timeout=0.01)
    assert applied_count(probe) == 0  # the batch commits as a whole or not at all
    (restarted,) = probe.consumer_runners()
    drain(restarted)
    assert sorted(r.name for r in applied_rows(probe)) == sorted(names)


def test_a_database_outage_is_waited_out_not_dead_lettered(registry, probe, embedded_transport):
    register(registry, name="Nhà nghỉ Hương Sen")
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    probe_module.database_away["now"] = True
    for _ in range(3):
        with pytest.raises(OperationalError):
            runner.run_once(timeout=0.01)
    assert dead_letters(embedded_transport) == []
    assert runner.consumer.lag() == 1  # not committed: read again once the database is back
    probe_module.database_away["now"] = False
    drain(runner)
    assert [r.name for r in applied_rows(probe)] == ["Nhà nghỉ Hương Sen"]


def test_a_transient_handler_failure_is_retried_and_applied_once(registry, probe):
    probe_module.failures["Bar Cao Nguyên"] = 2
    register(registry, name="Bar Cao Nguyên")
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert [r.name for r in applied_rows(probe)] == ["Bar Cao Nguyên"]


def test_event_types_without_a_handler_are_skipped_and_committed(registry, probe):
    establishment = register(registry)
    handlers.change_status(registry.uow(), ADMIN_USER, establishment.id, "suspended", "vi phạm", None)
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert applied_count(probe) == 1
    assert runner.consumer.lag() == 0


def test_a_restarted_consumer_resumes_after_what_it_committed(registry, probe):
    register(registry, name="A")
    registry.relay().run_once()
    (first,) = probe.consumer_runners()
    drain(first)
    register(registry, name="B")
    registry.relay().run_once()
    (second,) = probe.consumer_runners()  # a new process: fresh consumer, same group
    drain(second)
    assert [r.name for r in applied_rows(probe)] == ["A", "B"]


def test_the_correlation_id_of_a_request_travels_in_its_event(registry):
    from chassis import logs

    logs.correlation_id.set("req-42")
    try:
        register(registry)
    finally:
        logs.correlation_id.set(None)
    (row,) = outbox_rows(registry)
    assert json.loads(row.payload)["correlationid"] == "req-42"


def test_dead_letters_are_replayed_after_a_fix_and_applied_once(registry, probe, embedded_transport):
    from chassis.deadletters import replay

    probe_module.failures["Karaoke Sao Mai"] = 99  # broken until "the fix"
    register(registry, name="Karaoke Sao Mai")
    registry.relay().run_once()
    (runner,) = probe.consumer_runners()
    drain(runner)
    assert applied_count(probe) == 0 and len(dead_letters(embedded_transport)) == 1

    # Another service's replayer (its own group) leaves this letter alone.
    assert replay(embedded_transport, ["other-consumer"], idle_polls=1, group="other-replay") == []
    probe_module.failures.clear()  # the fix is deployed
    replayed = replay(embedded_transport, ["probe-registrations"], idle_polls=1, group="probe-replay")
    assert [letter.consumer for letter in replayed] == ["probe-registrations"]
    drain(runner)
    assert [r.name for r in applied_rows(probe)] == ["Karaoke Sao Mai"]
    assert replay(embedded_transport, ["probe-registrations"], idle_polls=1, group="probe-replay") == []


def test_an_event_to_a_topic_the_service_does_not_declare_is_refused(registry):
    """The relay runs only for services that declare topics, so an undeclared one would be stranded."""
    from contracts.events import inspection as inspection_events

    with pytest.raises(ValueError, match="does not declare that it publishes"):
        with registry.uow() as uow:
            uow.publish(inspection_events.INSPECTION_COMPLETED, "x", {})
    assert registry.relay().backlog() == 0


def test_a_transaction_s_events_are_stored_when_it_commits_in_the_order_published_and_not_if_it_rolls_back(registry):
    """The outbox keeps a unit of work's events until it commits, then stores them together, in the
    order they were published; nothing of a unit of work that rolls back."""
    import uuid
    from datetime import date

    from contracts.events import registry as registry_events

    def review(uow, key):
        uow.publish(registry_events.ESTABLISHMENT_REVIEWED, key, {
            "establishment_id": uuid.UUID(key), "period": "2020S1", "reviewed_on": date(2020, 6, 1),
            "outcome": "đạt", "risk_level": "low", "commune_code": "03646", "district_code": "116"})

    before = len(outbox_rows(registry))
    keys = [str(uuid.uuid4()) for _ in range(3)]
    with registry.uow() as uow:
        for key in keys:
            review(uow, key)
        assert len(outbox_rows(registry)) == before  # nothing stored before the commit
        uow.commit()
    assert [r.message_key for r in outbox_rows(registry)[before:]] == keys

    with registry.uow() as uow:  # left without a commit: rolled back
        review(uow, str(uuid.uuid4()))
    with registry.uow() as uow:
        review(uow, str(uuid.uuid4()))
        uow.rollback()
        uow.commit()  # a commit after the rollback stores nothing published before it
    establishment = register(registry)
    assert [r.message_key for r in outbox_rows(registry)[before:]] == [*keys, establishment.id]


def test_a_worker_runs_no_relay_for_a_service_that_publishes_nothing(services, tmp_path, embedded_transport):
    from chassis.worker import Worker

    reporting = bootstrap(services["reporting"], make_config("reporting", tmp_path), embedded_transport)
    registry = bootstrap(services["registry"], make_config("registry", tmp_path), embedded_transport)
    worker = Worker([reporting, registry]).start()
    try:
        names = {t.name for t in worker.threads}
    finally:
        worker.stop()
        reporting.dispose()
        registry.dispose()
    assert "registry-relay" in names and not any(n.startswith("reporting-relay") for n in names)
    assert any(n.startswith("reporting-") for n in names)  # its consumers still run


def test_an_idle_relay_polls_less_and_still_publishes_a_new_event_promptly(registry):
    import threading
    import time

    relay = registry.relay()
    passes = []
    run_once = relay.run_once
    relay.run_once = lambda: passes.append(time.monotonic()) or run_once()
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, 0.05, 0.4))
    thread.start()
    try:
        time.sleep(1.5)
        idle_passes = len(passes)  # 0.05, 0.1, 0.2, 0.4, 0.4...: about 6 (at a fixed 0.05 s: 30)
        register(registry)
        written = time.monotonic()
        while relay.backlog() and time.monotonic() - written < 5:
            time.sleep(0.01)
        assert relay.backlog() == 0
        assert time.monotonic() - written < 0.4 + 0.3  # within one idle wait
    finally:
        stop.set()
        thread.join(5)
    assert 3 <= idle_passes <= 9
