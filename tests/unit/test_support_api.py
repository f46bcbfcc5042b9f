"""The support service over HTTP (Flask test client, SQLite, embedded transport): the whole path
of a supported person, access and audit, and the privacy checks — no identity in clear text in
the database file, in events, in error messages or in the logs."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from chassis.envelope import build
from chassis.service import bootstrap
from chassis.transport import Outgoing
from contracts.events import cases as case_events
from contracts.events import inspection as inspection_events
from cryptography.fernet import Fernet

from services.support import handlers, vault
from services.support.domain import local_date
from services.support.vault import DEV_ENCRYPTION_KEY, Vault
from tests.conftest import make_config

BASE = "/support/v1"
NAME = "Vàng Thị Chứ"
ID_NUMBER = "014301009876"
PHONE = "0976543210"
TODAY = local_date(handlers.now())


@pytest.fixture
def support(services, tmp_path, embedded_transport):
    container = bootstrap(services["support"], make_config("support", tmp_path), embedded_transport)
    container.migrate()
    embedded_transport.ensure_topics(container.topics())
    yield container
    container.dispose()


@pytest.fixture
def client(support):
    app = support.create_app()
    app.testing = True
    return app.test_client()


@pytest.fixture
def worker(token):
    return token("social_worker", district="116", sub="cb-xh-116")


def person_body(**overrides) -> dict:
    return {"full_name": NAME, "birth_year": 1999, "sex": "female", "ethnicity": "H'Mông", "commune_code": "03646",
            "id_number": ID_NUMBER, "phone": PHONE, **overrides}


def new_person(client, headers, consent=True, **overrides) -> dict:
    response = client.post(f"{BASE}/persons", json=person_body(**overrides), headers=headers)
    assert response.status_code == 201, response.json
    if consent:
        given = client.post(f"{BASE}/persons/{response.json['id']}/consents", headers=headers, json={
            "given_on": str(TODAY), "services": ["legal_aid", "health_care", "vocational_training"]})
        assert given.status_code == 201, given.json
    return response.json


def accepted_case(client, headers) -> tuple[dict, str]:
    person = new_person(client, headers)
    referral = client.post(f"{BASE}/referrals", json={"source": "walk_in"}, headers=headers).json
    decided = client.post(f"{BASE}/referrals/{referral['id']}/decision", headers=headers,
                          json={"accepted": True, "person_id": person["id"]})
    assert decided.status_code == 201, decided.json
    return person, decided.json["support_case_id"]


def outbox(support) -> list[dict]:
    with support.engine.connect() as conn:
        return [json.loads(r.payload) for r in conn.execute(select(support.service.tables["outbox"]))]


def test_a_supported_person_s_path_from_referral_to_reintegration(client, worker, support):
    person, case_id = accepted_case(client, worker)
    assert "full_name" not in person and "identity" not in person  # creation shows no identity
    case_url = f"{BASE}/cases/{case_id}"
    etag = client.get(case_url, headers=worker).headers["ETag"]
    assessed = client.patch(case_url, headers={**worker, "If-Match": etag}, json={
        "needs": ["vocational_training", "health_care"], "goals": [{"description": "Có việc làm ổn định"}]})
    assert assessed.status_code == 200, assessed.json
    assert client.patch(case_url, headers={**worker, "If-Match": etag}, json={"needs": []}).status_code == 412
    assert client.patch(case_url, headers=worker, json={"needs": []}).status_code == 428
    for service in ({"service_type": "health_care", "health_kind": "hiv_test"},
                    {"service_type": "vocational_training", "course": "May công nghiệp",
                     "provider": "Trường Cao đẳng nghề Sơn La", "started_on": str(TODAY)}):
        added = client.post(f"{case_url}/services", headers=worker, json={**service, "delivered_on": str(TODAY)})
        assert added.status_code == 201, added.json
    training = added.json["services"][-1]
    assert training["completed"] is False
    done = client.post(f"{case_url}/services/{training['id']}/completion", headers=worker,
                       json={"completed_on": str(TODAY)})
    assert done.json["services"][-1]["completed"] is True
    refused = client.post(f"{case_url}/services", headers=worker, json={
        "service_type": "job_placement", "employer": "HTX Cò Nòi", "started_on": str(TODAY), "delivered_on": str(TODAY)})
    assert refused.status_code == 409 and refused.json["errors"][0]["field"] == "service_type"  # not consented
    closed = client.post(f"{case_url}/closure", headers=worker, json={"outcome": "reintegrated"})
    assert (closed.status_code, closed.json["status"], closed.json["outcome"]) == (201, "closed", "reintegrated")
    types = [e["type"].split(".")[-3:-1] for e in outbox(support)]
    assert types == [["referral", "received"], ["case", "opened"], ["referral", "decided"], ["service", "delivered"],
                     ["service", "delivered"], ["service", "delivered"], ["case", "closed"]]
    for event in outbox(support):
        assert event["subject"] in (person["person_ref"], event["data"].get("referral_id"))
        assert person["id"] not in json.dumps(event)


def test_follow_up_tasks_show_as_due_and_overdue(client, worker, token):
    _, case_id = accepted_case(client, worker)
    for title, due in (("Thăm hỏi tại nhà", TODAY), ("Gặp lại sau khóa học", TODAY + timedelta(days=60))):
        assert client.post(f"{BASE}/cases/{case_id}/tasks", headers=worker,
                           json={"title": title, "due_on": str(due)}).status_code == 201
    listed = client.get(f"{BASE}/tasks", headers=worker)  # due: within 14 days, or overdue
    assert [(t["title"], t["overdue"]) for t in listed.json] == [("Thăm hỏi tại nhà", False)]
    assert client.get(f"{BASE}/tasks", query_string={"status": "open"}, headers=worker).headers["X-Pagination"]
    assert client.get(f"{BASE}/tasks", query_string={"status": "overdue"}, headers=worker).json == []
    other = token("social_worker", district="118")
    assert client.get(f"{BASE}/tasks", headers=other).json == []


def test_identity_only_for_social_workers_of_the_district_and_admins_and_every_read_is_audited(client, worker, token,
                                                                                              caplog):
    caplog.set_level(logging.INFO)
    person = new_person(client, worker, consent=False)
    url = f"{BASE}/persons/{person['id']}"
    read = client.get(url, headers=worker)
    assert read.status_code == 200 and read.json["identity"]["full_name"] == NAME
    assert read.json["identity"]["commune_name"] == "Phường Chiềng Lề"
    for role in ("police", "culture_inspector", "reporting_consumer"):
        denied = client.get(url, headers=token(role), query_string={"reason": "điều tra vụ án liên quan"})
        assert denied.status_code == 403 and NAME not in denied.get_data(as_text=True)
        assert client.get(f"{BASE}/persons", headers=token(role)).status_code == 403
        assert client.get(f"{BASE}/cases", headers=token(role)).status_code == 403
    outsider = token("social_worker", district="118", sub="cb-xh-118")
    assert client.get(url, headers=outsider).status_code == 403
    glass = client.get(url, headers=outsider, query_string={"reason": "Người này đến huyện xin hỗ trợ khẩn cấp"})
    assert glass.status_code == 200 and glass.json["break_glass"] is True
    (alert,) = [r for r in caplog.records if "break the glass" in r.getMessage()]
    assert (alert.levelname, alert.person_id, alert.actor_district) == ("WARNING", person["id"], "118")
    assert NAME not in str(alert.__dict__)
    assert client.get(url, headers=token("admin"), query_string={"reason": "Kiểm tra chất lượng hồ sơ"}).status_code == 200
    audit = client.get(f"{BASE}/audit", headers=token("admin"), query_string={"person_id": person["id"], "sort": "at"})
    assert [(e["actor"], e["break_glass"]) for e in audit.json] == [
        ("cb-xh-116", False), ("cb-xh-118", True), (audit.json[2]["actor"], False)]
    assert [e["reason"] for e in audit.json][1] == "Người này đến huyện xin hỗ trợ khẩn cấp"
    flagged = client.get(f"{BASE}/audit", headers=token("admin"), query_string={"break_glass": "true"})
    assert [e["actor"] for e in flagged.json] == ["cb-xh-118"]
    assert client.get(f"{BASE}/audit", headers=worker).status_code == 403


def test_the_audit_log_cannot_be_altered_through_the_api(client, worker, token):
    person = new_person(client, worker, consent=False)
    client.get(f"{BASE}/persons/{person['id']}", headers=worker)
    admin = token("admin")
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(f"{BASE}/audit", headers=admin, json={}).status_code == 405
    assert len(client.get(f"{BASE}/audit", headers=admin).json) == 1


def test_the_duplicate_check_proposes_a_merge_that_a_case_worker_confirms(client, worker):
    first = new_person(client, worker)
    again = new_person(client, worker, consent=False, full_name="vàng thị  chứ", id_number=None, phone=None)
    (proposal,) = again["merge_proposals"]
    assert (proposal["candidate_id"], proposal["matched_on"], proposal["status"]) == (first["id"], "name_birth_year",
                                                                                      "proposed")
    merged = client.post(f"{BASE}/persons/{again['id']}/merge", headers=worker,
                         json={"proposal_id": proposal["id"], "confirm": True})
    assert merged.status_code == 201
    assert (merged.json["status"], merged.json["merged_into"]) == ("merged", first["id"])
    assert merged.json["merge_proposals"][0]["status"] == "confirmed"
    shown = client.get(f"{BASE}/persons/{again['id']}", headers=worker).json
    assert shown["merge_proposals"][0]["decided_by"] == "cb-xh-116"
    assert client.get(f"{BASE}/persons/{first['id']}", headers=worker).json["merged_from"] == [again["id"]]
    listed = client.get(f"{BASE}/persons", headers=worker, query_string={"status": "active"}).json
    assert [(p["id"], p["merged_from"]) for p in listed] == [(first["id"], [again["id"]])]


def test_a_person_s_identity_is_corrected_with_if_match_and_the_correction_is_audited(client, worker, token):
    person = new_person(client, worker, consent=False)
    url = f"{BASE}/persons/{person['id']}"
    etag = client.get(url, headers=worker).headers["ETag"]
    assert client.patch(url, headers=worker, json={"phone": "0911222333"}).status_code == 428
    changed = client.patch(url, headers={**worker, "If-Match": etag}, json={"phone": "0911222333"})
    assert changed.status_code == 200 and changed.json["identity"]["phone"] == "0911222333"
    assert changed.json["identity"]["full_name"] == NAME
    assert client.patch(url, headers={**worker, "If-Match": etag}, json={"phone": "0911000000"}).status_code == 412
    other = new_person(client, worker, consent=False, full_name="Lò Thị Ánh", id_number=None)
    assert other["merge_proposals"] == []
    etag = client.get(f"{BASE}/persons/{other['id']}", headers=worker).headers["ETag"]
    corrected = client.patch(f"{BASE}/persons/{other['id']}", headers={**worker, "If-Match": etag},
                             json={"id_number": ID_NUMBER})  # now the same ID number: proposed for a merge
    assert [p["candidate_id"] for p in corrected.json["merge_proposals"]] == [person["id"]]
    audit = client.get(f"{BASE}/audit", headers=token("admin"), query_string={"sort": "at", "person_id": person["id"]})
    assert [e["action"] for e in audit.json] == ["read", "update"]  # the refused (stale) change opened nothing


def test_lists_are_pseudonymous_paged_and_filtered(client, worker, token):
    new_person(client, worker)
    new_person(client, worker, consent=False, full_name="Lò Thị Ánh", id_number=None)
    listed = client.get(f"{BASE}/persons", headers=worker, query_string={"page_size": 1})
    assert json.loads(listed.headers["X-Pagination"])["total"] == 2
    assert NAME not in listed.get_data(as_text=True) and "identity" not in listed.json[0]
    assert len(client.get(f"{BASE}/persons", headers=worker, query_string={"consent": "true"}).json) == 1
    assert client.get(f"{BASE}/persons", headers=token("social_worker", district="118")).json == []
    assert client.get(f"{BASE}/persons", headers=worker, query_string={"sort": "full_name"}).status_code == 422


def test_errors_logs_and_metrics_never_echo_an_identity(client, worker, caplog):
    caplog.set_level(logging.DEBUG)
    planted = "Giàng Thị Pàng Bí Mật"
    responses = [
        client.post(f"{BASE}/persons", headers=worker, json=person_body(full_name=planted, commune_code="99999")),
        client.post(f"{BASE}/persons", headers=worker, json=person_body(full_name=planted, birth_year="nineteen")),
        client.post(f"{BASE}/persons", headers=worker, json=person_body(full_name=planted, id_number="12ab")),
        client.post(f"{BASE}/persons", headers=worker, json=person_body(full_name=planted, birth_year=1850)),
        client.post(f"{BASE}/persons", headers=worker, json={**person_body(full_name=planted), "nickname": planted}),
        client.post(f"{BASE}/persons", headers=worker, json=person_body(full_name=planted, phone="call " + PHONE)),
    ]
    assert [r.status_code for r in responses] == [422] * 6
    assert responses[0].json["errors"][0]["field"] == "commune_code"
    created = client.post(f"{BASE}/persons", headers=worker, json=person_body(full_name=planted))
    client.get(f"{BASE}/persons/{created.json['id']}", headers=worker)
    for response in responses + [created]:
        body = response.get_data(as_text=True)
        assert planted not in body and PHONE not in body and ID_NUMBER not in body
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'route="/support/v1/persons"' in metrics
    assert planted not in metrics and ID_NUMBER not in metrics and PHONE not in metrics
    assert caplog.records, "the requests were logged"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert planted not in logged and ID_NUMBER not in logged and PHONE not in logged


def test_the_database_file_holds_no_identity_in_clear_text(client, worker, support, tmp_path, token):
    person, case_id = accepted_case(client, worker)
    client.get(f"{BASE}/persons/{person['id']}", headers=token("admin"), query_string={"reason": f"hồ sơ {NAME}"})
    retried = {**worker, "Idempotency-Key": "k-2"}  # the chassis keeps a POST's answer for its retries
    client.post(f"{BASE}/cases/{case_id}/tasks", headers=retried, json={"title": f"Gọi {PHONE}", "due_on": str(TODAY)})
    client.post(f"{BASE}/cases/{case_id}/closure", headers={**worker, "Idempotency-Key": "k-3"},
                json={"outcome": "moved_away", "note": NAME})
    assert client.get(f"{BASE}/cases/{case_id}", headers=worker).json["closure_note"] == NAME
    client.post(f"{BASE}/persons", json=person_body(), headers={**worker, "Idempotency-Key": "k-1"})
    support.engine.dispose()  # checkpoint the WAL
    stored = b"".join(p.read_bytes() for p in Path(tmp_path).glob("support.db*"))
    assert stored, "the database file exists"
    for secret in (NAME, ID_NUMBER, PHONE, "Vang Thi Chu"):
        assert secret.encode() not in stored
    assert person["person_ref"].encode() in stored  # the pseudonymous id is, in clear


def test_referrals_from_inspections_and_criminal_cases_arrive_by_event(client, worker, support, embedded_transport):
    batch = {"referral_batch_id": str(uuid.uuid4()), "inspection_id": str(uuid.uuid4()), "commune_code": "03646",
             "district_code": "116", "referred_on": TODAY, "count": 2,
             "referral_ids": [str(uuid.uuid4()), str(uuid.uuid4())]}
    victim = {"referral_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "commune_code": "03649",
              "district_code": "116", "referred_on": TODAY}
    messages = []
    for event_type, data, key in ((inspection_events.SUPPORT_REFERRAL, batch, batch["referral_batch_id"]),
                                  (case_events.VICTIM_REFERRED, victim, victim["referral_id"])):
        _, payload = build(event_type, key, data, "/lanhmanh/test")
        messages += [Outgoing(event_type.topic, key, payload, {})] * 2  # each delivered twice
    embedded_transport.producer().send(messages, timeout=5)
    (runner,) = support.consumer_runners()
    while runner.run_once(timeout=0.1):
        pass
    listed = client.get(f"{BASE}/referrals", headers=worker, query_string={"sort": "received_at"}).json
    assert sorted(r["id"] for r in listed) == sorted(batch["referral_ids"] + [victim["referral_id"]])
    assert {r["source"] for r in listed} == {"inspection", "case"}
    one = client.get(f"{BASE}/referrals/{victim['referral_id']}", headers=worker).json
    assert (one["source_ref"], one["status"]) == (victim["case_id"], "received")
    declined = client.post(f"{BASE}/referrals/{batch['referral_ids'][0]}/decision", headers=worker,
                           json={"accepted": False})
    assert declined.status_code == 422 and declined.json["errors"][0]["field"] == "reason"
    assert client.get(f"{BASE}/referrals", headers=worker, query_string={"source": "case"}).json[0]["id"] == \
        victim["referral_id"]


def test_key_rotation_re_encrypts_identities_and_notes_so_the_old_key_can_go(client, worker, token, support):
    person, case_id = accepted_case(client, worker)
    closed = client.post(f"{BASE}/cases/{case_id}/closure", headers=worker,
                         json={"outcome": "moved_away", "note": f"{NAME} chuyển về Hà Nội"})
    assert closed.status_code == 201 and "closure_note" not in closed.json  # written, not echoed
    assert client.post(f"{BASE}/maintenance/key-rotation", headers=worker).status_code == 403
    old_key, new_key = vault.current(), Fernet.generate_key().decode()
    match_key = "another-match-key-0123456789abcdef0123"
    try:
        vault.configure(Vault([new_key, DEV_ENCRYPTION_KEY], match_key))
        rotated = client.post(f"{BASE}/maintenance/key-rotation", headers=token("admin"))
        assert (rotated.status_code, rotated.json["rekeyed"]) == (201, 1)
        assert rotated.json["texts"] >= 1
        vault.configure(Vault([new_key], match_key))  # the old key is gone: everything still opens
        assert client.get(f"{BASE}/persons/{person['id']}", headers=worker).json["identity"]["full_name"] == NAME
        assert client.get(f"{BASE}/cases/{case_id}", headers=worker).json["closure_note"] == f"{NAME} chuyển về Hà Nội"
        assert client.get(f"{BASE}/audit", headers=token("admin")).json[0]["reason"] == "case work in own district"
        again = client.post(f"{BASE}/persons", headers=worker, json=person_body())
        assert again.json["merge_proposals"][0]["candidate_id"] == person["id"]  # hashes follow the new match key
    finally:
        vault.configure(old_key)


def test_retention_erases_identity_and_notes_and_keeps_the_history(client, worker, token, monkeypatch):
    person, case_id = accepted_case(client, worker)
    client.post(f"{BASE}/cases/{case_id}/closure", headers=worker,
                json={"outcome": "reintegrated", "closed_on": str(TODAY), "note": f"Đã gặp {NAME}"})
    kept = client.post(f"{BASE}/maintenance/retention", headers=token("admin"))
    assert kept.json == {"erased": 0, "retention_days": 5 * 365}
    monkeypatch.setenv("SUPPORT_RETENTION_DAYS", "0")
    assert client.post(f"{BASE}/maintenance/retention", headers=token("admin")).json["erased"] == 0  # same day
    monkeypatch.setattr(handlers, "local_date", lambda at: TODAY + timedelta(days=1))
    assert client.post(f"{BASE}/maintenance/retention", headers=token("admin")).json["erased"] == 1
    shown = client.get(f"{BASE}/persons/{person['id']}", headers=worker).json
    assert (shown["identity"], shown["status"], shown["person_ref"]) == (None, "erased", person["person_ref"])
    case = client.get(f"{BASE}/cases/{case_id}", headers=worker).json
    assert (case["outcome"], case["closure_note"]) == ("reintegrated", None)


def test_the_openapi_document_lists_the_interface(client):
    paths = client.get("/support/openapi.json").json["paths"]
    for path in ("/support/v1/persons", "/support/v1/persons/{person_id}", "/support/v1/persons/{person_id}/consents",
                 "/support/v1/referrals", "/support/v1/referrals/{referral_id}/decision", "/support/v1/cases",
                 "/support/v1/cases/{case_id}", "/support/v1/cases/{case_id}/services",
                 "/support/v1/cases/{case_id}/closure", "/support/v1/tasks", "/support/v1/audit"):
        assert path in paths
    assert set(paths["/support/v1/audit"]) == {"get"}


def test_demo_data_is_a_believable_2020(support, client, token):
    assert support.service.demo(support) > 50
    assert support.service.demo(support) == 0  # loaded once
    overdue = client.get(f"{BASE}/tasks", headers=token("admin"), query_string={"status": "overdue"}).json
    assert overdue and all(t["overdue"] and t["due_on"] < str(TODAY) for t in overdue)
    audit = client.get(f"{BASE}/audit", headers=token("admin")).json
    assert audit and audit[0]["reason"] == "Xác minh hồ sơ trùng lặp"
    with support.engine.connect() as conn:
        from services.support.tables import support_cases
        cases = conn.execute(select(support_cases.c.opened_on, support_cases.c.outcome)).all()
    assert cases and all(c.opened_on.year == 2020 for c in cases)
    assert {"reintegrated", "moved_away"} <= {c.outcome for c in cases}
