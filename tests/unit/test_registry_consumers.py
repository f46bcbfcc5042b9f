"""The registry applies what other services decide: inspection risk assessments and court verdicts."""
from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from chassis import envelope
from chassis.auth import ADMIN, Principal
from chassis.transport import Outgoing
from contracts import topics
from contracts.events import cases, inspection
from services.registry import handlers, views
from tests.support.statements import selects_from

ADMIN_USER = Principal("admin-1", frozenset({ADMIN}))


@pytest.fixture
def establishment(registry):
    return handlers.register_establishment(registry.uow(), ADMIN_USER, {
        "name": "Karaoke Ánh Dương", "business_type": "karaoke", "owner_name": "Quàng Văn Dũng",
        "address": "Bản Hài", "commune_code": "03646", "risk_level": "low",
    }, ("14",))


def deliver(registry, event_type, subject, data, copies=1):
    """Put an event on its topic (``copies`` times, as a redelivery would) and run the registry's consumers."""
    _, value = envelope.build(event_type, str(subject), data, "/lanhmanh/test")
    registry.transport.producer().send([Outgoing(event_type.topic, str(subject), value)] * copies, 1)
    for runner in registry.consumer_runners():
        for _ in range(3):
            runner.run_once(timeout=0.01)


def current(registry, establishment_id):
    with registry.session_factory() as session:
        return views.establishment(session, ADMIN_USER, establishment_id)


def risk(establishment, **overrides):
    return {"establishment_id": uuid.UUID(establishment.id), "inspection_id": uuid.uuid4(), "risk_level": "high",
            "assessed_on": date(2020, 5, 4), "commune_code": "03646", "district_code": "116", **overrides}


def published_types(registry):
    outbox = registry.service.tables["outbox"]
    with registry.engine.connect() as conn:
        return [r.event_type.split(".")[-2] for r in conn.execute(select(outbox).order_by(outbox.c.id))]


def test_an_inspection_s_risk_assessment_sets_the_risk_level(registry, establishment):
    deliver(registry, inspection.RISK_ASSESSED, establishment.id, risk(establishment))
    assert current(registry, establishment.id).risk_level == "high"
    assert published_types(registry)[-1] == "updated"


def test_a_suspension_sanction_suspends_the_establishment_with_its_reason(registry, establishment):
    deliver(registry, inspection.RISK_ASSESSED, establishment.id, risk(establishment, suspension_days=30))
    found = current(registry, establishment.id)
    assert found.status == "suspended"
    assert "30 ngày" in found.status_reason
    assert found.status_history[-1].changed_by == "inspection"
    assert found.status_history[-1].effective_on == date(2020, 5, 4)


def test_a_revocation_proposal_revokes_the_establishment(registry, establishment):
    deliver(registry, inspection.RISK_ASSESSED, establishment.id, risk(establishment, revocation_proposed=True))
    assert current(registry, establishment.id).status == "revoked"


def test_a_redelivered_assessment_is_applied_once(registry, establishment):
    deliver(registry, inspection.RISK_ASSESSED, establishment.id, risk(establishment, suspension_days=10), copies=3)
    found = current(registry, establishment.id)
    assert [c.status for c in found.status_history] == ["active", "suspended"]
    assert published_types(registry).count("status_changed") == 1


def test_a_verdict_against_the_operator_revokes_every_establishment_they_ran(registry, establishment):
    second = handlers.register_establishment(registry.uow(), ADMIN_USER, {
        "name": "Nhà nghỉ Bình Minh", "business_type": "accommodation", "owner_name": "Quàng Văn Dũng",
        "address": "Bản Hài", "commune_code": "03646"}, ("14",))
    case_id = uuid.uuid4()
    deliver(registry, cases.OPERATOR_CONVICTED, case_id, {
        "case_id": case_id, "commune_code": "03646", "district_code": "116",
        "establishment_ids": [uuid.UUID(establishment.id), uuid.UUID(second.id)],
        "verdict_on": date(2020, 11, 20), "articles": ["327"]})
    for e in (establishment, second):
        found = current(registry, e.id)
        assert found.status == "revoked"
        assert "Điều 327" in found.status_reason


def test_other_case_events_are_ignored(registry, establishment):
    case_id = uuid.uuid4()
    deliver(registry, cases.CASE_OPENED, case_id, {
        "case_id": case_id, "commune_code": "03646", "district_code": "116", "articles": ["327"],
        "opened_on": date(2020, 3, 1), "establishment_ids": [uuid.UUID(establishment.id)]})
    assert current(registry, establishment.id).status == "active"


def test_an_assessment_of_an_unknown_establishment_is_dead_lettered(registry, establishment):
    stranger = uuid.uuid4()
    deliver(registry, inspection.RISK_ASSESSED, stranger, risk(establishment, establishment_id=stranger))
    consumer = registry.transport.consumer("reader", [topics.DEAD_LETTERS])
    letters = [json.loads(m.value) for m in consumer.poll(0.01, 100)]
    assert [letter["consumer"] for letter in letters] == ["registry-inspection-risk"]
    assert current(registry, establishment.id).risk_level == "low"


def test_a_poll_of_risk_assessments_looks_its_establishments_up_once_and_applies_each_in_turn(registry):
    """The consumer preloads a poll's establishments (one query, and one for each history) instead of
    three queries per event; each assessment is then applied, and published, as it would be alone."""
    made = [handlers.register_establishment(registry.uow(), ADMIN_USER, {
        "name": f"Nhà nghỉ Sơn Ca {i}", "business_type": "accommodation", "owner_name": "Lò Thị Mai",
        "address": "Tổ 2", "commune_code": "03646", "risk_level": "low"}, ("14",)) for i in range(3)]
    first, second, third = made
    assessments = [risk(first), risk(second, risk_level="medium"), risk(third, suspension_days=30),
                   risk(first, risk_level="medium")]
    published_before = len(published_types(registry))
    values = [envelope.build(inspection.RISK_ASSESSED, str(a["establishment_id"]), a, "/lanhmanh/test")[1]
              for a in assessments]
    registry.transport.producer().send([Outgoing(topics.INSPECTION_RISK, str(a["establishment_id"]), v)
                                        for a, v in zip(assessments, values)], 1)
    with selects_from(registry.engine, "establishments") as lookups:
        for runner in registry.consumer_runners():
            runner.run_once(timeout=0.01)
    assert len(lookups) == 1
    assert [current(registry, e.id).risk_level for e in made] == ["medium", "medium", "high"]
    assert current(registry, third.id).status == "suspended"
    assert published_types(registry)[published_before:].count("updated") == 4
