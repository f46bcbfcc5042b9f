"""The reporting service over HTTP in the embedded and the distributed mode: the registry's
events move the indicators, a commune report goes through its workflow, the exports match
the API, a rebuild from the start of the topics gives the same numbers, the dashboard is served."""
from __future__ import annotations

import csv
import io
import json
import os
import random
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from openpyxl import load_workbook

pytestmark = pytest.mark.infra
BASE = "/reporting/v1"
TODAY = (datetime.now(timezone.utc) + timedelta(hours=7)).date()
YEAR = str(TODAY.year)
HALF = f"{TODAY.year}S{1 if TODAY.month <= 6 else 2}"
MUONG_BU = "03847"  # Xã Mường Bú, Huyện Mường La (district 120)


def indicators(system, org_unit, period, headers=None) -> dict:
    response = requests.get(system.url(f"{BASE}/indicators"), params={"org_unit": org_unit, "period": period},
                            headers=headers or system.headers("reporting_consumer"), timeout=30)
    assert response.status_code == 200, response.text
    return {row["id"]: row for row in response.json()["indicators"]}


def wait_for(predicate, timeout=45.0, message=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"the indicators did not move in time {message()}")


def enter_this_year_s_plan(system) -> None:
    """A new year's plan is data: copy 2020's targets under this year's id."""
    admin = system.headers("admin")
    plan = requests.get(system.url(f"{BASE}/plans/33-KH-UBND-2020"), headers=admin, timeout=10).json()
    plan = {**{k: v for k, v in plan.items() if k != "version"}, "id": f"KH-{YEAR}", "year": int(YEAR),
            "title_vi": f"Kế hoạch phòng, chống mại dâm năm {YEAR}"}
    saved = requests.put(system.url(f"{BASE}/plans/KH-{YEAR}"), json=plan, headers={**admin, "If-Match": "*"},
                         timeout=10)
    assert saved.status_code == 200, saved.text


def test_registrations_and_reviews_in_the_registry_move_the_indicators(system):
    commune = MUONG_BU
    enter_this_year_s_plan(system)
    before = indicators(system, commune, HALF)["establishments_reviewed"]
    police = system.headers("police")
    created = []
    for i in range(2):
        response = requests.post(system.url("/registry/v1/establishments"), headers=police, timeout=10, json={
            "name": f"Nhà nghỉ Mường Bú {uuid.uuid4().hex[:5]}", "business_type": "accommodation",
            "owner_name": "Lò Văn Thành", "address": "Bản Mường Bú", "commune_code": commune,
            "operating_since": "2018-03-01"})
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    review = requests.post(system.url(f"/registry/v1/establishments/{created[0]}/reviews"), headers=police,
                           timeout=10, json={"period": HALF, "reviewed_on": TODAY.isoformat(), "outcome": "compliant"})
    assert review.status_code == 201, review.text
    after = wait_for(lambda: (row := indicators(system, commune, HALF)["establishments_reviewed"])
                     and row["numerator"] == before["numerator"] + 1 and row["denominator"] == before["denominator"] + 2
                     and row)
    assert after["status"] in ("at_risk", "missed")
    district = wait_for(lambda: (row := indicators(system, "120", HALF)["establishments_reviewed"])
                        and row["denominator"] >= after["denominator"] and row)
    assert district["numerator"] >= 1
    state = requests.get(system.url(f"{BASE}/admin/projection"), headers=system.headers("admin"), timeout=10).json()
    assert state["last_applied_at"] is not None and state["lag_seconds"] is not None


def test_a_commune_report_goes_through_submit_approve_lock_and_unlock(system):
    officer = system.headers("culture_inspector", district="120")
    approver = system.headers("social_worker", district="120")
    created = requests.post(system.url(f"{BASE}/commune-reports"), headers=officer, timeout=10, json={
        "commune_code": MUONG_BU, "period": "2020Q3", "activities_count": 3, "audience": 240, "media_items": 2,
        "registered_healthy": True, "recognised_healthy": True})
    assert created.status_code == 201, created.text
    url = system.url(f"{BASE}/commune-reports/{created.json()['id']}")
    assert requests.post(f"{url}/submit", headers=officer, timeout=10).json()["status"] == "submitted"
    assert requests.post(f"{url}/approve", headers=approver, timeout=10).json()["locked"] is True
    rows = indicators(system, MUONG_BU, "2020")
    assert rows["communes_communication"]["value"] == 100.0
    assert rows["communes_healthy"]["numerator"] == 1
    etag = requests.get(url, headers=officer, timeout=10).headers["ETag"]
    refused = requests.patch(url, headers={**officer, "If-Match": etag}, json={"media_items": 5}, timeout=10)
    assert refused.status_code == 409
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    unlocked = requests.post(f"{url}/unlock", headers=system.headers("admin"), timeout=10,
                             json={"reason": "Xã báo cáo thiếu tin bài tháng 9"})
    assert unlocked.json()["status"] == "unlocked"
    etag = requests.get(url, headers=officer, timeout=10).headers["ETag"]
    assert requests.patch(url, headers={**officer, "If-Match": etag}, json={"media_items": 5},
                          timeout=10).status_code == 200
    assert indicators(system, MUONG_BU, "2020")["communes_communication"]["numerator"] == 0  # not approved again yet


