"""The reporting service over HTTP (Flask test client, SQLite, embedded transport): indicators
moved by the other services' events, commune reports through their workflow, plans as data,
small counts hidden, exports, the rebuild from the start of the topics, and the dashboard."""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime, timezone

import pytest
from openpyxl import load_workbook

from chassis import envelope
from chassis.service import bootstrap
from chassis.transport import Outgoing
from contracts import topics
from contracts.events import cases, inspection, registry, support
from tests.conftest import make_config

BASE = "/reporting/v1"
CHIENG_LE, TO_HIEU = "03646", "03649"  # district 116 (Thành phố Sơn La)
QUYNH_NHAI = "118"
PROBLEM = "application/problem+json"


@pytest.fixture
def reporting(services, tmp_path, embedded_transport):
    container = bootstrap(services["reporting"], make_config("reporting", tmp_path), embedded_transport)
    container.migrate()
    embedded_transport.ensure_topics(container.topics())
    yield container
    container.dispose()


@pytest.fixture
def client(reporting):
    app = reporting.create_app()
    app.testing = True
    return app.test_client()


def deliver(container, event_type, subject, data, copies=1) -> None:
    """Put an event on its topic (``copies`` times, as a redelivery would) and run the consumers."""
    _, value = envelope.build(event_type, str(subject), data, "/lanhmanh/test")
    container.transport.producer().send([Outgoing(event_type.topic, str(subject), value)] * copies, 1)
    for runner in container.consumer_runners():
        while runner.run_once(timeout=0.01, max_records=500):
            pass


def establishment(container, commune=CHIENG_LE, district="116", opened=date(2019, 1, 1)) -> str:
    eid = uuid.uuid4()
    deliver(container, registry.ESTABLISHMENT_REGISTERED, eid, {
        "establishment_id": eid, "name": "Nhà nghỉ Bình Minh", "business_type": "accommodation", "address": "Bản Hài",
        "commune_code": commune, "district_code": district, "province_code": "14", "status": "active",
        "risk_level": "medium", "operating_since": opened, "registered_at": datetime(2019, 1, 1, tzinfo=timezone.utc)})
    return str(eid)


def review(container, eid, period="2020S1", commune=CHIENG_LE, district="116"):
    deliver(container, registry.ESTABLISHMENT_REVIEWED, eid, {
        "establishment_id": eid, "period": period, "reviewed_on": date(2020, 6, 10), "outcome": "compliant",
        "risk_level": "low", "commune_code": commune, "district_code": district})


def inspected(container, eid, kind="inter_agency", on=date(2020, 4, 2), commune=CHIENG_LE, district="116"):
    iid = uuid.uuid4()
    deliver(container, inspection.INSPECTION_COMPLETED, iid, {
        "inspection_id": iid, "establishment_id": eid, "kind": kind, "agency": "inter_agency",
        "commune_code": commune, "district_code": district, "conducted_on": on, "passed": True,
        "violation_codes": [], "sanctions": [], "fines_total_vnd": 0, "signs_of_prostitution": False,
        "people_identified": 0, "people_consenting_to_referral": 0})


def person(container, district, sex="female", age_band="25_34", service_type="vocational_training",
           on=date(2020, 3, 3)):
    ref = uuid.uuid4()
    deliver(container, support.SERVICE_DELIVERED, ref, {
        "person_ref": ref, "district_code": district, "age_band": age_band, "sex": sex,
        "support_case_id": uuid.uuid4(), "service_type": service_type, "delivered_on": on})


