"""The reporting service's business actions against an in-memory unit of work, and its
projection handlers fed with events built from the other services' contracts."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from chassis.auth import ADMIN, CULTURE_INSPECTOR, SOCIAL_WORKER, Forbidden, Principal
from chassis.envelope import ReceivedEvent
from contracts.events import cases, inspection, registry, support
from services.reporting import handlers
from services.reporting.domain import Conflict, InvalidChange, NotFound

SON_LA = ("14",)
CHIENG_LE = "03646"  # district 116, Thành phố Sơn La
OFFICER = Principal("cb-vhxh-03646", frozenset({CULTURE_INSPECTOR}), district="116")
DISTRICT = Principal("phong-116", frozenset({SOCIAL_WORKER}), district="116")
OTHER_DISTRICT = Principal("phong-118", frozenset({SOCIAL_WORKER}), district="118")
PROVINCE = Principal("so-ldtbxh", frozenset({ADMIN}))


class FakeReports:
    def __init__(self):
        self.rows = {}

    def add(self, report):
        self.rows[report.id] = report

    def get(self, report_id):
        try:
            return self.rows[str(report_id)]
        except KeyError:
            raise NotFound(report_id) from None

    def overlapping(self, commune_code, start, end):
        return next((r for r in self.rows.values() if r.commune_code == commune_code
                     and r.period_start <= end and r.period_end >= start), None)


class FakeUnitOfWork:
    def __init__(self):
        self.reports = FakeReports()
        self.committed = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def commit(self):
        self.committed += 1


def create(uow, actor=OFFICER, **values):
    return handlers.create_report(uow, actor, {"commune_code": CHIENG_LE, "period": "2020Q1",
                                               "activities_count": 2, "audience": 80, **values}, SON_LA)


def test_a_commune_files_a_report_in_its_district():
    uow = FakeUnitOfWork()
    report = create(uow)
    assert (report.district_code, report.province_code, report.status, uow.committed) == ("116", "14", "draft", 1)
    with pytest.raises(Forbidden):
        create(FakeUnitOfWork(), actor=OTHER_DISTRICT)


def test_a_commune_outside_the_province_is_refused():
    with pytest.raises(InvalidChange):
        handlers.create_report(FakeUnitOfWork(), PROVINCE, {"commune_code": "00001", "period": "2020Q1"}, SON_LA)


def test_overlapping_periods_of_one_commune_conflict():
    uow = FakeUnitOfWork()
    create(uow)
    with pytest.raises(Conflict):
        create(uow, period="202002")  # February is inside Q1


def test_district_approves_and_only_the_province_unlocks():
    uow = FakeUnitOfWork()
    report = create(uow)
    handlers.submit_report(uow, OFFICER, report.id)
    with pytest.raises(Forbidden):
        handlers.approve_report(uow, OTHER_DISTRICT, report.id)
    handlers.approve_report(uow, DISTRICT, report.id)
    assert report.locked
    with pytest.raises(Forbidden):
        handlers.unlock_report(uow, DISTRICT, report.id, "sửa số liệu")
    handlers.unlock_report(uow, PROVINCE, report.id, "sửa số liệu")
    assert report.status == "unlocked"


# -- projections ---------------------------------------------------------------------------------
class FakeProjections:
    """The projection store in memory: tables of rows keyed like the real ones."""

    def __init__(self):
        self.tables = {}
        self.touched = 0

    def upsert(self, table, key, values):
        rows = self.tables.setdefault(table.name, {})
        k = tuple(sorted(key.items()))
        rows.setdefault(k, dict(key)).update(values)

    def change(self, table, key, values):
        rows = self.tables.setdefault(table.name, {})
        k = tuple(sorted(key.items()))
        if k in rows:
            rows[k].update(values)
        return k in rows

    def row(self, table, key):
        found = self.tables.get(table.name, {}).get(tuple(sorted(key.items())))
        return type("Row", (), found) if found else None

    def touch(self, event_time, applied_at):
        self.touched += 1

    def one(self, name):
        (row,) = self.tables[name].values()
        return row


class ProjectionUow:
    def __init__(self):
        self.projections = FakeProjections()


def event(event_type, data, when=datetime(2020, 5, 1, tzinfo=timezone.utc)) -> ReceivedEvent:
    payload = event_type.schema().dump(data)
    return ReceivedEvent(str(uuid.uuid4()), event_type.type, "/lanhmanh/test", None, when, payload, None, None, "1")


def apply(uow, event_type, data):
    handlers.PROJECTION_HANDLERS[event_type.type](uow, event(event_type, data))


def test_an_establishment_is_projected_without_its_owner_and_closes_on_revocation():
    uow, eid = ProjectionUow(), uuid.uuid4()
    apply(uow, registry.ESTABLISHMENT_REGISTERED, {
        "establishment_id": eid, "name": "Karaoke Hoa Hồng", "business_type": "karaoke", "address": "Tô Hiệu",
        "commune_code": CHIENG_LE, "district_code": "116", "province_code": "14", "status": "active",
        "risk_level": "low", "operating_since": date(2018, 3, 1), "registered_at": datetime.now(timezone.utc)})
    row = uow.projections.one("p_establishments")
    assert row["opened_on"] == date(2018, 3, 1) and "name" not in row
    apply(uow, registry.ESTABLISHMENT_STATUS_CHANGED, {
        "establishment_id": eid, "previous_status": "active", "status": "revoked", "reason": "Tái phạm",
        "effective_on": date(2020, 9, 1), "commune_code": CHIENG_LE, "district_code": "116"})
    assert (row["status"], row["closed_on"]) == ("revoked", date(2020, 9, 1))
    assert uow.projections.touched == 2


def test_a_case_reaching_trial_has_been_investigated_and_prosecuted_and_a_correction_undoes():
    uow, cid = ProjectionUow(), uuid.uuid4()
    where = {"case_id": cid, "commune_code": CHIENG_LE, "district_code": "116"}
    apply(uow, cases.CASE_OPENED, {**where, "articles": ["327"], "opened_on": date(2020, 2, 1)})
    apply(uow, cases.CASE_STAGE_CHANGED, {**where, "previous_stage": "opened", "stage": "trial",
                                          "on": date(2020, 6, 1), "mobile_trial": True})
    row = uow.projections.one("p_cases")
    assert (row["investigation_on"], row["prosecution_on"], row["trial_on"], row["mobile_trial"]) == (
        date(2020, 6, 1), date(2020, 6, 1), date(2020, 6, 1), True)
    apply(uow, cases.CASE_STAGE_CHANGED, {**where, "previous_stage": "trial", "stage": "prosecution",
                                          "on": date(2020, 6, 2), "correction": True})
    assert row["trial_on"] is None and row["prosecution_on"] == date(2020, 6, 2)


def test_a_hotspot_that_recurs_is_open_again():
    uow, hid = ProjectionUow(), uuid.uuid4()
    where = {"hotspot_id": hid, "commune_code": CHIENG_LE, "district_code": "116"}
    apply(uow, cases.HOTSPOT_DETECTED, {**where, "kind": "public_place", "detected_on": date(2020, 1, 5),
                                        "found_by": "tip"})
    apply(uow, cases.HOTSPOT_ELIMINATED, {**where, "eliminated_on": date(2020, 3, 1)})
    apply(uow, cases.HOTSPOT_RECURRED, {**where, "recurred_on": date(2020, 8, 1)})
    row = uow.projections.one("p_hotspots")
    assert (row["eliminated_on"], row["recurred_on"]) == (None, date(2020, 8, 1))


def test_a_completed_inspection_is_not_undone_by_a_late_started_event():
    uow, iid = ProjectionUow(), uuid.uuid4()
    base = {"inspection_id": iid, "establishment_id": uuid.uuid4(), "kind": "inter_agency", "agency": "inter_agency",
            "commune_code": CHIENG_LE, "district_code": "116"}
    apply(uow, inspection.INSPECTION_COMPLETED, {**base, "conducted_on": date(2020, 4, 2), "passed": False,
                                                 "violation_codes": ["V1"], "sanctions": ["fine"],
                                                 "fines_total_vnd": 5_000_000, "signs_of_prostitution": False,
                                                 "people_identified": 0, "people_consenting_to_referral": 0})
    apply(uow, inspection.INSPECTION_STARTED, {**base, "started_at": datetime(2020, 4, 2, 2, tzinfo=timezone.utc)})
    assert uow.projections.one("p_inspections")["state"] == "completed"


def test_support_events_keep_only_a_pseudonym_district_age_band_and_sex():
    uow = ProjectionUow()
    apply(uow, support.SERVICE_DELIVERED, {"person_ref": uuid.uuid4(), "district_code": "116", "age_band": "18_24",
                                           "sex": "female", "support_case_id": uuid.uuid4(),
                                           "service_type": "vocational_training", "delivered_on": date(2020, 5, 3)})
    row = uow.projections.one("p_support")
    assert set(row) == {"event_id", "fact", "person_ref", "district_code", "age_band", "sex", "service_type",
                        "completed", "outcome", "happened_on"}
