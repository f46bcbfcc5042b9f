"""A supported person's path through the support service over HTTP, in the embedded and the
distributed mode: an inspection's referral arrives by event, is accepted with consent, services
are delivered, the case closes as reintegrated. Other agencies and other districts cannot read
the identity; the audit shows every read; neither the database nor the event stream holds an
identity in clear text.

The inspection's SUPPORT_REFERRAL is put on its topic by the test itself (as the inspection
service would), so this test does not depend on another service's API.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect, text

from contracts import topics
from contracts.events import inspection as inspection_events

pytestmark = pytest.mark.infra
BASE = "/support/v1"
ID_NUMBER = "014302007777"
PHONE = "0965432109"
# what is random in an event: a UUID (dashed or not), a time's fraction of a second
RANDOM = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|(?<=:\d\d)\.\d+")
TODAY = (datetime.now(timezone.utc) + timedelta(hours=7)).date()


def publish_inspection_referral(system, count: int = 1) -> dict:
    """What the inspection service publishes when people consent to be referred for support."""
    data = {"referral_batch_id": str(uuid.uuid4()), "inspection_id": str(uuid.uuid4()), "commune_code": "03646",
            "district_code": "116", "referred_on": TODAY, "count": count,
            "referral_ids": [str(uuid.uuid4()) for _ in range(count)]}
    system.publish(inspection_events.SUPPORT_REFERRAL, data["referral_batch_id"], data, "/lanhmanh/inspection")
    return data


def stored_text(system) -> bytes:
    """Everything the support database holds, as bytes (the SQLite files, or every PostgreSQL row as text)."""
    env = system.env
    if system.mode == "embedded":
        return b"".join(p.read_bytes() for p in Path(env["LANHMANH_VAR_DIR"]).glob("support.db*"))
    engine = create_engine(env["SUPPORT_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            rows = [str(r[0]) for name in names for r in conn.execute(text(f'SELECT t::text FROM "{name}" t'))]
    finally:
        engine.dispose()
    return "\n".join(rows).encode()


def process_logs(system) -> str:
    """What every process of the system has written to its log file so far (stdout and stderr)."""
    files = {Path(f"/proc/{p.pid}/fd/1").resolve() for p in system.processes if p.poll() is None}
    return "\n".join(f.read_text(errors="replace") for f in files if f.is_file())


def wait_for(url: str, headers: dict, timeout: float = 45.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(url, headers=headers, timeout=10)
        if response.status_code == 200:
            return response.json()
        time.sleep(0.3)
    return None


def referral_arrives(system, worker: dict) -> tuple[dict, dict]:
    """Publish an inspection's referral and wait until the support service shows it."""
    batch = publish_inspection_referral(system)
    referral = wait_for(system.url(f"{BASE}/referrals/{batch['referral_ids'][0]}"), worker, timeout=45.0)
    assert referral is not None, f"{system.mode}: no inspection referral reached the support service"
    return batch, referral


def person_body(name: str) -> dict:
    return {"full_name": name, "birth_year": 1997, "sex": "female", "ethnicity": "Thái", "commune_code": "03646",
            "id_number": ID_NUMBER, "phone": PHONE}


def supported_person(system, worker: dict, name: str) -> tuple[dict, dict]:
    """An inspection referral arrives; the case worker meets the person, records consent and accepts."""
    batch, referral = referral_arrives(system, worker)
    assert (referral["source"], referral["status"], referral["source_ref"]) == (
        "inspection", "received", batch["inspection_id"])
    person = requests.post(system.url(f"{BASE}/persons"), json=person_body(name), headers=worker, timeout=10)
    assert person.status_code == 201, person.text
    person = person.json()
    consent = requests.post(system.url(f"{BASE}/persons/{person['id']}/consents"), headers=worker, timeout=10, json={
        "given_on": str(TODAY), "services": ["legal_aid", "health_care", "vocational_training", "job_placement"]})
    assert consent.status_code == 201, consent.text
    decided = requests.post(system.url(f"{BASE}/referrals/{referral['id']}/decision"), headers=worker, timeout=10,
                            json={"accepted": True, "person_id": person["id"],
                                  "reason": "Đồng ý tham gia hỗ trợ hòa nhập cộng đồng"})
    assert decided.status_code == 201, decided.text
    return person, decided.json()


