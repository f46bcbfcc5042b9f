"""The police's path over HTTP, in the embedded and the distributed mode: an inspection with signs of
prostitution becomes a tip, the tip a case, the case goes to a mobile trial and a verdict against the
operator, the registry revokes the establishment, a hotspot is found and eliminated."""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

pytestmark = pytest.mark.infra
TODAY = (datetime.now(timezone.utc) + timedelta(hours=7)).date().isoformat()
REGISTRY = "/registry/v1/establishments"
BASE = "/cases/v1"
CASES, HOTSPOTS, REFERRALS = "lanhmanh.cases.cases", "lanhmanh.cases.hotspots", "lanhmanh.cases.referrals"
TIPS = "lanhmanh.cases.tips"
OWNER, SUSPECT = "Quàng Văn Hùng", "Quàng Văn Hùng"


def wait_for(fetch, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def inspect_with_signs_of_prostitution(system, headers) -> tuple[dict, dict]:
    """Register an establishment and record an inspection that finds signs of prostitution there."""
    establishment = requests.post(system.url(REGISTRY), headers=headers, timeout=10, json={
        "name": f"Nhà nghỉ Bình Minh {uuid.uuid4().hex[:6]}", "business_type": "accommodation",
        "owner_name": OWNER, "address": "Tổ 3, Phường Chiềng Lề", "commune_code": "03646",
        "operating_since": "2016-04-01"}).json()

    def scheduled():  # the inspection service learns of the establishment from the registry's event
        response = requests.post(system.url("/inspection/v1/inspections"), headers=headers, timeout=10, json={
            "establishment_id": establishment["id"], "agency": "police", "kind": "specialised",
            "scheduled_on": TODAY, "team": ["ca-tp-lo-van-hung"]})
        return response.json() if response.status_code == 201 else None

    inspection = wait_for(scheduled)
    assert inspection, "the inspection service never learnt of the establishment"
    result = requests.post(system.url(f"/inspection/v1/inspections/{inspection['id']}/result"), headers=headers,
                           timeout=10, json={"conducted_on": TODAY, "signs_of_prostitution": True,
                                             "people_identified": 2, "people_consenting_to_referral": 0})
    assert result.status_code == 201, result.text
    return establishment, result.json()


def test_an_inspection_s_referral_becomes_a_tip_a_case_a_mobile_trial_a_verdict_and_a_revocation(system):
    police = system.headers("police", district="116")
    establishment, receipt = inspect_with_signs_of_prostitution(system, police)
    referral_id = receipt["police_referral_id"]

    # The referral becomes a tip, linked to the establishment and the inspection.
    tips = wait_for(lambda: requests.get(system.url(f"{BASE}/tips"), headers=police, timeout=10,
                                         params={"establishment_id": establishment["id"]}).json())
    assert tips, "no tip from the inspection's referral"
    (tip,) = tips
    assert (tip["source"], tip["referral_id"], tip["status"]) == ("inspection_referral", referral_id, "received")
    (received,) = system.events_for(tip["id"], 1, topic=TIPS)
    assert received["data"]["source"] == "inspection_referral"
    inspector = system.headers("culture_inspector", district="116")
    status = requests.get(system.url(f"{BASE}/referrals/{referral_id}"), headers=inspector, timeout=10)
    assert status.json()["handled"] is False
    assert requests.get(system.url(f"{BASE}/tips/{tip['id']}"), headers=inspector, timeout=10).status_code == 403

    # Verified and classified as criminal; a case is opened from it (the tip is then handled).
    classified = requests.post(system.url(f"{BASE}/tips/{tip['id']}/classification"), headers=police, timeout=10,
                               json={"classification": "criminal", "note": "Có dấu hiệu tội chứa mại dâm"})
    assert classified.status_code == 201, classified.text
    number = f"{uuid.uuid4().hex[:4]}/{TODAY[:4]}/QĐ-KTVA"

    def open_case():  # 422 on establishment_ids until the registry's event has reached this service's copy
        response = requests.post(system.url(f"{BASE}/cases"), headers=police, timeout=10, json={
            "case_number": number, "articles": ["327", "328"], "commune_code": "03646",
            "summary": "Chủ nhà nghỉ chứa mại dâm", "opened_on": TODAY, "tip_id": tip["id"],
            "establishment_ids": [establishment["id"]],
            "suspects": [{"full_name": SUSPECT, "role": "operator", "birth_year": 1979}]})
        if response.status_code == 422:
            assert {e["field"] for e in response.json()["errors"]} == {"establishment_ids"}, response.text
            return None
        return response

    opened = wait_for(open_case)
    assert opened is not None and opened.status_code == 201, opened and opened.text
    case = opened.json()
    assert requests.get(system.url(f"{BASE}/referrals/{referral_id}"), headers=inspector,
                        timeout=10).json()["handled"] is True
    victims = requests.post(system.url(f"{BASE}/cases/{case['id']}/victims"), headers=police, timeout=10,
                            json={"count": 1, "identified_on": TODAY})
    assert victims.status_code == 201, victims.text

    # Investigation, prosecution, a mobile trial, a verdict against the operator.
    for stage, extra in (("investigation", {}), ("prosecution", {}),
                         ("trial", {"court": "Tòa án nhân dân thành phố Sơn La", "mobile_trial": True}),
                         ("verdict", {"operator_convicted": True, "sentence": "6 năm tù"})):
        moved = requests.post(system.url(f"{BASE}/cases/{case['id']}/stages"), headers=police, timeout=10,
                              json={"stage": stage, "on": TODAY, **extra})
        assert moved.status_code == 201, moved.text
    events = system.events_for(case["id"], 6, topic=CASES)
    assert [e["type"].split(".")[-2] for e in events] == [
        "opened", "stage_changed", "stage_changed", "stage_changed", "stage_changed", "operator_convicted"]
    assert events[4]["data"]["mobile_trial"] is True
    assert events[5]["data"]["establishment_ids"] == [establishment["id"]]
    (referred,) = system.events_for(victims.json()["victims"][0]["referral_id"], 1, topic=REFERRALS)
    assert referred["data"]["case_id"] == case["id"]
    assert SUSPECT not in json.dumps(events + [referred], ensure_ascii=False)

    # The registry revokes the establishment on the verdict.
    revoked = wait_for(lambda: (e := requests.get(system.url(f"{REGISTRY}/{establishment['id']}"), headers=police,
                                                  timeout=10).json())["status"] == "revoked" and e)
    assert revoked, "the registry did not revoke the establishment"
    assert case["case_number"] in revoked["status_reason"] or case["id"] in revoked["status_reason"]

    # A hotspot the inspection found inside the establishment is eliminated.
    hotspot = requests.post(system.url(f"{BASE}/hotspots"), headers=police, timeout=10, json={
        "commune_code": "03646", "description": "Phòng nghỉ tầng 2 dùng làm nơi mua bán dâm",
        "kind": "inside_establishment", "establishment_id": establishment["id"], "found_by": "inspection",
        "inspection_id": receipt.get("inspection_id") or tip["inspection_id"], "detected_on": TODAY})
    assert hotspot.status_code == 201, hotspot.text
    eliminated = requests.post(system.url(f"{BASE}/hotspots/{hotspot.json()['id']}/elimination"), headers=police,
                               timeout=10, json={"on": TODAY, "how": "Thu hồi giấy phép, xử lý chủ cơ sở"})
    assert eliminated.status_code == 201 and eliminated.json()["status"] == "eliminated"
    found = system.events_for(hotspot.json()["id"], 2, topic=HOTSPOTS)
    assert [e["type"].split(".")[-2] for e in found] == ["detected", "eliminated"]


def test_illegal_moves_unknown_articles_and_early_dates_are_problems_naming_the_field(system):
    police = system.headers("police")
    opened = requests.post(system.url(f"{BASE}/cases"), headers=police, timeout=10, json={
        "case_number": f"{uuid.uuid4().hex[:6]}/2020", "articles": ["328"], "commune_code": "03646",
        "summary": "Môi giới mại dâm qua mạng xã hội", "opened_on": "2020-06-01"})
    assert opened.status_code == 201, opened.text
    stages = system.url(f"{BASE}/cases/{opened.json()['id']}/stages")

    def problem(response, status, field):
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()

    problem(requests.post(stages, headers=police, timeout=10,
                          json={"stage": "trial", "on": "2020-07-01", "court": "TAND"}), 409, "stage")
    problem(requests.post(stages, headers=police, timeout=10, json={"stage": "investigation", "on": "2020-05-01"}),
            422, "on")
    problem(requests.post(system.url(f"{BASE}/cases"), headers=police, timeout=10, json={
        "case_number": "x/2020", "articles": ["330"], "commune_code": "03646", "summary": "x",
        "opened_on": "2020-06-01"}), 422, "articles.0")
    for role in ("culture_inspector", "social_worker", "reporting_consumer"):
        denied = requests.get(system.url(f"{BASE}/cases"), headers=system.headers(role), timeout=10)
        assert denied.status_code == 403
    assert requests.get(system.url(f"{BASE}/cases/{opened.json()['id']}"), headers=police,
                        timeout=10).json()["stage"] == "opened"
