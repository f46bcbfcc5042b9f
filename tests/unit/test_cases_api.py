"""HTTP API tests of the cases service: /cases/v1/tips, /cases/v1/cases, /cases/v1/hotspots, /cases/v1/referrals.

Each test runs on a fresh SQLite database with the embedded transport.
"""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from chassis.service import bootstrap
from contracts.events import inspection
from contracts.events import registry as registry_events
from services.cases import handlers
from tests.conftest import make_config

PROBLEM = "application/problem+json"
CHIENG_LE = "03646"  # Phường Chiềng Lề, district 116 (Thành phố Sơn La)
MUONG_CHIEN = "03682"  # Xã Mường Chiên, district 118 (Quỳnh Nhai)
SUSPECT = "Lò Văn Thành"
ESTABLISHMENT = str(uuid.UUID(int=42))


@pytest.fixture
def cases(services, tmp_path, embedded_transport):
    container = bootstrap(services["cases"], make_config("cases", tmp_path), embedded_transport)
    container.migrate()
    embedded_transport.ensure_topics(container.topics())
    handlers.copy_establishment(container.uow(), handlers.ReceivedEvent(  # the registry published it
        str(uuid.uuid4()), registry_events.ESTABLISHMENT_REGISTERED.type, "/lanhmanh/registry", ESTABLISHMENT,
        datetime.now(timezone.utc), {"establishment_id": ESTABLISHMENT, "name": "Nhà nghỉ Hoa Đào",
                                     "business_type": "accommodation", "commune_code": CHIENG_LE,
                                     "district_code": "116", "status": "active"}, None, None, "1"))
    yield container
    container.dispose()


@pytest.fixture
def client(cases):
    app = cases.create_app()
    app.testing = True
    return app.test_client()


@pytest.fixture
def police(token):
    return token("police")


