"""The outbox, relay, inbox and dead letters on the real PostgreSQL and Kafka."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import date
from collections import defaultdict

import pytest
from kafka import KafkaAdminClient
from sqlalchemy import func, select

from chassis.auth import ADMIN, Principal
from chassis.service import bootstrap
from chassis.transport import Outgoing, TransportError
from chassis.transport.kafka import KafkaTransport
from contracts import topics
from contracts.events import registry as registry_events
from services.registry import handlers
from tests.integration.conftest import wait_until
from tests.support.kafka_reader import topic_reader
from tests.support.probe import applied_rows

pytestmark = pytest.mark.infra
ADMIN_USER = Principal("admin-1", frozenset({ADMIN}))


def register(registry, name="Karaoke Hoa Hồng"):
    return handlers.register_establishment(registry.uow(), ADMIN_USER, {
        "name": name, "business_type": "karaoke", "owner_name": "Lò Văn Thành",
        "address": "Tổ 2, Phường Chiềng Lề", "commune_code": "03646",
    }, ("14",))


def consume_until(runner, condition, timeout=40.0):
    return wait_until(lambda: (runner.run_once(timeout=0.2), condition())[1], timeout, 0, "the consumer")


def read_topic(kafka_servers, topic, until, timeout=30.0):
    """Every message of ``topic`` from the start, until ``until(messages)`` holds."""
    consumer = topic_reader(kafka_servers, topic)
    messages = []
    try:
        wait_until(lambda: (messages.extend(r for rs in consumer.poll(500).values() for r in rs), until(messages))[1],
                   timeout, 0, f"messages on {topic}")
    finally:
        consumer.close()
    return messages


def test_a_registration_travels_through_kafka_and_is_applied_once(pg_registry, pg_probe):
    establishment = register(pg_registry)
    assert pg_registry.relay().run_once() == 1
    (runner,) = pg_probe.consumer_runners()
    consume_until(runner, lambda: any(r.subject == establishment.id for r in applied_rows(pg_probe)))
    assert [r.subject for r in applied_rows(pg_probe)].count(establishment.id) == 1


def put_twelve_messages(kafka, topic):
    producer = kafka.producer()
    assert producer.send([Outgoing(topic, str(i), b"{}", {}) for i in range(12)], 10.0) == [None] * 12
    producer.close()


def read_twelve_messages_from_all_six_partitions(consumer, what):
    received = []
    wait_until(lambda: (received.extend(consumer.poll(0.2, 100)), len(received) >= 12)[1], 15.0, 0, what)
    assert len(consumer._consumer.assignment()) == 6


def test_every_new_consumer_group_is_given_the_partitions_at_its_first_join(kafka):
    """A worker that starts reads its topics at once. kafka-python could join before its first metadata
    answer and be assigned nothing until the next metadata refresh, five minutes later (4 fresh groups in 100
    on this machine under load)."""
    topic = f"lanhmanh.test.join-{uuid.uuid4().hex[:8]}"
    kafka.ensure_topics([topic])
    put_twelve_messages(kafka, topic)
    for _ in range(5):
        consumer = kafka.consumer(f"join-{uuid.uuid4().hex[:8]}", [topic])
        try:  # the race itself needs a loaded machine; what closes it is knowing the partitions before joining
            assert consumer._consumer._client.cluster.partitions_for_topic(topic) == set(range(6))
            read_twelve_messages_from_all_six_partitions(consumer, "a fresh group's first messages")
        finally:
            consumer.close()


def test_a_consumer_joins_its_group_only_once_the_broker_names_its_topics_partitions(kafka, kafka_servers):
    """Workers start together and create one another's topics: a consumer that joined while its topic was
    still being created was assigned nothing (2 such joins at every start of the distributed end-to-end
    system), and could stay so until the next metadata refresh, five minutes later (CI, session 8)."""
    topic, group = f"lanhmanh.test.late-{uuid.uuid4().hex[:8]}", f"late-{uuid.uuid4().hex[:8]}"
    consumer = kafka.consumer(group, [topic])
    consumer.PARTITIONS_WAIT = 0.5
    admin = KafkaAdminClient(bootstrap_servers=kafka_servers)
    try:
        with pytest.raises(TransportError, match=topic):
            consumer.poll(0.2, 100)
        assert admin.describe_groups([group])[group]["members"] == []  # it has not joined
        kafka.ensure_topics([topic])
        put_twelve_messages(kafka, topic)
        read_twelve_messages_from_all_six_partitions(consumer, "the messages of a topic created after the consumer")
    finally:
        consumer.close()
        admin.close()


def test_the_event_on_kafka_is_a_structured_cloudevent_keyed_by_the_aggregate(pg_registry, kafka_servers):
    establishment = register(pg_registry)
    pg_registry.relay().run_once()
    messages = read_topic(kafka_servers, topics.REGISTRY_ESTABLISHMENTS,
                          lambda ms: any(m.key == establishment.id.encode() for m in ms))
    (message,) = [m for m in messages if m.key == establishment.id.encode()]
    event = json.loads(message.value)
    assert event["specversion"] == "1.0"
    assert event["type"] == registry_events.ESTABLISHMENT_REGISTERED.type
    assert event["subject"] == establishment.id
    assert event["data"]["name"] == "Karaoke Hoa Hồng"
    assert "owner_name" not in event["data"]
    assert dict(message.headers)["content-type"].startswith(b"application/cloudevents+json")


def test_two_relays_at_once_publish_every_event_once_and_in_order_per_key(pg_registry, kafka_servers):
    outbox = pg_registry.service.tables["outbox"]
    keys = [str(uuid.uuid4()) for _ in range(20)]
    ids_by_key = defaultdict(list)
    with pg_registry.uow() as uow:  # 300 events over 20 keys, interleaved
        for i in range(300):
            key = keys[i % len(keys)]
            event_id = uow.publish(registry_events.ESTABLISHMENT_REVIEWED, key, {
                "establishment_id": uuid.UUID(key), "period": "2020S1", "reviewed_on": date(2020, 6, 1),
                "outcome": f"n{i}", "risk_level": "low", "commune_code": "03646", "district_code": "116"})
            ids_by_key[key].append(event_id)
        uow.commit()
    relays = [pg_registry.relay(), pg_registry.relay()]
    for relay in relays:
        relay.batch_size = 7
    errors = []

    def drain(relay):
        try:
            while relay.backlog():
                relay.run_once()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    with pg_registry.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))).scalar() == 0
    wanted = {k.encode() for k in keys}
    messages = read_topic(kafka_servers, topics.REGISTRY_ESTABLISHMENTS,
                          lambda ms: sum(m.key in wanted for m in ms) >= 300)
    seen = defaultdict(list)
    for m in messages:
        if m.key in wanted:
            seen[m.key.decode()].append(json.loads(m.value)["id"])
    assert sum(len(v) for v in seen.values()) == 300  # none twice
    for key in keys:
        assert seen[key] == ids_by_key[key]  # in the order they were written


def test_relay_killed_between_publish_and_mark_duplicate_is_applied_once(pg_registry, pg_probe):
    from tests.unit.test_event_plumbing import CrashAfterSend

    establishment = register(pg_registry)
    crashing = CrashAfterSend("registry", pg_registry.service.tables["outbox"], pg_registry.session_factory,
                              pg_registry.transport.producer())
    with pytest.raises(SystemExit):
        crashing.run_once()
    assert pg_registry.relay().run_once() == 1
    (runner,) = pg_probe.consumer_runners()
    consume_until(runner, lambda: any(r.subject == establishment.id for r in applied_rows(pg_probe)))
    inbox = pg_probe.service.tables["inbox"]
    # Let the consumer read the duplicate too, then check it was skipped.
    for _ in range(10):
        runner.run_once(timeout=0.3)
    assert [r.subject for r in applied_rows(pg_probe)].count(establishment.id) == 1
    with pg_probe.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar() >= 1


def test_a_duplicate_delivery_is_applied_once(pg_registry, pg_probe, kafka):
    establishment = register(pg_registry)
    outbox = pg_registry.service.tables["outbox"]
    with pg_registry.engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    duplicate = Outgoing(row.topic, row.message_key, row.payload.encode())
    assert kafka.producer().send([duplicate, duplicate, duplicate], 30) == [None, None, None]
    (runner,) = pg_probe.consumer_runners()
    consume_until(runner, lambda: any(r.subject == establishment.id for r in applied_rows(pg_probe)))
    for _ in range(10):
        runner.run_once(timeout=0.3)
    assert [r.subject for r in applied_rows(pg_probe)].count(establishment.id) == 1


def test_a_poison_event_goes_to_the_dead_letter_topic_and_the_consumer_moves_on(pg_registry, pg_probe,
                                                                                   kafka_servers):
    poison = register(pg_registry, name="poison")
    good = register(pg_registry, name="Nhà nghỉ Bình Minh")
    pg_registry.relay().run_once()
    (runner,) = pg_probe.consumer_runners()
    reader = topic_reader(kafka_servers, topics.DEAD_LETTERS)
    letters = []

    def poison_dead_lettered():
        runner.run_once(timeout=0.2)  # the two events may sit on different partitions: keep consuming
        letters.extend(json.loads(r.value) for rs in reader.poll(200).values() for r in rs)
        return (any(letter.get("key") == poison.id for letter in letters)
                and any(r.subject == good.id for r in applied_rows(pg_probe)))

    try:
        wait_until(poison_dead_lettered, 40, 0, "the dead letter")
    finally:
        reader.close()
    assert [r.subject for r in applied_rows(pg_probe)].count(good.id) == 1
    assert poison.id not in [r.subject for r in applied_rows(pg_probe)]
    (letter,) = [letter for letter in letters if letter.get("key") == poison.id]
    assert letter["consumer"] == runner.spec.name and "can never be applied" in letter["error"]
    assert json.loads(letter["original"])["id"]  # the original CloudEvent travels with its error


def test_writes_are_accepted_while_the_broker_is_down_and_delivered_once_it_is_back(
        services, tmp_path, new_database, kafka, pg_probe):
    from tests.conftest import make_config

    down = KafkaTransport("127.0.0.1:9", partitions=3)  # nothing listens there: the broker is "down"
    url = new_database("registry")
    registry_down = bootstrap(services["registry"], make_config("registry", tmp_path, database_url=url,
                                                                transport="kafka"), down)
    registry_down.migrate()
    client = registry_down.create_app().test_client()
    from tests.conftest import TEST_SECRET
    from chassis.auth import Authenticator

    headers = {"Authorization": "Bearer " + Authenticator(TEST_SECRET, None, "lanhmanh").issue("u", ["police"])}
    created = []
    for i in range(5):
        response = client.post("/registry/v1/establishments", headers=headers, json={
            "name": f"Karaoke Sao Mai {i}", "business_type": "karaoke", "owner_name": "Cầm Thị Hoa",
            "address": "Bản Mòng", "commune_code": "03646"})
        assert response.status_code == 201
        created.append(response.json["id"])
    assert client.get("/registry/readyz").status_code == 503
    relay_down = registry_down.relay()
    assert relay_down.run_once() == 0
    assert relay_down.backlog() == 5
    registry_down.dispose()

    registry_up = bootstrap(services["registry"], make_config("registry", tmp_path, database_url=url,
                                                              transport="kafka"), kafka)
    kafka.ensure_topics(registry_up.topics())
    relay = registry_up.relay()
    with registry_up.engine.begin() as conn:  # skip the backoff wait
        outbox = registry_up.service.tables["outbox"]
        conn.execute(outbox.update().values(next_attempt_at=outbox.c.created_at))
    assert relay.run_once() == 5
    (runner,) = pg_probe.consumer_runners()
    consume_until(runner, lambda: set(created) <= {r.subject for r in applied_rows(pg_probe)})
    subjects = [r.subject for r in applied_rows(pg_probe)]
    assert all(subjects.count(i) == 1 for i in created)
    registry_up.dispose()
