"""The inspection service's consumers through the real runner, inbox and embedded transport."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone

import pytest

from chassis.envelope import build
from chassis.service import bootstrap
from chassis.transport import Outgoing
from contracts import topics
from contracts.events import cases as case_events
from contracts.events import registry as registry_events
from services.inspection import domain, views
from tests.conftest import make_config
from tests.support.statements import selects_from


@pytest.fixture
def inspection(services, tmp_path, embedded_transport):
    container = bootstrap(services["inspection"], make_config("inspection", tmp_path), embedded_transport)
    container.migrate()
    embedded_transport.ensure_topics(container.topics())
    yield container
    container.dispose()


def send(transport, event_type, subject: str, data: dict, event_id: str | None = None) -> None:
    _, raw = build(event_type, subject, data, "/lanhmanh/test", event_id=event_id)
    assert transport.producer().send([Outgoing(event_type.topic, subject, raw, {})], timeout=5) == [None]


def drain(inspection) -> None:
    for runner in inspection.consumer_runners():
        while runner.run_once(timeout=0.01):
            pass


def registered(establishment_id: str, **overrides) -> dict:
    return {"establishment_id": establishment_id, "name": "Spa Hoa Ban", "business_type": "sauna_spa",
            "licence_number": None, "address": "Bản Hài, Xã Chiềng Ngần", "commune_code": "03646",
            "district_code": "116", "province_code": "14", "employees": 6, "operating_since": date(2019, 1, 1),
            "status": "active", "risk_level": "medium", "registered_at": datetime(2020, 1, 5, tzinfo=timezone.utc),
            **overrides}


def copy_of(inspection, establishment_id: str):
    with inspection.session_factory() as session:
        return session.get(domain.Establishment, establishment_id)


def test_a_registration_delivered_twice_is_applied_once_and_updates_follow_in_order(inspection, embedded_transport):
    eid, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    send(embedded_transport, registry_events.ESTABLISHMENT_REGISTERED, eid, registered(eid), event_id)
    send(embedded_transport, registry_events.ESTABLISHMENT_REGISTERED, eid, registered(eid), event_id)  # redelivery
    send(embedded_transport, registry_events.ESTABLISHMENT_STATUS_CHANGED, eid, {
        "establishment_id": eid, "previous_status": "active", "status": "suspended",
        "reason": "Đình chỉ 60 ngày", "effective_on": date(2020, 5, 1), "commune_code": "03646",
        "district_code": "116"})
    drain(inspection)
    inbox = inspection.service.tables["inbox"]
    with inspection.engine.connect() as conn:
        assert len(conn.execute(inbox.select()).all()) == 2
    with inspection.session_factory() as session:
        assert views.establishments_known(session) == 1
    assert copy_of(inspection, eid).status == "suspended"


def test_a_payload_that_breaks_its_contract_goes_to_the_dead_letters(inspection, embedded_transport):
    eid = str(uuid.uuid4())
    _, raw = build(registry_events.ESTABLISHMENT_REGISTERED, eid, registered(eid), "/lanhmanh/test")
    broken = json.loads(raw)
    del broken["data"]["commune_code"]
    embedded_transport.producer().send([Outgoing(topics.REGISTRY_ESTABLISHMENTS, eid, json.dumps(broken).encode(),
                                                 {})], timeout=5)
    drain(inspection)
    assert copy_of(inspection, eid) is None
    reader = embedded_transport.consumer("test-dead-letters", [topics.DEAD_LETTERS])
    (letter,) = [json.loads(m.value) for m in reader.poll(0.01, 100)]
    assert letter["consumer"] == "inspection-establishments"


def test_tips_about_an_establishment_count_while_open(inspection, embedded_transport):
    eid, tip = str(uuid.uuid4()), str(uuid.uuid4())
    send(embedded_transport, registry_events.ESTABLISHMENT_REGISTERED, eid, registered(eid))
    base = {"tip_id": tip, "commune_code": "03646", "district_code": "116", "establishment_id": eid}
    send(embedded_transport, case_events.TIP_RECEIVED, tip, {
        **base, "source": "citizen", "received_at": datetime(2020, 2, 1, tzinfo=timezone.utc), "inspection_id": None})
    drain(inspection)
    with inspection.session_factory() as session:
        assert session.get(domain.Tip, tip).open
    send(embedded_transport, case_events.TIP_HANDLED, tip, {
        **base, "handled_at": datetime(2020, 3, 1, tzinfo=timezone.utc), "case_id": None})
    drain(inspection)
    with inspection.session_factory() as session:
        assert not session.get(domain.Tip, tip).open


def updated(establishment_id: str, **overrides) -> dict:
    snapshot = registered(establishment_id, **overrides)
    del snapshot["registered_at"]
    return {**snapshot, "updated_at": datetime(2020, 3, 1, tzinfo=timezone.utc), "changed": sorted(overrides)}


def test_a_poll_of_registrations_and_updates_is_applied_in_order_with_one_lookup(inspection, embedded_transport):
    """A poll's registrations and updates (mixed, several of one establishment) go to the batch handler
    together: the copy ends as the events left it in turn, and the local copy is looked up once, not
    once per event."""
    earlier, a, b, c = (str(uuid.uuid4()) for _ in range(4))
    send(embedded_transport, registry_events.ESTABLISHMENT_REGISTERED, earlier, registered(earlier))
    drain(inspection)
    poll = [
        (registry_events.ESTABLISHMENT_REGISTERED, a, registered(a, name="Karaoke Ánh Dương")),
        (registry_events.ESTABLISHMENT_REGISTERED, b, registered(b, name="Nhà nghỉ Bình Minh",
                                                                business_type="accommodation")),
        (registry_events.ESTABLISHMENT_UPDATED, a, updated(a, name="Karaoke Ánh Dương Mới", employees=9)),
        (registry_events.ESTABLISHMENT_UPDATED, earlier, updated(earlier, address="Tổ 3, Phường Quyết Thắng")),
        (registry_events.ESTABLISHMENT_REGISTERED, c, registered(c, name="Massage Sen Vàng")),
        (registry_events.ESTABLISHMENT_UPDATED, b, updated(b, name="Nhà nghỉ Bình Minh", business_type="accommodation",
                                                           risk_level="high")),
    ]
    for event_type, subject, data in poll:
        send(embedded_transport, event_type, subject, data)
    with selects_from(inspection.engine, "establishments") as lookups:
        drain(inspection)
    assert len(lookups) == 1
    assert (copy_of(inspection, a).name, copy_of(inspection, a).employees) == ("Karaoke Ánh Dương Mới", 9)
    assert copy_of(inspection, a).name_key == "karaoke anh duong moi"
    assert (copy_of(inspection, b).business_type, copy_of(inspection, b).risk_level) == ("accommodation", "high")
    assert copy_of(inspection, c).name == "Massage Sen Vàng"
    assert copy_of(inspection, earlier).address == "Tổ 3, Phường Quyết Thắng"
    with inspection.session_factory() as session:
        assert views.establishments_known(session) == 4