def test_an_inspection_referral_is_accepted_served_and_closed_as_reintegrated(system):
    worker = system.headers("social_worker", district="116")
    name = f"Lò Thị Xuân {uuid.uuid4().hex[:6]}"
    person, referral = supported_person(system, worker, name)
    case_url = system.url(f"{BASE}/cases/{referral['support_case_id']}")
    for service in ({"service_type": "legal_aid", "provider": "Trung tâm Trợ giúp pháp lý tỉnh Sơn La"},
                    {"service_type": "health_care", "health_kind": "hiv_test"},
                    {"service_type": "vocational_training", "course": "May công nghiệp",
                     "provider": "Trường Cao đẳng nghề Sơn La", "started_on": str(TODAY), "completed_on": str(TODAY)},
                    {"service_type": "job_placement", "employer": "Công ty TNHH May Sơn La", "started_on": str(TODAY)}):
        added = requests.post(f"{case_url}/services", json={**service, "delivered_on": str(TODAY)}, headers=worker,
                              timeout=10)
        assert added.status_code == 201, added.text
    closed = requests.post(f"{case_url}/closure", json={"outcome": "reintegrated"}, headers=worker, timeout=10)
    assert (closed.status_code, closed.json()["outcome"]) == (201, "reintegrated")

    events = system.events_for(person["person_ref"], 6, topic=topics.SUPPORT_CASES)
    assert [e["type"] for e in events] == [
        "vn.lanhmanh.support.case.opened.v1", *["vn.lanhmanh.support.service.delivered.v1"] * 4,
        "vn.lanhmanh.support.case.closed.v1"]
    assert events[-1]["data"]["outcome"] == "reintegrated"
    assert [e["data"]["service_type"] for e in events[1:5]] == [
        "legal_aid", "health_care", "vocational_training", "job_placement"]
    (decision,) = system.events_for(referral["id"], 2, topic=topics.SUPPORT_CASES)[1:]
    assert decision["data"]["accepted"] is True
    # The event stream holds no identity: only the pseudonymous ref, district, age band and sex.
    for event in events + [decision]:
        dumped = json.dumps(event, ensure_ascii=False)
        for secret in (name, ID_NUMBER, PHONE, person["id"]):
            assert secret not in dumped
        # the birth year and the commune, once what is random is set aside (the events' ids hold
        # "1997" in about one run of fifty)
        for secret in ("1997", "03646"):
            assert secret not in RANDOM.sub("<random>", dumped)
    assert set(events[0]["data"]) == {"person_ref", "district_code", "age_band", "sex", "support_case_id", "opened_on"}
    assert events[0]["data"]["age_band"] in ("25_34", "18_24")


def test_only_the_district_s_social_worker_and_admin_read_the_identity_and_every_read_is_audited(system):
    worker = system.headers("social_worker", district="116")
    name = f"Sùng Thị Mỷ {uuid.uuid4().hex[:6]}"
    person, _ = supported_person(system, worker, name)
    url = system.url(f"{BASE}/persons/{person['id']}")
    for headers in (system.headers("police"), system.headers("culture_inspector"),
                    system.headers("reporting_consumer"), system.headers("social_worker", district="118")):
        denied = requests.get(url, headers=headers, timeout=10)
        assert denied.status_code == 403, denied.text
        assert denied.headers["Content-Type"].startswith("application/problem+json")
        assert name not in denied.text and PHONE not in denied.text
    read = requests.get(url, headers=worker, timeout=10)
    assert read.status_code == 200 and read.json()["identity"]["full_name"] == name
    glass = requests.get(url, params={"reason": "Người này xin hỗ trợ tại huyện Quỳnh Nhai"}, timeout=10,
                         headers=system.headers("social_worker", district="118"))
    assert glass.status_code == 200 and glass.json()["break_glass"] is True
    audit = requests.get(system.url(f"{BASE}/audit"), params={"person_id": person["id"], "sort": "at"},
                         headers=system.headers("admin"), timeout=10)
    assert audit.status_code == 200
    assert [(e["actor_district"], e["break_glass"]) for e in audit.json()] == [("116", False), ("118", True)]
    assert requests.get(system.url(f"{BASE}/audit"), headers=worker, timeout=10).status_code == 403
    assert requests.delete(system.url(f"{BASE}/audit"), headers=system.headers("admin"), timeout=10).status_code == 405


def test_neither_the_database_nor_the_logs_hold_an_identity_in_clear_text(system):
    worker = system.headers("social_worker", district="116")
    name = f"Giàng Thị Dợ {uuid.uuid4().hex[:6]}"
    person, referral = supported_person(system, worker, name)
    requests.get(system.url(f"{BASE}/persons/{person['id']}"), headers=worker, timeout=10).raise_for_status()
    # Free text a case worker writes may name the person: it is encrypted too.
    case_url = system.url(f"{BASE}/cases/{referral['support_case_id']}")
    closed = requests.post(f"{case_url}/closure", headers={**worker, "Idempotency-Key": uuid.uuid4().hex},
                           timeout=10, json={"outcome": "moved_away", "note": f"{name} chuyển về Hà Nội, {PHONE}"})
    assert closed.status_code == 201
    assert requests.get(case_url, headers=worker, timeout=10).json()["closure_note"].startswith(name)
    bad = requests.post(system.url(f"{BASE}/persons"), json={**person_body(name), "commune_code": "99999"},
                        headers=worker, timeout=10)
    assert bad.status_code == 422 and name not in bad.text
    stored = stored_text(system)
    assert person["person_ref"].encode() in stored  # we are looking at the right database
    for secret in (name, ID_NUMBER, PHONE):
        assert secret.encode() not in stored
    logs = process_logs(system)
    assert '"service": "support"' in logs  # the support processes' logs are among them
    for secret in (name, ID_NUMBER, PHONE):
        assert secret not in logs
