"""HTTP API tests of the inspection service, with establishments that reach its local copy the real way:
registered through the registry's API, relayed as events and applied by the inspection's consumer.

Each test runs on fresh SQLite databases with the embedded transport (fixtures in tests/conftest.py).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from chassis.service import bootstrap
from chassis.transport import Outgoing
from chassis.envelope import build
from contracts.events import cases as case_events
from contracts.events import inspection as events
from services.inspection.domain import LOCAL_TIME
from tests.conftest import make_config

BASE = "/inspection/v1"
PROBLEM = "application/problem+json"
CHIENG_LE, TO_HIEU = "03646", "03649"  # district 116 (Thành phố Sơn La)
MUONG_CHIEN = "03682"  # district 118 (Huyện Quỳnh Nhai)


@pytest.fixture
def inspection(services, tmp_path, embedded_transport):
    container = bootstrap(services["inspection"], make_config("inspection", tmp_path), embedded_transport)
    container.migrate()
    embedded_transport.ensure_topics(container.topics())
    yield container
    container.dispose()


@pytest.fixture
def api(inspection):
    app = inspection.create_app()
    app.testing = True
    return app.test_client()


@pytest.fixture
def registry_api(registry):
    app = registry.create_app()
    app.testing = True
    return app.test_client()


@pytest.fixture
def admin(token):
    return token("admin", sub="admin-1")


@pytest.fixture
def register(registry, registry_api, inspection, admin):
    """register(name=..., risk_level=...): through the registry's API, then relayed and consumed here."""

    def register_one(sync: bool = True, **overrides) -> dict:
        body = {"name": f"Karaoke Hoa Hồng {uuid.uuid4().hex[:4]}", "business_type": "karaoke",
                "owner_name": "Lò Văn Thành", "address": "Số 12, đường Tô Hiệu", "commune_code": CHIENG_LE,
                "operating_since": "2018-03-01", **overrides}
        response = registry_api.post("/registry/v1/establishments", json=body, headers=admin)
        assert response.status_code == 201, response.get_json()
        if sync:
            deliver(registry, inspection)
        return response.get_json()

    return register_one


def deliver(registry, inspection) -> None:
    while registry.relay().run_once():
        pass
    for runner in inspection.consumer_runners():
        while runner.run_once(timeout=0.01):
            pass


def outbox(inspection) -> list[tuple[str, dict]]:
    t = inspection.service.tables["outbox"]
    with inspection.engine.connect() as conn:
        rows = conn.execute(select(t.c.event_type, t.c.payload).order_by(t.c.id)).all()
    return [(row.event_type, json.loads(row.payload)["data"]) for row in rows]


def published(inspection, event_type) -> list[dict]:
    return [data for type_, data in outbox(inspection) if type_ == event_type.type]


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    if field:
        assert field in {e.get("field") for e in body.get("errors", [])}, body
    return body


