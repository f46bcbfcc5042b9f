"""An inspector's path over HTTP, in the embedded and the distributed mode: an establishment registered
in the registry reaches the inspection service as an event, is inspected with violations and signs of
prostitution, and the outcome reaches the police, social affairs and the registry as events."""
from __future__ import annotations

import time
import uuid

import pytest
import requests

pytestmark = pytest.mark.infra
REGISTRY = "/registry/v1/establishments"
BASE = "/inspection/v1"
INSPECTIONS, REFERRALS, RISK = ("lanhmanh.inspection.inspections", "lanhmanh.inspection.referrals",
                                "lanhmanh.inspection.risk-assessments")


def register(system, headers) -> dict:
    body = {"name": f"Karaoke Ánh Dương {uuid.uuid4().hex[:6]}", "business_type": "karaoke",
            "owner_name": "Cầm Thị Lan", "address": "Tổ 5, Phường Chiềng Lề", "commune_code": "03646",
            "operating_since": "2017-05-01", "risk_level": "medium"}
    response = requests.post(system.url(REGISTRY), json=body, headers=headers, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def schedule_when_known(system, headers, establishment_id: str, timeout: float = 30.0) -> dict:
    """The local copy learns of a new establishment from the registry's event: 422 until it arrives."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.post(system.url(f"{BASE}/inspections"), headers=headers, timeout=10, json={
            "establishment_id": establishment_id, "agency": "inter_agency", "kind": "inter_agency",
            "scheduled_on": "2020-09-15", "team": ["doi178-lo-van-hung", "doi178-cam-thi-thu"]})
        if response.status_code != 422 or time.monotonic() > deadline:
            assert response.status_code == 201, response.text
            return response.json()
        assert "establishment_id" in {e["field"] for e in response.json()["errors"]}
        time.sleep(0.3)


RESULT = {
    "conducted_on": "2020-09-15",
    "checklist": [{"item": "KA-01", "answer": "no", "note": "Phòng VIP 2 có chốt cài bên trong"},
                  {"item": "MD-DH", "answer": "yes"}],
    "violations": [{"code": "ANTT-05"}, {"code": "MD-01", "note": "Cho khách thuê phòng hát để mua bán dâm"}],
    "sanctions": [{"kind": "fine", "violation_code": "ANTT-05", "amount_vnd": 7_500_000},
                  {"kind": "licence_suspension", "violation_code": "MD-01", "days": 60}],
    "signs_of_prostitution": True, "people_identified": 2, "people_consenting_to_referral": 1,
}


def test_an_inspection_with_signs_of_prostitution_reaches_police_support_and_registry(system):
    headers = system.headers("police", district="116")
    establishment = register(system, headers)
    inspection = schedule_when_known(system, headers, establishment["id"])
    submit = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    url = system.url(f"{BASE}/inspections/{inspection['id']}/result")
    responses = [requests.post(url, json=RESULT, headers=submit, timeout=10) for _ in range(3)]
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    receipt = responses[0].json()
    assert all(r.json() == receipt for r in responses)
    assert receipt["passed"] is False and receipt["risk_level"] == "high" and receipt["reinspection_id"]

    events = system.events_for(inspection["id"], 3, topic=INSPECTIONS)  # scheduled, started, completed
    assert [e["type"].rsplit(".", 2)[-2] for e in events] == ["scheduled", "started", "completed"]
    assert events[2]["data"]["violation_codes"] == ["ANTT-05", "MD-01"]
    (police,) = system.events_for(receipt["police_referral_id"], 1, topic=REFERRALS)
    assert police["data"]["establishment_id"] == establishment["id"] and police["data"]["commune_code"] == "03646"
    (support,) = system.events_for(receipt["support_referral_batch_id"], 1, topic=REFERRALS)
    assert support["data"]["count"] == 1 and "Cầm Thị Lan" not in str(support)
    (risk,) = system.events_for(establishment["id"], 1, topic=RISK)
    assert (risk["data"]["risk_level"], risk["data"]["suspension_days"]) == ("high", 60)

    # The registry applies the assessment: its risk level and status change.
    deadline, seen = time.monotonic() + 30, {}
    while time.monotonic() < deadline:
        seen = requests.get(system.url(f"{REGISTRY}/{establishment['id']}"), headers=headers, timeout=10).json()
        if (seen["risk_level"], seen["status"]) == ("high", "suspended"):
            break
        time.sleep(0.3)
    assert (seen["risk_level"], seen["status"]) == ("high", "suspended"), seen

    # The repeated submissions changed nothing: one result, one completion, one referral of each kind.
    time.sleep(1.0)
    assert len(system.events_for(inspection["id"], 3, topic=INSPECTIONS)) == 3
    assert len(system.events_for(receipt["police_referral_id"], 1, topic=REFERRALS)) == 1
    body = requests.get(system.url(f"{BASE}/inspections/{inspection['id']}"), headers=headers, timeout=10).json()
    assert body["result"]["revision"] == 1 and body["corrected_results"] == []
    again = requests.get(system.url(f"{BASE}/inspections/{receipt['reinspection_id']}"), headers=headers, timeout=10)
    assert again.json()["status"] == "planned" and again.json()["scheduled_on"] == "2020-11-15"


def test_bad_inspection_input_gets_problem_documents_naming_the_field(system):
    headers = system.headers("culture_inspector")
    unknown = requests.post(system.url(f"{BASE}/inspections"), headers=headers, timeout=10, json={
        "establishment_id": str(uuid.uuid4()), "agency": "culture", "scheduled_on": "2020-09-15"})
    assert unknown.status_code == 422
    assert unknown.headers["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in unknown.json()["errors"]] == ["establishment_id"]

    inspection = schedule_when_known(system, headers, register(system, headers)["id"])
    url = system.url(f"{BASE}/inspections/{inspection['id']}/result")
    for change, field in (({"violations": [{"code": "ANTT-99"}]}, "violations.0.code"),
                          ({"sanctions": [{"kind": "warning", "violation_code": "ANTT-05", "amount_vnd": 500_000}]},
                           "sanctions.0.amount_vnd"),
                          ({"people_identified": -1}, "people_identified")):
        bad = requests.post(url, json={**RESULT, **change}, headers=headers, timeout=10)
        assert bad.status_code == 422, bad.text
        assert bad.headers["Content-Type"].startswith("application/problem+json")
        assert field in {e["field"] for e in bad.json()["errors"]}

    item = system.url(f"{BASE}/inspections/{inspection['id']}")
    etag = requests.get(item, headers=headers, timeout=10).headers["ETag"]
    cancelled = requests.patch(item, headers={**headers, "If-Match": etag}, timeout=10,
                               json={"status": "cancelled", "cancel_reason": "Cơ sở đóng cửa khi đoàn đến"})
    assert cancelled.status_code == 200, cancelled.text
    refused = requests.post(url, json=RESULT, headers=headers, timeout=10)
    assert refused.status_code == 409
    assert [e["field"] for e in refused.json()["errors"]] == ["status"]
    assert len(system.events_for(inspection["id"], 2, topic=INSPECTIONS)) == 2  # scheduled, cancelled