def table(client, headers, org_unit="116", period="2020S1") -> dict:
    response = client.get(f"{BASE}/indicators", query_string={"org_unit": org_unit, "period": period}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def by_id(rows) -> dict:
    return {row["id"]: row for row in rows}


@pytest.fixture
def reader(token):
    return token("reporting_consumer")


def test_the_other_services_events_move_the_indicators(reporting, client, reader):
    a, b, c = (establishment(reporting) for _ in range(3))
    establishment(reporting, opened=date(2020, 9, 1))  # opened in the second half: not due in 2020S1
    review(reporting, a)
    review(reporting, b)
    inspected(reporting, a)
    inspected(reporting, a, kind="specialised", on=date(2020, 5, 5))
    hotspots = [uuid.uuid4(), uuid.uuid4()]
    for h in hotspots:
        deliver(reporting, cases.HOTSPOT_DETECTED, h, {"hotspot_id": h, "commune_code": TO_HIEU, "district_code": "116",
                                                       "kind": "public_place", "detected_on": date(2020, 2, 1),
                                                       "found_by": "tip"})
    deliver(reporting, cases.HOTSPOT_ELIMINATED, hotspots[0], {"hotspot_id": hotspots[0], "commune_code": TO_HIEU,
                                                               "district_code": "116", "eliminated_on": date(2020, 5, 1)})
    case = uuid.uuid4()
    where = {"case_id": case, "commune_code": CHIENG_LE, "district_code": "116"}
    deliver(reporting, cases.CASE_OPENED, case, {**where, "articles": ["327"], "opened_on": date(2020, 1, 20)})
    deliver(reporting, cases.CASE_STAGE_CHANGED, case, {**where, "previous_stage": "opened",
                                                        "stage": "prosecution", "on": date(2020, 4, 1)})

    rows = by_id(table(client, reader)["indicators"])
    assert (rows["establishments_reviewed"]["numerator"], rows["establishments_reviewed"]["denominator"]) == (2, 3)
    assert rows["establishments_reviewed"]["value"] == 66.7
    assert rows["establishments_reviewed"]["status"] == "missed"  # 2020S1 is over, 33 points short
    assert rows["inspections_inter_agency"]["value"] == 1 and rows["inspections_specialised"]["value"] == 1
    assert rows["hotspots_eliminated"]["value"] == 50.0
    assert (rows["cases_investigated"]["value"], rows["cases_prosecuted"]["value"], rows["cases_tried"]["value"]) == (
        100.0, 100.0, 0.0)
    assert rows["establishments_inspected"]["target"] is None  # the plan sets it for the year only

    province = table(client, reader, org_unit="14")
    assert len(province["children"]) == 12
    city = next(c for c in province["children"] if c["org_unit"]["code"] == "116")
    assert by_id(city["indicators"])["hotspots_eliminated"]["value"] == 50.0
    commune = table(client, reader, org_unit=TO_HIEU)
    assert by_id(commune["indicators"])["hotspots_eliminated"]["denominator"] == 2
    assert commune["children"] == []


def test_a_redelivered_event_is_counted_once(reporting, client, reader):
    eid = uuid.uuid4()
    deliver(reporting, inspection.INSPECTION_COMPLETED, eid, {
        "inspection_id": eid, "establishment_id": uuid.uuid4(), "kind": "specialised", "agency": "culture",
        "commune_code": CHIENG_LE, "district_code": "116", "conducted_on": date(2020, 2, 2), "passed": True,
        "violation_codes": [], "sanctions": [], "fines_total_vnd": 0, "signs_of_prostitution": False,
        "people_identified": 0, "people_consenting_to_referral": 0}, copies=3)
    assert by_id(table(client, reader)["indicators"])["inspections_specialised"]["value"] == 1


def completed_payload(iid, kind="specialised") -> dict:
    return {"inspection_id": iid, "establishment_id": uuid.uuid4(), "kind": kind, "agency": "culture",
            "commune_code": CHIENG_LE, "district_code": "116", "conducted_on": date(2020, 2, 2), "passed": True,
            "violation_codes": [], "sanctions": [], "fines_total_vnd": 0, "signs_of_prostitution": False,
            "people_identified": 0, "people_consenting_to_referral": 0}


def test_reporting_checks_the_fields_it_reads_and_tolerates_breaks_in_the_others(reporting, client, reader):
    """A tolerant reader (handlers.READS): a completed inspection whose sanctions and head counts
    break the contract still counts (reporting reads neither); one whose date breaks it is a dead letter."""
    def sent(subject, **broken):
        _, value = envelope.build(inspection.INSPECTION_COMPLETED, str(subject), completed_payload(subject),
                                  "/lanhmanh/test")
        event = json.loads(value)
        event["data"].update(broken)
        reporting.transport.producer().send([Outgoing(inspection.INSPECTION_COMPLETED.topic, str(subject),
                                                      json.dumps(event).encode())], 1)

    sent(uuid.uuid4(), sanctions=["public_flogging"], people_identified="many")
    sent(uuid.uuid4(), conducted_on="2020-02-31")
    for runner in reporting.consumer_runners():
        while runner.run_once(timeout=0.01, max_records=500):
            pass
    assert by_id(table(client, reader)["indicators"])["inspections_specialised"]["value"] == 1
    letters = [json.loads(m.value) for m in reporting.transport.consumer("test-letters", [topics.DEAD_LETTERS])
               .poll(0.01, 100)]
    assert len(letters) == 1 and "conducted_on" in json.dumps(letters[0])


def test_a_commune_report_goes_through_submit_approve_lock_and_unlock(client, token, reader):
    officer = token("culture_inspector", district="116")
    district = token("social_worker", district="116")
    created = client.post(f"{BASE}/commune-reports", headers=officer, json={
        "commune_code": CHIENG_LE, "period": "2020Q1", "activities_count": 2, "audience": 150, "media_items": 3,
        "registered_healthy": True})
    assert created.status_code == 201, created.get_json()
    report = created.get_json()
    url = f"{BASE}/commune-reports/{report['id']}"
    assert client.patch(url, headers=officer, json={"media_items": 4}).status_code == 428
    etag = client.get(url, headers=officer).headers["ETag"]
    assert client.patch(url, headers={**officer, "If-Match": etag}, json={"media_items": 4}).status_code == 200
    assert client.post(f"{url}/submit", headers=officer).get_json()["status"] == "submitted"
    assert by_id(table(client, reader, org_unit=CHIENG_LE, period="2020")["indicators"])[
        "communes_communication"]["numerator"] == 0  # counts once approved
    assert client.post(f"{url}/approve", headers=officer).status_code == 409  # not by who submitted it
    approved = client.post(f"{url}/approve", headers=district)
    assert approved.get_json()["locked"] is True
    rows = by_id(table(client, reader, org_unit=CHIENG_LE, period="2020")["indicators"])
    assert rows["communes_communication"]["value"] == 100.0 and rows["media_items"]["value"] == 4
    etag = client.get(url, headers=officer).headers["ETag"]
    locked = client.patch(url, headers={**officer, "If-Match": etag}, json={"media_items": 9})
    assert locked.status_code == 409 and locked.mimetype == PROBLEM
    assert client.post(f"{url}/unlock", headers=district, json={"reason": "sai"}).status_code == 403
    assert client.post(f"{url}/unlock", headers=token("admin"), json={"reason": ""}).status_code == 422
    unlocked = client.post(f"{url}/unlock", headers=token("admin"), json={"reason": "Sai số tin bài quý I"})
    assert unlocked.get_json()["status"] == "unlocked"
    assert unlocked.get_json()["history"][-1]["reason"] == "Sai số tin bài quý I"


def test_bad_reports_are_refused_with_the_field_named(client, token):
    officer = token("culture_inspector", district="116")
    for body, field in (({"activities_count": -1}, "activities_count"),
                        ({"recognised_healthy": True}, "recognised_healthy"),
                        ({"period": "2020S1"}, "period")):
        response = client.post(f"{BASE}/commune-reports", headers=officer,
                               json={"commune_code": CHIENG_LE, "period": "2020Q2", **body})
        assert response.status_code == 422, response.get_json()
        assert field in {e["field"] for e in response.get_json()["errors"]}
    other = client.post(f"{BASE}/commune-reports", headers=token("social_worker", district="118"),
                        json={"commune_code": CHIENG_LE, "period": "2020Q2"})
    assert other.status_code == 403
    reader = client.post(f"{BASE}/commune-reports", headers=token("reporting_consumer"),
                         json={"commune_code": CHIENG_LE, "period": "2020Q2"})
    assert reader.status_code == 403


def test_district_users_see_their_district_only(client, token):
    mine = token("reporting_consumer", district="116")
    assert table(client, mine, org_unit=CHIENG_LE)["org_unit"]["name"] == "Phường Chiềng Lề"
    assert client.get(f"{BASE}/indicators?org_unit=14&period=2020", headers=mine).status_code == 404
    assert client.get(f"{BASE}/indicators?org_unit={QUYNH_NHAI}&period=2020", headers=mine).status_code == 404
    assert client.get(f"{BASE}/indicators?period=2020", headers=mine).get_json()["org_unit"]["code"] == "116"
    assert client.get(f"{BASE}/indicators?org_unit=01&period=2020", headers=mine).status_code == 404
    assert client.get(f"{BASE}/indicators?org_unit=14&period=2020H1", headers=mine).status_code == 422


def test_small_support_counts_are_hidden_and_cannot_be_subtracted(reporting, client, reader):
    for district, count in (("116", 3), (QUYNH_NHAI, 12), ("119", 7), ("120", 20)):
        for i in range(count):
            person(reporting, district, sex="female" if i % 3 else "male")
    body = client.get(f"{BASE}/support-indicators", headers=reader, query_string={
        "period": "2020S1", "measure": "vocational_training", "by": "sex"}).get_json()
    rows = {r["district_code"]: r for r in body["rows"]}
    assert rows["116"]["total"] == "<5"
    assert body["total"] == "42"
    hidden_totals = [r["total"] for r in body["rows"] if r["total"] in ("<5", "x")]
    assert len(hidden_totals) >= 2  # a partner is hidden with it: 42 minus the others does not give it
    assert rows["116"]["cells"]["male"] == "<5"
    for row in body["rows"]:
        shown = [row["cells"][c] for c in body["columns"]] + [row["total"]]
        assert sum(v in ("<5", "x") for v in shown) != 1
        assert not any(v in ("1", "2", "3", "4") for v in shown)
    province = by_id(table(client, reader, org_unit="14")["indicators"])
    assert province["vocational_training"]["shown"] == "42"
    city = next(c for c in table(client, reader, org_unit="14")["children"] if c["org_unit"]["code"] == "116")
    assert by_id(city["indicators"])["vocational_training"] == {**by_id(city["indicators"])["vocational_training"],
                                                                "shown": "<5", "value": None, "numerator": None}
    # The district's own table shows what the province's shows for it: hidden as well.
    assert by_id(table(client, reader, org_unit="116")["indicators"])["vocational_training"]["shown"] == "<5"
    assert "person_ref" not in client.get(f"{BASE}/support-indicators?period=2020", headers=reader).get_data(True)


def test_the_exports_open_in_a_spreadsheet_library_and_match_the_api(reporting, client, reader):
    for _ in range(2):
        review(reporting, establishment(reporting))
    establishment(reporting)
    api = table(client, reader, org_unit="14")
    csv_response = client.get(f"{BASE}/indicators/export.csv?org_unit=14&period=2020S1", headers=reader)
    assert csv_response.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(csv_response.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(lines) == len(api["indicators"]) * 13
    line = next(r for r in lines if r["org_unit_code"] == "14" and r["indicator"] == "establishments_reviewed")
    assert (line["numerator"], line["denominator"], line["value"]) == ("2", "3", "66.7")
    xlsx = client.get(f"{BASE}/indicators/export.xlsx?org_unit=14&period=2020S1", headers=reader)
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    row = next(v for v in values if v[0] == "116" and v[3] == "establishments_reviewed")
    assert row[7:10] == [2, 3, 66.7]
    report = client.get(f"{BASE}/official-reports/2020S1.xlsx?org_unit=14", headers=reader)
    assert report.status_code == 200
    text = [c.value for row in load_workbook(io.BytesIO(report.data)).active.iter_rows() for c in row if c.value]
    assert "BÁO CÁO" in text and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert any("6 tháng đầu năm 2020" in str(t) for t in text)
    assert "66.7%" in text
    assert client.get(f"{BASE}/official-reports/2020Q1.xlsx", headers=reader).status_code == 422


def test_targets_are_data_editable_with_if_match(client, token, reader):
    url = f"{BASE}/plans/33-KH-UBND-2020"
    plan = client.get(url, headers=reader)
    document = {k: v for k, v in plan.get_json().items() if k != "version"}
    assert {"communes_healthy", "hotspots_eliminated"} <= {i["id"] for i in document["indicators"]}
    assert client.put(url, headers=token("admin"), json=document).status_code == 428
    assert client.put(url, headers={**reader, "If-Match": plan.headers["ETag"]}, json=document).status_code == 403
    for indicator in document["indicators"]:
        if indicator["id"] == "communes_registered_healthy":
            indicator["target"] = 0
    saved = client.put(url, headers={**token("admin"), "If-Match": plan.headers["ETag"]}, json=document)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["version"] == 1
    assert by_id(table(client, reader, org_unit="14", period="2020")["indicators"])[
        "communes_registered_healthy"]["status"] == "met"
    stale = client.put(url, headers={**token("admin"), "If-Match": plan.headers["ETag"]}, json=document)
    assert stale.status_code == 412
    listed = client.get(f"{BASE}/plans?year=2020", headers=reader)
    assert [p["id"] for p in listed.get_json()] == ["33-KH-UBND-2020"]


def test_a_rebuild_from_the_start_of_the_topics_gives_the_same_numbers(reporting, client, reader, token):
    for _ in range(3):
        eid = establishment(reporting)
        review(reporting, eid)
        inspected(reporting, eid)
    for district in ("116", "116", QUYNH_NHAI):
        person(reporting, district)
    before = table(client, reader, org_unit="14")
    assert client.post(f"{BASE}/admin/rebuild", headers=token("admin", district="116")).status_code == 403
    assert client.post(f"{BASE}/admin/rebuild", headers=reader).status_code == 403
    rebuilt = client.post(f"{BASE}/admin/rebuild", headers=token("admin"))
    assert rebuilt.status_code == 200, rebuilt.get_json()
    assert rebuilt.get_json()["consumer_group"].startswith("reporting-projections-g2-")
    assert rebuilt.get_json()["messages"] >= 12
    assert table(client, reader, org_unit="14") == before
    state = client.get(f"{BASE}/admin/projection", headers=reader).get_json()
    assert state["generation"] == 2 and state["replay_group"] == rebuilt.get_json()["consumer_group"]
    # The live consumer goes on after the rebuild: a new event still lands once.
    inspected(reporting, eid, kind="specialised")
    assert by_id(table(client, reader, org_unit="14")["indicators"])["inspections_specialised"]["value"] == 1


def test_projection_lag_is_a_metric(reporting, client):
    establishment(reporting)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "lanhmanh_reporting_projection_lag_seconds" in metrics


def test_trend_org_units_and_report_lists_are_served(client, reader, token):
    trend = client.get(f"{BASE}/indicators/trend?year=2020&org_unit=14", headers=reader).get_json()
    assert [m["period"] for m in trend["months"]][:2] == ["202001", "202002"]
    units = client.get(f"{BASE}/org-units?parent=116&page_size=5", headers=reader)
    assert len(units.get_json()) == 5 and "X-Pagination" in units.headers
    assert units.get_json()[0]["level"] == "commune"
    listed = client.get(f"{BASE}/commune-reports?status=approved&sort=-period", headers=reader)
    assert listed.status_code == 200 and listed.get_json() == []


def test_the_dashboard_and_its_chart_library_are_served_locally(client):
    page = client.get("/reporting/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "Chỉ tiêu" in html and "Indicators" in html
    assert 'src="static/chart.umd.min.js"' in html and "https://" not in html
    library = client.get("/reporting/static/chart.umd.min.js")
    assert library.status_code == 200 and b"Chart.js" in library.data[:200]


def test_a_year_without_a_plan_has_the_indicators_without_targets(client, reader):
    rows = by_id(table(client, reader, org_unit="14", period="2021")["indicators"])
    assert "communes_healthy" in rows
    assert rows["communes_healthy"]["target"] is None and rows["communes_healthy"]["status"] is None