def schedule(api, headers, establishment_id: str, **overrides) -> dict:
    body = {"establishment_id": establishment_id, "agency": "culture", "scheduled_on": "2020-05-04", **overrides}
    response = api.post(f"{BASE}/inspections", json={k: v for k, v in body.items() if v is not None}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def failing_result(**overrides) -> dict:
    return {"conducted_on": "2020-05-04",
            "checklist": [{"item": "KA-01", "answer": "no", "note": "Cửa phòng 3 có chốt trong"},
                          {"item": "MD-DH", "answer": "yes"}],
            "violations": [{"code": "ANTT-05"}, {"code": "MD-02", "note": "Nhân viên gạ gẫm khách"}],
            "sanctions": [{"kind": "fine", "violation_code": "ANTT-05", "amount_vnd": 6_000_000},
                          {"kind": "licence_suspension", "violation_code": "MD-02", "days": 90}],
            "signs_of_prostitution": True, "people_identified": 3, "people_consenting_to_referral": 2,
            **overrides}


# -- the local copy --------------------------------------------------------------------------------------


def test_an_establishment_becomes_inspectable_when_its_registration_event_arrives(api, admin, register, registry,
                                                                                inspection):
    created = register(sync=False)
    early = api.post(f"{BASE}/inspections", headers=admin, json={
        "establishment_id": created["id"], "agency": "culture", "scheduled_on": "2020-05-04"})
    assert_problem(early, 422, "establishment_id")
    deliver(registry, inspection)
    inspection_ = schedule(api, admin, created["id"])
    assert inspection_["establishment_name"] == created["name"] and inspection_["commune_code"] == CHIENG_LE


# -- plans and visit lists -----------------------------------------------------------------------------------


def test_a_plan_s_visit_list_ranks_risk_and_open_tips_first(api, admin, register, inspection, embedded_transport):
    low = register(name="Nhà nghỉ Bình Minh", business_type="accommodation", risk_level="low")
    high = register(name="Massage Thư Giãn", business_type="massage", risk_level="high")
    tipped = register(name="Karaoke Sao Mai", risk_level="low")
    register(name="Karaoke Quỳnh Nhai", commune_code=MUONG_CHIEN, risk_level="high")  # outside the plan
    tip = str(uuid.uuid4())
    _, raw = build(case_events.TIP_RECEIVED, tip, {
        "tip_id": tip, "commune_code": CHIENG_LE, "district_code": "116", "establishment_id": tipped["id"],
        "source": "hotline", "received_at": datetime(2020, 3, 1, tzinfo=timezone.utc), "inspection_id": None},
        "/lanhmanh/cases")
    embedded_transport.producer().send([Outgoing(case_events.TIP_RECEIVED.topic, tip, raw, {})], timeout=5)
    for runner in inspection.consumer_runners():
        runner.run_once(timeout=0.01)

    plan = api.post(f"{BASE}/plans", headers=admin, json={
        "name": "Kiểm tra chuyên ngành 6 tháng đầu năm 2020", "kind": "specialised", "agency": "culture",
        "scope": "district", "district_code": "116", "period_start": "2020-01-01", "period_end": "2020-06-30"})
    assert plan.status_code == 201, plan.get_json()
    assert plan.headers["Location"].endswith(f"{BASE}/plans/{plan.get_json()['id']}")
    visits = api.get(f"{BASE}/plans/{plan.get_json()['id']}/visits", headers=admin)
    assert visits.status_code == 200
    assert [v["establishment_id"] for v in visits.get_json()] == [high["id"], tipped["id"], low["id"]]
    first = visits.get_json()[0]
    assert first["rank"] == 1 and first["score"] == sum(first["points"].values())
    assert visits.get_json()[1]["open_tips"] == 1
    assert json.loads(visits.headers["X-Pagination"])["total"] == 3


def test_visits_can_show_only_what_the_plan_has_not_scheduled(api, admin, register):
    a, b = register(), register()
    plan = api.post(f"{BASE}/plans", headers=admin, json={
        "name": "Kiểm tra liên ngành", "kind": "inter_agency", "agency": "inter_agency", "scope": "communes",
        "commune_codes": [CHIENG_LE], "period_start": "2020-01-01", "period_end": "2020-12-31"}).get_json()
    done = schedule(api, admin, a["id"], plan_id=plan["id"], agency=None)
    assert done["agency"] == "inter_agency" and done["kind"] == "inter_agency"
    pending = api.get(f"{BASE}/plans/{plan['id']}/visits", query_string={"pending": "true"}, headers=admin)
    assert [v["establishment_id"] for v in pending.get_json()] == [b["id"]]


def test_plans_are_listed_by_period_and_a_district_user_sees_only_province_and_own_plans(api, admin, token):
    for name, scope, district in (("Toàn tỉnh", "province", None), ("Thành phố", "district", "116"),
                                  ("Quỳnh Nhai", "district", "118")):
        body = {"name": name, "kind": "specialised", "agency": "police", "scope": scope,
                "period_start": "2020-01-01", "period_end": "2020-06-30"}
        if district:
            body["district_code"] = district
        assert api.post(f"{BASE}/plans", headers=admin, json=body).status_code == 201
    city = token("police", district="116")
    assert {p["name"] for p in api.get(f"{BASE}/plans", headers=city).get_json()} == {"Toàn tỉnh", "Thành phố"}
    assert api.get(f"{BASE}/plans", query_string={"active_on": "2020-07-01"}, headers=admin).get_json() == []
    refused = api.post(f"{BASE}/plans", headers=city, json={
        "name": "x", "kind": "specialised", "agency": "police", "scope": "district", "district_code": "118",
        "period_start": "2020-01-01", "period_end": "2020-06-30"})
    assert_problem(refused, 403)


# -- inspections ------------------------------------------------------------------------------------------------


def test_patch_needs_a_fresh_etag_and_starts_the_inspection(api, admin, register, inspection):
    item = f"{BASE}/inspections/{schedule(api, admin, register()['id'])['id']}"
    assert_problem(api.patch(item, json={"notes": "x"}, headers=admin), 428)
    etag = api.get(item, headers=admin).headers["ETag"]
    started = api.patch(item, json={"status": "in_progress", "team": ["admin-1", "ct-lo-van-hung"]},
                        headers={**admin, "If-Match": etag})
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["status"] == "in_progress" and started.get_json()["started_at"]
    assert_problem(api.patch(item, json={"notes": "late"}, headers={**admin, "If-Match": etag}), 412)
    assert len(published(inspection, events.INSPECTION_STARTED)) == 1


def test_cancelling_needs_a_reason_and_then_a_result_is_refused_naming_status(api, admin, register):
    item = f"{BASE}/inspections/{schedule(api, admin, register()['id'])['id']}"
    etag = api.get(item, headers=admin).headers["ETag"]
    assert_problem(api.patch(item, json={"status": "cancelled"}, headers={**admin, "If-Match": etag}), 422,
                   "cancel_reason")
    cancelled = api.patch(item, json={"status": "cancelled", "cancel_reason": "Cơ sở tạm nghỉ"},
                          headers={**admin, "If-Match": etag})
    assert cancelled.get_json()["status"] == "cancelled"
    assert_problem(api.post(f"{item}/result", json=failing_result(), headers=admin), 409, "status")


def test_a_result_in_one_call_completes_refers_and_reschedules_and_a_retry_changes_nothing(api, admin, register,
                                                                                           inspection):
    created = register()
    item = f"{BASE}/inspections/{schedule(api, admin, created['id'])['id']}"
    headers = {**admin, "Idempotency-Key": uuid.uuid4().hex}
    first = api.post(f"{item}/result", json=failing_result(), headers=headers)
    assert first.status_code == 201, first.get_json()
    receipt = first.get_json()
    assert receipt["status"] == "completed" and receipt["passed"] is False and receipt["risk_level"] == "high"
    assert receipt["fines_total_vnd"] == 6_000_000 and receipt["reinspection_id"]
    again = api.post(f"{item}/result", json=failing_result(), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == receipt

    assert len(published(inspection, events.INSPECTION_COMPLETED)) == 1
    (police,) = published(inspection, events.POLICE_REFERRAL)
    assert police["establishment_id"] == created["id"] and police["commune_code"] == CHIENG_LE
    (support,) = published(inspection, events.SUPPORT_REFERRAL)
    assert support["count"] == 2 and len(support["referral_ids"]) == 2
    assert "Lò Văn Thành" not in json.dumps(outbox(inspection), ensure_ascii=False)
    (risk,) = published(inspection, events.RISK_ASSESSED)
    assert (risk["risk_level"], risk["suspension_days"]) == ("high", 90)
    reinspection = api.get(f"{BASE}/inspections/{receipt['reinspection_id']}", headers=admin).get_json()
    assert reinspection["status"] == "planned" and reinspection["scheduled_on"] == "2020-08-03"  # 90 days + 1


def test_a_recorded_result_is_immutable_except_by_a_correction_that_keeps_the_original(api, admin, register):
    item = f"{BASE}/inspections/{schedule(api, admin, register()['id'])['id']}"
    assert api.post(f"{item}/result", json=failing_result(), headers=admin).status_code == 201
    assert_problem(api.post(f"{item}/result", json=failing_result(people_identified=4), headers=admin), 409,
                   "correction_reason")
    corrected = api.post(f"{item}/result", headers=admin, json=failing_result(
        sanctions=[{"kind": "warning", "violation_code": "ANTT-05"}], correction_reason="Ghi nhầm mức phạt"))
    assert corrected.status_code == 201 and corrected.get_json()["revision"] == 2
    body = api.get(item, headers=admin).get_json()
    assert body["result"]["sanctions"][0]["kind"] == "warning"
    assert body["result"]["correction_reason"] == "Ghi nhầm mức phạt"
    (original,) = body["corrected_results"]
    assert original["revision"] == 1 and original["fines_total_vnd"] == 6_000_000
    assert original["violations"][1]["legal_basis"].endswith("Nghị định 167/2013/NĐ-CP")


@pytest.mark.parametrize("change,status,field", [
    ({"violations": [{"code": "KHONG-CO"}]}, 422, "violations.0.code"),
    ({"sanctions": [{"kind": "warning", "violation_code": "ANTT-05", "amount_vnd": 1_000_000}]}, 422,
     "sanctions.0.amount_vnd"),
    ({"people_identified": -2}, 422, "people_identified"),
    ({"people_consenting_to_referral": -1}, 422, "people_consenting_to_referral"),
    ({"people_consenting_to_referral": 5}, 422, "people_consenting_to_referral"),
    ({"checklist": [{"item": "LT-01", "answer": "yes"}]}, 422, "checklist.0.item"),
    ({"checklist": [{"item": "KA-01", "answer": "maybe"}]}, 422, "checklist.0.answer"),
    ({"sanctions": [{"kind": "fine", "violation_code": "ANTT-05", "amount_vnd": 1}]}, 422, "sanctions.0.amount_vnd"),
    ({"conducted_on": "2020-13-01"}, 422, "conducted_on"),
    ({"owner_name": "Lò Văn Thành"}, 422, "owner_name"),
])
def test_bad_results_get_a_problem_naming_the_field_and_record_nothing(api, admin, register, change, status, field):
    item = f"{BASE}/inspections/{schedule(api, admin, register()['id'])['id']}"
    assert_problem(api.post(f"{item}/result", json=failing_result(**change), headers=admin), status, field)
    assert api.get(item, headers=admin).get_json()["status"] == "planned"


def test_my_inspections_today_and_date_ranges(api, token, register):
    me = token("culture_inspector", sub="vh-lo-thi-hien")
    establishment = register()["id"]
    today = datetime.now(timezone.utc).astimezone(LOCAL_TIME).date()
    mine_today = schedule(api, me, establishment, scheduled_on=today.isoformat())
    schedule(api, me, establishment, scheduled_on=(today + timedelta(days=1)).isoformat())
    schedule(api, token("police"), establishment, scheduled_on=today.isoformat(), agency="police")
    listed = api.get(f"{BASE}/inspections", query_string={"mine": "true", "today": "true"}, headers=me)
    assert [i["id"] for i in listed.get_json()] == [mine_today["id"]]
    assert set(listed.get_json()[0]) <= {"id", "establishment_id", "establishment_name", "business_type",
                                         "commune_code", "scheduled_on", "status", "kind", "agency", "plan_id",
                                         "passed"}
    ranged = api.get(f"{BASE}/inspections", headers=me, query_string={
        "scheduled_from": today.isoformat(), "scheduled_to": today.isoformat(), "agency": "police"})
    assert len(ranged.get_json()) == 1
    by_inspector = api.get(f"{BASE}/inspections", query_string={"inspector": "vh-lo-thi-hien", "sort": "-scheduled_on"},
                           headers=me).get_json()
    assert [i["scheduled_on"] for i in by_inspector] == [(today + timedelta(days=1)).isoformat(), today.isoformat()]


def test_a_district_user_neither_sees_nor_writes_another_district_s_inspections(api, admin, token, register):
    other = schedule(api, admin, register(commune_code=MUONG_CHIEN)["id"])
    city = token("police", district="116")
    assert_problem(api.get(f"{BASE}/inspections/{other['id']}", headers=city), 404)
    assert api.get(f"{BASE}/inspections", headers=city).get_json() == []
    assert_problem(api.post(f"{BASE}/inspections/{other['id']}/result", json=failing_result(), headers=city), 403)
    assert_problem(api.post(f"{BASE}/inspections", headers=city, json={
        "establishment_id": other["establishment_id"], "agency": "police", "scheduled_on": "2020-05-04"}), 403)


def test_roles_outside_enforcement_cannot_read_inspections(api, token):
    assert_problem(api.get(f"{BASE}/inspections", headers=token("social_worker")), 403)
    assert_problem(api.get(f"{BASE}/inspections"), 401)


# -- reference data ------------------------------------------------------------------------------------------------


def test_checklists_per_business_type_and_a_304_for_a_phone_that_has_them(api, token):
    headers = token("culture_inspector")
    response = api.get(f"{BASE}/checklists", query_string={"business_type": "accommodation"}, headers=headers)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, max-age=3600"
    (checklist,) = response.get_json()
    codes = [item["code"] for item in checklist["items"]]
    assert "LT-01" in codes and "MD-DH" in codes and "KA-01" not in codes
    again = api.get(f"{BASE}/checklists", query_string={"business_type": "accommodation"},
                    headers={**headers, "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""


def test_violation_codes_are_searchable_without_diacritics_and_cite_both_decrees(api, token):
    found = api.get(f"{BASE}/violation-codes", query_string={"q": "chua mai dam"}, headers=token("reporting_consumer"))
    assert found.status_code == 200
    (entry,) = found.get_json()
    assert entry["code"] == "MD-01" and entry["title"].startswith("Chứa mại dâm")
    assert [b["decree"] for b in entry["legal_basis"]] == ["167/2013/NĐ-CP", "144/2021/NĐ-CP"]
    everything = api.get(f"{BASE}/violation-codes", query_string={"page_size": 200}, headers=token("police"))
    assert json.loads(everything.headers["X-Pagination"])["total"] == len(everything.get_json()) >= 10


def test_the_openapi_document_lists_the_interface(api):
    paths = api.get("/inspection/openapi.json").get_json()["paths"]
    assert {"/inspection/v1/plans", "/inspection/v1/plans/{plan_id}/visits", "/inspection/v1/inspections",
            "/inspection/v1/inspections/{inspection_id}", "/inspection/v1/inspections/{inspection_id}/result",
            "/inspection/v1/checklists", "/inspection/v1/violation-codes"} <= set(paths)