def created(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    if field:
        assert field in {e.get("field") for e in body.get("errors", [])}, body
    return body


def new_tip(client, headers, **overrides) -> dict:
    body = {"source": "hotline", "commune_code": CHIENG_LE, "summary": "Nhà nghỉ Hoa Đào có dấu hiệu chứa mại dâm",
            "received_at": "2020-03-02T09:00:00+07:00", **overrides}
    return created(client.post("/cases/v1/tips", json=body, headers=headers))


def classify(client, headers, tip_id, classification="criminal", on="2020-03-06T10:00:00+07:00"):
    return client.post(f"/cases/v1/tips/{tip_id}/classification", headers=headers,
                       json={"classification": classification, "classified_at": on})


def new_case(client, headers, **overrides) -> dict:
    body = {"case_number": f"{uuid.uuid4().hex[:4]}/2020/QĐ-KTVA", "articles": ["327"], "commune_code": CHIENG_LE,
            "summary": "Chứa mại dâm tại nhà nghỉ", "opened_on": "2020-03-10", "establishment_ids": [ESTABLISHMENT],
            "suspects": [{"full_name": SUSPECT, "role": "operator", "birth_year": 1980}], **overrides}
    return created(client.post("/cases/v1/cases", json=body, headers=headers))


def move(client, headers, case_id, stage, on, **extra):
    return client.post(f"/cases/v1/cases/{case_id}/stages", json={"stage": stage, "on": on, **extra}, headers=headers)


def outbox(cases) -> list[tuple[str, dict]]:
    t = cases.service.tables["outbox"]
    with cases.engine.connect() as conn:
        rows = conn.execute(select(t.c.event_type, t.c.payload).order_by(t.c.id)).all()
    return [(r.event_type.removeprefix("vn.lanhmanh.").removesuffix(".v1"), json.loads(r.payload)["data"]) for r in rows]


def total(response) -> int:
    assert response.status_code == 200, response.get_json()
    return json.loads(response.headers["X-Pagination"])["total"]


# -- tips -----------------------------------------------------------------------------------------------------

def test_a_tip_is_received_with_its_deadline_and_location(client, police):
    response = client.post("/cases/v1/tips", headers=police, json={
        "source": "citizen", "commune_code": CHIENG_LE, "summary": "Quán karaoke Hoa Hồng có tiếp viên bán dâm",
        "received_at": "2020-03-02T09:00:00"})
    tip = created(response)
    assert response.headers["Location"].endswith(f"/cases/v1/tips/{tip['id']}")
    assert (tip["status"], tip["district_name"], tip["commune_name"]) == (
        "received", "Thành phố Sơn La", "Phường Chiềng Lề")
    assert tip["summary"] == "Quán karaoke Hoa Hồng có tiếp viên bán dâm"
    assert tip["received_at"] == "2020-03-02T09:00:00+07:00"  # no zone given: Vietnam's time
    assert tip["verification_due_on"] == "2020-03-22" and tip["overdue"] is True


def test_a_tip_in_the_future_or_from_an_unknown_source_is_refused(client, police):
    future = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    assert_problem(client.post("/cases/v1/tips", headers=police, json={
        "source": "citizen", "commune_code": CHIENG_LE, "summary": "x", "received_at": future}), 422, "received_at")
    assert_problem(client.post("/cases/v1/tips", headers=police, json={
        "source": "rumour", "commune_code": CHIENG_LE, "summary": "x"}), 422, "source")


def test_overdue_tips_are_those_still_unclassified_after_their_deadline(client, police):
    old = new_tip(client, police)
    done = new_tip(client, police)
    classify(client, police, done["id"], "unfounded")
    recent = new_tip(client, police, received_at=datetime.now(timezone.utc).isoformat())
    overdue = client.get("/cases/v1/tips/overdue", headers=police).get_json()
    assert [t["id"] for t in overdue] == [old["id"]]
    on_the_day = client.get("/cases/v1/tips/overdue", query_string={"on": "2020-03-22"}, headers=police)
    assert on_the_day.get_json() == []
    assert recent["overdue"] is False


def test_tips_list_filters_and_pages(client, police):
    for _ in range(3):
        new_tip(client, police)
    unfounded = new_tip(client, police, source="media")
    classify(client, police, unfounded["id"], "unfounded")
    assert total(client.get("/cases/v1/tips", query_string={"page_size": 2}, headers=police)) == 4
    assert len(client.get("/cases/v1/tips", query_string={"page_size": 2}, headers=police).get_json()) == 2
    assert total(client.get("/cases/v1/tips", query_string={"source": "media"}, headers=police)) == 1
    assert total(client.get("/cases/v1/tips", query_string={"status": "classified"}, headers=police)) == 1
    assert_problem(client.get("/cases/v1/tips", query_string={"sort": "summary"}, headers=police), 422, "sort")


def test_classifying_twice_is_a_conflict_and_handling_needs_a_classification(client, police):
    tip = new_tip(client, police)
    assert_problem(client.post(f"/cases/v1/tips/{tip['id']}/handling", json={"note": "xong"}, headers=police),
                   409, "classification")
    assert classify(client, police, tip["id"], "administrative").status_code == 201
    assert_problem(classify(client, police, tip["id"], "criminal"), 409, "classification")
    handled = created(client.post(f"/cases/v1/tips/{tip['id']}/handling", headers=police, json={
        "note": "Chuyển Đội 178 xử phạt", "handled_at": "2020-03-09T15:00:00+07:00"}))
    assert handled["status"] == "handled"


# -- access ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["culture_inspector", "social_worker", "reporting_consumer"])
def test_only_police_and_admin_see_tips_cases_and_hotspots(client, token, police, role):
    case = new_case(client, police)
    headers = token(role)
    for path in ("/cases/v1/tips", "/cases/v1/cases", "/cases/v1/hotspots", f"/cases/v1/cases/{case['id']}",
                 "/cases/v1/cases/overdue", "/cases/v1/tips/overdue"):
        assert_problem(client.get(path, headers=headers), 403)
    assert_problem(client.post("/cases/v1/tips", headers=headers, json={
        "source": "citizen", "commune_code": CHIENG_LE, "summary": "x"}), 403)


def test_suspects_identities_are_shown_to_the_police_role_only(client, token, police):
    case = new_case(client, police)
    as_police = client.get(f"/cases/v1/cases/{case['id']}", headers=police).get_json()
    assert [s["full_name"] for s in as_police["suspects"]] == [SUSPECT]
    as_admin = client.get(f"/cases/v1/cases/{case['id']}", headers=token("admin")).get_json()
    assert "suspects" not in as_admin and as_admin["suspects_count"] == 1
    assert SUSPECT not in json.dumps(client.get("/cases/v1/cases", headers=token("admin")).get_json(),
                                     ensure_ascii=False)
    assert_problem(client.post(f"/cases/v1/cases/{case['id']}/suspects", headers=token("admin"),
                               json={"full_name": "Cầm Thị Hoa"}), 403)


def test_a_district_officer_sees_and_changes_their_district_only(client, token, police):
    case = new_case(client, police)
    quynh_nhai = token("police", district="118")
    assert_problem(client.get(f"/cases/v1/cases/{case['id']}", headers=quynh_nhai), 404)
    assert total(client.get("/cases/v1/cases", headers=quynh_nhai)) == 0
    assert_problem(move(client, quynh_nhai, case["id"], "investigation", "2020-03-11"), 403)
    assert_problem(client.post("/cases/v1/tips", headers=quynh_nhai, json={
        "source": "citizen", "commune_code": CHIENG_LE, "summary": "x"}), 403)
    city = token("police", district="116")
    assert total(client.get("/cases/v1/cases", headers=city)) == 1


def test_a_culture_inspector_sees_only_whether_their_referral_was_handled(cases, client, token, police):
    referral_id = str(uuid.uuid4())
    event = handlers.ReceivedEvent(str(uuid.uuid4()), inspection.POLICE_REFERRAL.type, "/lanhmanh/inspection",
                                   referral_id, datetime(2020, 5, 4, tzinfo=timezone.utc), {
                                       "referral_id": referral_id, "inspection_id": str(uuid.UUID(int=5)),
                                       "establishment_id": ESTABLISHMENT, "commune_code": CHIENG_LE,
                                       "district_code": "116", "detected_on": "2020-05-04",
                                       "summary": "Phát hiện dấu hiệu mua bán dâm"}, None, None, "1")
    handlers.receive_police_referral(cases.uow(), event)
    inspector = token("culture_inspector")
    status = client.get(f"/cases/v1/referrals/{referral_id}", headers=inspector).get_json()
    assert status == {"referral_id": referral_id, "inspection_id": str(uuid.UUID(int=5)), "received": True,
                      "handled": False}
    (tip,) = client.get("/cases/v1/tips", query_string={"inspection_id": str(uuid.UUID(int=5))},
                        headers=police).get_json()
    assert (tip["source"], tip["establishment_id"]) == ("inspection_referral", ESTABLISHMENT)
    classify(client, police, tip["id"], "criminal", "2020-05-06T10:00:00+07:00")
    new_case(client, police, tip_id=tip["id"], opened_on="2020-05-07")
    assert client.get(f"/cases/v1/referrals/{referral_id}", headers=inspector).get_json()["handled"] is True
    assert_problem(client.get(f"/cases/v1/referrals/{uuid.uuid4()}", headers=inspector), 404)
    assert_problem(client.get(f"/cases/v1/referrals/{referral_id}", headers=token("culture_inspector",
                                                                                   district="118")), 404)
    assert_problem(client.get(f"/cases/v1/referrals/{referral_id}", headers=token("social_worker")), 403)


# -- cases ----------------------------------------------------------------------------------------------------

def test_a_case_goes_to_a_mobile_trial_and_a_verdict_against_the_operator(cases, client, police):
    tip = new_tip(client, police)
    classify(client, police, tip["id"])
    case = new_case(client, police, tip_id=tip["id"])
    assert client.get(f"/cases/v1/tips/{tip['id']}", headers=police).get_json()["case_id"] == case["id"]
    for stage, on, extra in (("investigation", "2020-03-11", {}), ("prosecution", "2020-06-20", {}),
                             ("trial", "2020-08-14", {"court": "Tòa án nhân dân thành phố Sơn La",
                                                      "mobile_trial": True}),
                             ("verdict", "2020-08-14", {"operator_convicted": True, "sentence": "5 năm tù"})):
        created(move(client, police, case["id"], stage, on, **extra))
    final = client.get(f"/cases/v1/cases/{case['id']}", headers=police).get_json()
    assert (final["stage"], final["mobile_trial"], final["court"]) == ("verdict", True,
                                                                       "Tòa án nhân dân thành phố Sơn La")
    assert [s["stage"] for s in final["stages"]] == ["opened", "investigation", "prosecution", "trial", "verdict"]
    types = [t for t, _ in outbox(cases)]
    assert types[-1] == "cases.case.operator_convicted"
    assert outbox(cases)[-1][1]["establishment_ids"] == [ESTABLISHMENT]
    assert SUSPECT not in json.dumps([d for _, d in outbox(cases)], ensure_ascii=False)
    assert total(client.get("/cases/v1/cases", query_string={"mobile_trial": "true"}, headers=police)) == 1


def test_illegal_stage_moves_are_problems_naming_the_field(client, police):
    case = new_case(client, police)
    body = assert_problem(move(client, police, case["id"], "trial", "2020-04-01", court="TAND"), 409, "stage")
    assert "investigation" in body["detail"]
    assert_problem(move(client, police, case["id"], "investigation", "2020-03-01"), 422, "on")
    assert_problem(move(client, police, case["id"], "appeal", "2020-04-01"), 422, "stage")
    assert_problem(move(client, police, case["id"], "dismissed", "2020-04-01"), 422, "reason")
    created(move(client, police, case["id"], "investigation", "2020-03-11"))
    assert_problem(move(client, police, case["id"], "opened", "2020-03-12"), 409, "stage")
    corrected = created(move(client, police, case["id"], "opened", "2020-03-10", correction=True,
                             reason="Nhập nhầm ngày bắt đầu điều tra"))
    assert (corrected["stage"], corrected["stages"][-1]["correction"]) == ("opened", True)


def test_unknown_articles_and_bad_links_are_refused_naming_the_field(client, police):
    bad = client.post("/cases/v1/cases", headers=police, json={
        "case_number": "1/2020", "articles": ["327", "999"], "commune_code": CHIENG_LE, "summary": "x",
        "opened_on": "2020-03-10"})
    assert "articles.1" in {e["field"] for e in assert_problem(bad, 422)["errors"]}
    assert_problem(client.post("/cases/v1/cases", headers=police, json={
        "case_number": "2/2020", "articles": ["327"], "commune_code": CHIENG_LE, "summary": "x",
        "opened_on": "2020-03-10", "tip_id": str(uuid.uuid4())}), 422, "tip_id")
    new_case(client, police, case_number="3/2020")
    assert_problem(client.post("/cases/v1/cases", headers=police, json={
        "case_number": "3/2020", "articles": ["328"], "commune_code": CHIENG_LE, "summary": "x",
        "opened_on": "2020-03-10"}), 409, "case_number")


def test_overdue_cases_are_those_whose_stage_outlasted_its_limit(client, police):
    stuck = new_case(client, police)
    move(client, police, stuck["id"], "investigation", "2020-03-11")
    closed = new_case(client, police)
    move(client, police, closed["id"], "investigation", "2020-03-11")
    move(client, police, closed["id"], "dismissed", "2020-04-11", reason="Không cấu thành tội phạm")
    overdue = client.get("/cases/v1/cases/overdue", headers=police).get_json()
    assert [c["id"] for c in overdue] == [stuck["id"]]
    assert overdue[0]["stage_due_on"] == "2020-07-09" and overdue[0]["overdue"] is True
    assert client.get("/cases/v1/cases/overdue", query_string={"on": "2020-07-09"}, headers=police).get_json() == []


def test_victims_are_referred_by_random_id(cases, client, police):
    case = new_case(client, police)
    after = created(client.post(f"/cases/v1/cases/{case['id']}/victims", headers=police,
                                json={"count": 2, "identified_on": "2020-03-10", "minor": True}))
    assert after["victims_count"] == 2
    referred = [d for t, d in outbox(cases) if t == "cases.referral.victim"]
    assert sorted(d["referral_id"] for d in referred) == sorted(v["referral_id"] for v in after["victims"])
    assert_problem(client.post(f"/cases/v1/cases/{case['id']}/victims", headers=police,
                               json={"count": 1, "identified_on": "2020-01-01"}), 422, "identified_on")


def test_case_reads_carry_an_etag_and_filters_work(client, police):
    case = new_case(client, police, articles=["328"])
    response = client.get(f"/cases/v1/cases/{case['id']}", headers=police)
    assert response.headers["ETag"]
    new_case(client, police, articles=["327"])
    assert total(client.get("/cases/v1/cases", query_string={"article": "328"}, headers=police)) == 1
    assert total(client.get("/cases/v1/cases", query_string={"establishment_id": ESTABLISHMENT},
                            headers=police)) == 2
    assert total(client.get("/cases/v1/cases", query_string={"q": case["case_number"][:4]}, headers=police)) == 1
    assert_problem(client.get("/cases/v1/cases", query_string={"article": "999"}, headers=police), 422, "article")


# -- hotspots -------------------------------------------------------------------------------------------------

def test_a_hotspot_is_found_eliminated_and_recurs(client, police):
    tip = new_tip(client, police)
    hotspot = created(client.post("/cases/v1/hotspots", headers=police, json={
        "commune_code": CHIENG_LE, "description": "Khu vực ven hồ Tuổi Trẻ sau 22 giờ", "kind": "public_place",
        "found_by": "tip", "tip_id": tip["id"], "detected_on": "2020-03-05"}))
    assert hotspot["status"] == "active"
    assert_problem(client.post(f"/cases/v1/hotspots/{hotspot['id']}/elimination", headers=police,
                               json={"on": "2020-03-01", "how": "Triệt xóa"}), 422, "on")
    done = created(client.post(f"/cases/v1/hotspots/{hotspot['id']}/elimination", headers=police,
                               json={"on": "2020-04-20", "how": "Triệt xóa, bàn giao công an phường quản lý"}))
    assert (done["status"], done["eliminated_on"]) == ("eliminated", "2020-04-20")
    assert total(client.get("/cases/v1/hotspots", query_string={"status": "eliminated"}, headers=police)) == 1
    again = created(client.post(f"/cases/v1/hotspots/{hotspot['id']}/recurrence", headers=police,
                                json={"on": "2020-07-01"}))
    assert [h["status"] for h in again["history"]] == ["active", "eliminated", "recurred"]


def test_demo_data_is_a_year_of_2020_loaded_once(cases, token):
    assert cases.service.demo(cases) > 50
    assert cases.service.demo(cases) == 0
    app = cases.create_app()
    client = app.test_client()
    police = token("police")
    assert total(client.get("/cases/v1/cases", query_string={"stage": "verdict"}, headers=police)) >= 5
    assert total(client.get("/cases/v1/cases", query_string={"mobile_trial": "true", "stage": "verdict"},
                            headers=police)) >= 2
    assert total(client.get("/cases/v1/hotspots", query_string={"status": "eliminated"}, headers=police)) >= 5
    tips = client.get("/cases/v1/tips", query_string={"page_size": 200}, headers=police).get_json()
    assert {t["received_at"][:4] for t in tips} == {"2020"}
    assert date.fromisoformat(max(t["received_at"][:10] for t in tips)) <= date(2020, 12, 31)


def test_a_page_past_the_last_is_empty_not_an_error(client, police):
    new_case(client, police)
    for path in ("/cases/v1/cases", "/cases/v1/tips", "/cases/v1/hotspots", "/cases/v1/cases/overdue"):
        response = client.get(path, query_string={"page": 100000}, headers=police)
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == []


def test_an_establishment_unknown_to_the_registry_cannot_be_linked(client, police):
    stranger = str(uuid.uuid4())
    assert_problem(client.post("/cases/v1/cases", headers=police, json={
        "case_number": "9/2020", "articles": ["327"], "commune_code": CHIENG_LE, "summary": "x",
        "opened_on": "2020-03-10", "establishment_ids": [stranger]}), 422, "establishment_ids")
    assert_problem(client.post("/cases/v1/tips", headers=police, json={
        "source": "citizen", "commune_code": CHIENG_LE, "summary": "x", "establishment_id": stranger}),
        422, "establishment_id")