def test_the_exports_open_in_a_spreadsheet_library_and_match_the_api(system):
    headers = system.headers("reporting_consumer")
    api = indicators(system, "120", HALF)
    params = {"org_unit": "120", "period": HALF}
    text = requests.get(system.url(f"{BASE}/indicators/export.csv"), params=params, headers=headers, timeout=30)
    lines = [r for r in csv.DictReader(io.StringIO(text.content.decode("utf-8-sig"))) if r["org_unit_code"] == "120"]
    assert {r["indicator"]: r["value"] for r in lines}["establishments_reviewed"] == str(
        api["establishments_reviewed"]["value"])
    workbook = requests.get(system.url(f"{BASE}/indicators/export.xlsx"), params=params, headers=headers, timeout=30)
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    cells = {row[3]: row for row in sheet.iter_rows(min_row=3, values_only=True) if row[0] == "120"}
    assert cells["establishments_reviewed"][7] == api["establishments_reviewed"]["numerator"]
    report = requests.get(system.url(f"{BASE}/official-reports/{HALF}.xlsx"), params={"org_unit": "14"},
                          headers=headers, timeout=30)
    words = [c for row in load_workbook(io.BytesIO(report.content)).active.iter_rows(values_only=True) for c in row if c]
    assert "BÁO CÁO" in words and "ỦY BAN NHÂN DÂN TỈNH SƠN LA" in words


def publish(system, event_type, subject: str, data: dict) -> None:
    """Put an event from another service straight on its topic, as that service would."""
    from chassis import envelope
    from chassis.transport import Outgoing

    if system.mode == "embedded":
        from chassis.transport.embedded import EmbeddedTransport

        environ = dict(item.split("=", 1) for item in
                       Path(f"/proc/{system.processes[0].pid}/environ").read_text().split("\0") if "=" in item)
        transport = EmbeddedTransport(f"sqlite:///{environ['LANHMANH_VAR_DIR']}/events.db")
    else:
        from chassis.transport.kafka import KafkaTransport

        transport = KafkaTransport(os.environ["KAFKA_BOOTSTRAP_SERVERS"], 3)
    _, value = envelope.build(event_type, subject, data, "/lanhmanh/support")
    for _ in range(10):
        if transport.producer().send([Outgoing(event_type.topic, subject, value)], 10) == [None]:
            return
        time.sleep(0.2)
    raise AssertionError("could not publish")


def test_small_support_counts_are_hidden(system):
    from contracts.events import support

    year = random.randint(1950, 2015)  # a year of its own: earlier runs on the same broker do not count
    for district, count in (("116", 2), ("118", 9), ("119", 6)):
        for i in range(count):
            ref = str(uuid.uuid4())
            publish(system, support.SERVICE_DELIVERED, ref, {
                "person_ref": ref, "district_code": district, "age_band": "25_34", "sex": "female",
                "support_case_id": uuid.uuid4(), "service_type": "legal_aid", "delivered_on": date(year, 5, 1)})
    params = {"period": str(year), "org_unit": "14", "measure": "legal_aid", "by": "sex"}
    headers = system.headers("reporting_consumer")

    seen = []

    def landed():
        body = requests.get(system.url(f"{BASE}/support-indicators"), params=params, headers=headers, timeout=10).json()
        seen[:] = [body.get("total")]
        return body if body.get("total") == "17" else None

    body = wait_for(landed, message=lambda: f"the province's total is {seen}")
    rows = {r["district_code"]: r for r in body["rows"]}
    assert rows["116"]["total"] == "<5" and rows["116"]["cells"]["female"] == "<5"
    assert rows["119"]["total"] == "x"  # hidden too: 17 - 9 would give 116's count otherwise
    assert rows["118"]["total"] == "9"
    assert body["totals"]["female"] == "17"
    city = requests.get(system.url(f"{BASE}/indicators"), params={"org_unit": "116", "period": str(year)},
                        headers=headers, timeout=10).json()
    assert {r["id"]: r for r in city["indicators"]}["legal_aid"]["shown"] == "<5"
    assert "person_ref" not in json.dumps(city)


def rebuild(system) -> dict:
    response = requests.post(system.url(f"{BASE}/admin/rebuild"), headers=system.headers("admin"), timeout=180)
    assert response.status_code == 200, response.text
    assert response.json()["consumer_group"].startswith("reporting-projections-g")
    return response.json()


def test_a_rebuild_from_the_start_of_the_topics_gives_the_same_numbers(system):
    # The broker may hold events from before this system's databases existed: a first rebuild
    # reads them all; the live consumer then goes on, and a second rebuild must agree with it.
    rebuild(system)
    known = indicators(system, "14", HALF)["establishments_reviewed"]["denominator"]
    response = requests.post(system.url("/registry/v1/establishments"), headers=system.headers("police"), timeout=10,
                             json={"name": "Karaoke Tình Ca", "business_type": "karaoke", "owner_name": "Cầm Thị Lan",
                                   "address": "Tổ 3, phường Quyết Thắng", "commune_code": "03646",
                                   "operating_since": "2017-05-01"})
    assert response.status_code == 201, response.text
    wait_for(lambda: indicators(system, "14", HALF)["establishments_reviewed"]["denominator"] == known + 1)
    before = indicators(system, "14", HALF)
    again = rebuild(system)
    assert again["messages"] >= 1
    assert indicators(system, "14", HALF) == before


def test_the_dashboard_and_its_chart_library_are_served_by_the_service(system):
    page = requests.get(system.url("/reporting/"), timeout=10)
    assert page.status_code == 200 and "Chỉ tiêu" in page.text and "https://" not in page.text
    library = requests.get(system.url("/reporting/static/chart.umd.min.js"), timeout=10)
    assert library.status_code == 200 and "Chart.js" in library.text[:200]
