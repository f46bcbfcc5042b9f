"""A supported person's identity never leaves the support service (issue 8, "Security").

The support service's own tests check its answers, logs and metrics and its database file. This
one runs every installed service together (in-process, SQLite, one embedded event log), plants an
unusual identity in a support flow that crosses services (a victim referred by a criminal case,
accepted, assessed, served, followed up, closed, read and corrected, with notes naming the person),
delivers every event to every consumer, and then searches for the planted values in:

* every log record (the root logger at DEBUG: requests, relays, consumers, errors);
* the ``/metrics`` output of every service;
* every outbox payload of every service, and every message of the event log;
* every error answer, and every answer of a service other than support;
* every database file of every service but support, and the support database too: it keeps the
  identity and the notes only encrypted (the support README's promise).
"""
from __future__ import annotations

import json
import logging
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.unit.test_security_matrix import ADMIN, CHIENG_LE, TODAY, World, bearer

NAME = "Xìn Thị Quỳnh Zêta Ngộ"
ID_NUMBER = "031415926535"
PHONE = "0861234579"


def folded(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn") \
        .replace("đ", "d").replace("Đ", "D")


PLANTED = (NAME, ID_NUMBER, PHONE, folded(NAME), "Zêta Ngộ", "Zeta Ngo", NAME.encode("unicode_escape").decode())


def leaks(text: str) -> list[str]:
    return [p for p in PLANTED if p in text]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    w.tmp = tmp_path
    yield w
    for c in w.containers.values():
        c.dispose()


def test_a_planted_identity_appears_in_no_event_log_metric_error_or_other_service(world, caplog):
    if "support" not in world.containers:
        pytest.skip("support is not installed")
    caplog.set_level(logging.DEBUG)  # the root logger, every library
    world.seed()  # every service has data of district 116 (and their events are delivered)
    worker = bearer("social_worker", "116", sub="cb-xh-116")
    outsider = bearer("social_worker", "118", sub="cb-xh-118")
    responses: list[tuple[str, object]] = []

    def call(service, method, path, headers, **kwargs):
        response = world.call(service, method, path, headers, **kwargs)
        responses.append((f"{service} {method} {path}", response))
        return response

    # A victim referred by a criminal case reaches support by event.
    if "cases" in world.containers:
        assert call("cases", "POST", f"/cases/v1/cases/{world.ids['case_id']}/victims", ADMIN,
                    json={"count": 1, "identified_on": "2020-03-11"}).status_code == 201
        world.deliver()
    referrals = call("support", "GET", "/support/v1/referrals", worker, query_string={"source": "case"}).get_json()
    referral_id = referrals[0]["id"] if referrals else call(
        "support", "POST", "/support/v1/referrals", worker, json={"source": "walk_in"}).get_json()["id"]

    # First contact, with the identity, then consent, acceptance, a plan, services, tasks, closure.
    person = call("support", "POST", "/support/v1/persons", worker, json={
        "full_name": NAME, "birth_year": 2001, "sex": "female", "ethnicity": "Hà Nhì", "commune_code": CHIENG_LE,
        "id_number": ID_NUMBER, "phone": PHONE})
    assert person.status_code == 201, person.get_json()
    pid = person.get_json()["id"]
    assert call("support", "POST", f"/support/v1/persons/{pid}/consents", worker, json={
        "given_on": TODAY, "services": ["legal_aid", "health_care", "vocational_training", "job_placement"],
        "share_with": ["reporting", "health"]}).status_code == 201
    decided = call("support", "POST", f"/support/v1/referrals/{referral_id}/decision", worker,
                   json={"accepted": True, "person_id": pid})
    assert decided.status_code == 201, decided.get_json()
    case = f"/support/v1/cases/{decided.get_json()['support_case_id']}"
    etag = call("support", "GET", case, worker).headers["ETag"]
    assert call("support", "PATCH", case, {**worker, "If-Match": etag}, json={
        "needs": ["legal_aid", "health_care"], "assessed_on": TODAY,
        "assessment_notes": f"{NAME} ({PHONE}) cần hỗ trợ pháp lý",
        "goals": [{"description": f"{NAME} có việc làm ổn định"}]}).status_code == 200
    for service in ({"service_type": "legal_aid", "notes": f"Tư vấn cho {NAME}, CCCD {ID_NUMBER}"},
                    {"service_type": "health_care", "health_kind": "hiv_test", "notes": f"Gọi {PHONE}"},
                    {"service_type": "job_placement", "employer": "Hợp tác xã Chiềng Lề", "started_on": TODAY}):
        added = call("support", "POST", f"{case}/services", {**worker, "Idempotency-Key": f"svc-{service['service_type']}"},
                     json={**service, "delivered_on": TODAY})
        assert added.status_code == 201, added.get_json()
    assert call("support", "POST", f"{case}/tasks", worker,
                json={"title": f"Gọi {NAME} số {PHONE}", "due_on": TODAY}).status_code == 201
    # Reads of the identity: by the district's worker, and break-the-glass with a reason naming her.
    assert call("support", "GET", f"/support/v1/persons/{pid}", worker).status_code == 200
    assert call("support", "GET", f"/support/v1/persons/{pid}", outsider,
                query_string={"reason": f"Tìm {NAME} chuyển huyện"}).status_code == 200
    etag = call("support", "GET", f"/support/v1/persons/{pid}", worker).headers["ETag"]
    assert call("support", "PATCH", f"/support/v1/persons/{pid}", {**worker, "If-Match": etag},
                json={"phone": "0861234570"}).status_code == 200
    # A duplicate first contact (a merge proposal), and refused input that carries the identity.
    assert call("support", "POST", "/support/v1/persons", worker, json={
        "full_name": NAME, "birth_year": 2001, "sex": "female", "ethnicity": "Hà Nhì", "commune_code": CHIENG_LE,
        "id_number": ID_NUMBER}).status_code == 201
    for bad in ({"full_name": NAME, "commune_code": "99999"}, {"full_name": NAME, "phone": f"gọi {PHONE}"},
                {"full_name": NAME, "id_number": ID_NUMBER + "x"}, {"full_name": NAME, "alias": NAME},
                {"full_name": NAME, "birth_year": ID_NUMBER}):
        body = {"birth_year": 2001, "sex": "female", "ethnicity": "Hà Nhì", "commune_code": CHIENG_LE, **bad}
        assert call("support", "POST", "/support/v1/persons", worker, json=body).status_code == 422
    assert call("support", "GET", f"/support/v1/persons/{pid}", outsider).status_code == 403
    assert call("support", "GET", "/support/v1/persons", worker, query_string={"q": NAME}).status_code in (200, 422)
    assert call("support", "PATCH", f"/support/v1/persons/{pid}", worker, json={"full_name": NAME}).status_code == 428
    assert call("support", "POST", f"{case}/closure", worker,
                json={"outcome": "reintegrated", "note": f"{NAME} đã ổn định, {ID_NUMBER}"}).status_code == 201
    # The identity in places it has no business in: other services' text fields and searches.
    if "registry" in world.containers:
        call("registry", "GET", "/registry/v1/establishments", ADMIN, query_string={"q": NAME})
    world.deliver()
    if "reporting" in world.containers:
        for path in ("/reporting/v1/support-indicators", "/reporting/v1/indicators"):
            assert call("reporting", "GET", path, bearer("reporting_consumer"),
                        query_string={"period": str(int(TODAY[:4])), "org_unit": "116"}
                        if path.endswith("/indicators") else {"period": TODAY[:4]}).status_code == 200
        call("reporting", "GET", "/reporting/v1/indicators/export.csv", ADMIN,
             query_string={"period": TODAY[:4], "org_unit": "14"})

    # -- a positive control: the search finds the identity where it is meant to be shown -------------------
    shown = world.call("support", "GET", f"/support/v1/persons/{pid}", worker).get_data().decode()
    assert NAME in shown and ID_NUMBER in shown
    assert NAME in world.call("support", "GET", case, worker).get_data().decode()  # the notes, to the worker
    if "cases" in world.containers:
        assert referrals, "the criminal case's victim referral reached support"

    # -- where it must not be ----------------------------------------------------------------------------
    assert caplog.records, "the flow was logged"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in caplog.records)
    assert not leaks(logged), "a log record holds the identity"

    for name in world.containers:
        metrics = world.call(name, "GET", "/metrics").get_data(as_text=True)
        assert "lanhmanh_http_requests_total" in metrics
        assert not leaks(metrics), f"{name}'s /metrics holds the identity"

    published = 0
    for name, container in world.containers.items():
        outbox = container.service.tables.get("outbox")
        if outbox is None:
            continue
        with container.engine.connect() as conn:
            payloads = conn.execute(select(outbox.c.payload)).scalars().all()
        published += len(payloads)
        for payload in payloads:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            assert not leaks(text), f"an event of {name} holds the identity"
            assert not leaks(json.dumps(json.loads(text), ensure_ascii=False))
    assert published, "events were published"

    for label, response in responses:
        text = response.get_data().decode("utf-8", "replace")
        if response.status_code >= 400 or not label.startswith("support "):
            assert not leaks(text), f"{label} answered {response.status_code} with the identity"
        if label.startswith("support POST") and response.status_code < 400:
            assert not leaks(text), f"{label}: a POST's answer (kept for Idempotency-Key retries) shows it"

    for container in world.containers.values():
        container.engine.dispose()  # checkpoint SQLite's WAL into the files
    files = sorted(Path(world.tmp).glob("*.db*"))
    assert any(f.name.startswith("events.db") for f in files) and any(f.name.startswith("support.db") for f in files)
    for path in files:
        raw = path.read_bytes()
        for planted in PLANTED:
            assert planted.encode() not in raw, f"{path.name} holds {planted!r} in clear"
            assert planted.encode("utf-16-le") not in raw
