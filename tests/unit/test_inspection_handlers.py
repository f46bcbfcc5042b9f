"""The inspection service's business actions and event handlers, against an in-memory unit of work."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from chassis.auth import CULTURE_INSPECTOR, POLICE, Forbidden, Principal
from chassis.envelope import build, parse
from contracts.events import cases as case_events
from contracts.events import inspection as events
from contracts.events import registry as registry_events
from services.inspection import domain, handlers
from services.inspection.domain import InvalidChange, NotFound

SON_LA = ("14",)
OFFICER = Principal("officer-1", frozenset({POLICE}))
CITY_INSPECTOR = Principal("inspector-116", frozenset({CULTURE_INSPECTOR}), district="116")
QUYNH_NHAI_INSPECTOR = Principal("inspector-118", frozenset({CULTURE_INSPECTOR}), district="118")


class FakeRepository:
    def __init__(self, what: str):
        self.what, self.rows = what, {}

    def add(self, item) -> None:
        self.rows[item.id] = item

    def find(self, item_id):
        return self.rows.get(str(item_id))

    def get(self, item_id):
        if str(item_id) not in self.rows:
            raise NotFound(f"no {self.what} {item_id}")
        return self.rows[str(item_id)]

    def known(self, item_id):
        if str(item_id) not in self.rows:
            raise InvalidChange(f"establishment {item_id} is not known here", field="establishment_id")
        return self.rows[str(item_id)]

    def planned_reinspection(self, inspection_id):
        return next((i for i in self.rows.values() if i.reinspection_of == inspection_id and i.status == "planned"),
                    None)


class FakeUnitOfWork:
    def __init__(self):
        self.establishments, self.tips = FakeRepository("establishment"), FakeRepository("tip")
        self.plans, self.inspections = FakeRepository("plan"), FakeRepository("inspection")
        self.published: list[tuple] = []
        self.committed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def publish(self, event_type, subject, data: dict) -> None:
        # What the real outbox does: the payload must satisfy its contract.
        build(event_type, str(subject), data, "/lanhmanh/inspection")
        self.published.append((event_type, str(subject), data))

    def commit(self) -> None:
        self.committed = True

    def types(self) -> list:
        return [p[0] for p in self.published]

    def of(self, event_type) -> list[dict]:
        return [p[2] for p in self.published if p[0] is event_type]


def snapshot(**overrides) -> dict:
    return {"establishment_id": str(uuid.uuid4()), "name": "Nhà nghỉ Bình Minh", "business_type": "accommodation",
            "licence_number": "116/GPKD-2018-0001", "address": "Tổ 3, Phường Chiềng Lề", "commune_code": "03646",
            "district_code": "116", "province_code": "14", "employees": 4, "operating_since": date(2018, 3, 1),
            "status": "active", "risk_level": "medium", **overrides}


def received(event_type, data: dict):
    """The event as a consumer receives it (through the real envelope)."""
    _, raw = build(event_type, str(data.get("establishment_id") or data.get("tip_id")), data, "/lanhmanh/test")
    return parse(raw)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    handlers.apply_establishment_snapshot(uow, received(registry_events.ESTABLISHMENT_REGISTERED, {
        **snapshot(establishment_id="6d1f6a4e-0000-4000-8000-000000000001"),
        "registered_at": datetime(2020, 1, 2, tzinfo=timezone.utc)}))
    return uow


ESTABLISHMENT = "6d1f6a4e-0000-4000-8000-000000000001"


def schedule(uow, actor=OFFICER, **overrides):
    return handlers.schedule_inspection(uow, actor, {"establishment_id": ESTABLISHMENT, "agency": "police",
                                                     "scheduled_on": date(2020, 5, 4), **overrides})


def result(**overrides) -> dict:
    return {"conducted_on": date(2020, 5, 4), "checklist": [], "violations": [], "sanctions": [],
            "signs_of_prostitution": False, "people_identified": 0, "people_consenting_to_referral": 0, **overrides}


# -- the local copy -----------------------------------------------------------------------------------


def test_a_registration_becomes_inspectable_and_updates_follow(uow):
    copy = uow.establishments.get(ESTABLISHMENT)
    assert (copy.name, copy.district_code, copy.operating_since) == ("Nhà nghỉ Bình Minh", "116", date(2018, 3, 1))
    handlers.apply_establishment_snapshot(uow, received(registry_events.ESTABLISHMENT_UPDATED, {
        **snapshot(establishment_id=ESTABLISHMENT, name="Nhà nghỉ Bình Minh 2", risk_level="high"),
        "updated_at": datetime(2020, 2, 1, tzinfo=timezone.utc), "changed": ["name", "risk_level"]}))
    assert (copy.name, copy.name_key, copy.risk_level) == ("Nhà nghỉ Bình Minh 2", "nha nghi binh minh 2", "high")


def test_status_and_review_events_reach_the_copy(uow):
    handlers.apply_establishment_status(uow, received(registry_events.ESTABLISHMENT_STATUS_CHANGED, {
        "establishment_id": ESTABLISHMENT, "previous_status": "active", "status": "closed", "reason": "Ngừng KD",
        "effective_on": date(2020, 3, 1), "commune_code": "03646", "district_code": "116"}))
    handlers.apply_establishment_review(uow, received(registry_events.ESTABLISHMENT_REVIEWED, {
        "establishment_id": ESTABLISHMENT, "period": "2020S1", "reviewed_on": date(2020, 6, 1),
        "outcome": "compliant", "risk_level": "low", "commune_code": "03646", "district_code": "116"}))
    copy = uow.establishments.get(ESTABLISHMENT)
    assert (copy.status, copy.risk_level) == ("closed", "low")
    with pytest.raises(InvalidChange) as error:
        schedule(uow)
    assert error.value.field == "establishment_id"


def test_a_status_change_for_an_unknown_establishment_is_ignored():
    uow = FakeUnitOfWork()
    handlers.apply_establishment_status(uow, received(registry_events.ESTABLISHMENT_STATUS_CHANGED, {
        "establishment_id": str(uuid.uuid4()), "previous_status": "active", "status": "suspended", "reason": "x",
        "effective_on": date(2020, 3, 1), "commune_code": "03646", "district_code": "116"}))
    assert uow.establishments.rows == {}


def test_tips_stay_open_until_handled_or_found_unfounded(uow):
    tip, other = str(uuid.uuid4()), str(uuid.uuid4())
    base = {"commune_code": "03646", "district_code": "116", "establishment_id": ESTABLISHMENT}
    for tip_id in (tip, other):
        handlers.apply_tip(uow, received(case_events.TIP_RECEIVED, {
            **base, "tip_id": tip_id, "source": "hotline", "received_at": datetime(2020, 4, 1, tzinfo=timezone.utc)}))
    assert all(t.open for t in uow.tips.rows.values())
    handlers.apply_tip(uow, received(case_events.TIP_CLASSIFIED, {
        **base, "tip_id": tip, "classification": "unfounded", "classified_at": datetime(2020, 4, 2, tzinfo=timezone.utc)}))
    handlers.apply_tip(uow, received(case_events.TIP_HANDLED, {
        **base, "tip_id": other, "handled_at": datetime(2020, 4, 3, tzinfo=timezone.utc), "case_id": None}))
    assert [t.open for t in uow.tips.rows.values()] == [False, False]


# -- inspections -------------------------------------------------------------------------------------------


def test_an_unknown_establishment_is_refused_naming_establishment_id():
    with pytest.raises(InvalidChange) as error:
        schedule(FakeUnitOfWork())
    assert error.value.field == "establishment_id"


def test_scheduling_publishes_the_event_with_the_establishment_s_place(uow):
    inspection = schedule(uow)
    (data,) = uow.of(events.INSPECTION_SCHEDULED)
    assert data["inspection_id"] == inspection.id and data["commune_code"] == "03646"
    assert uow.committed and inspection.team == ["officer-1"]


def test_district_users_act_in_their_district_only(uow):
    assert schedule(uow, CITY_INSPECTOR, agency="culture").district_code == "116"
    with pytest.raises(Forbidden):
        schedule(uow, QUYNH_NHAI_INSPECTOR, agency="culture")
    with pytest.raises(Forbidden):
        handlers.create_plan(FakeUnitOfWork(), CITY_INSPECTOR, {
            "name": "KH", "kind": "specialised", "agency": "culture", "scope": "province",
            "period_start": date(2020, 1, 1), "period_end": date(2020, 12, 31)}, SON_LA)


def test_a_plan_s_agency_and_scope_apply_to_its_inspections(uow):
    plan = handlers.create_plan(uow, OFFICER, {
        "name": "Kiểm tra liên ngành", "kind": "inter_agency", "agency": "inter_agency", "scope": "communes",
        "commune_codes": ["03649"], "period_start": date(2020, 1, 1), "period_end": date(2020, 6, 30)}, SON_LA)
    assert (plan.district_code, plan.province_code) == ("116", "14")
    with pytest.raises(InvalidChange) as error:
        schedule(uow, plan_id=plan.id, agency=None)
    assert error.value.field == "plan_id"  # 03646 is not among the plan's communes


def test_plans_refuse_communes_of_two_districts():
    with pytest.raises(InvalidChange) as error:
        handlers.create_plan(FakeUnitOfWork(), OFFICER, {
            "name": "KH", "kind": "specialised", "agency": "police", "scope": "communes",
            "commune_codes": ["03646", "03682"], "period_start": date(2020, 1, 1),
            "period_end": date(2020, 6, 30)}, SON_LA)
    assert error.value.field == "commune_codes"


def test_start_and_cancel_publish_their_events(uow):
    first, second = schedule(uow), schedule(uow)
    handlers.update_inspection(uow, OFFICER, first.id, {"status": "in_progress"}, precondition=lambda _: None)
    handlers.update_inspection(uow, OFFICER, second.id, {"status": "cancelled", "cancel_reason": "Chủ cơ sở vắng"},
                               precondition=lambda _: None)
    assert uow.of(events.INSPECTION_STARTED)[0]["inspection_id"] == first.id
    assert uow.of(events.INSPECTION_CANCELLED)[0]["reason"] == "Chủ cơ sở vắng"


def test_a_clean_result_completes_and_lowers_the_risk(uow):
    inspection = schedule(uow)
    handlers.record_result(uow, OFFICER, inspection.id, result())
    assert uow.types() == [events.INSPECTION_SCHEDULED, events.INSPECTION_STARTED, events.INSPECTION_COMPLETED,
                           events.RISK_ASSESSED]
    (completed,) = uow.of(events.INSPECTION_COMPLETED)
    assert completed["passed"] and completed["reinspection_id"] is None
    (risk,) = uow.of(events.RISK_ASSESSED)
    assert risk["risk_level"] == "low" and risk["suspension_days"] == 0
    copy = uow.establishments.get(ESTABLISHMENT)
    assert (copy.last_inspected_on, copy.risk_level) == (date(2020, 5, 4), "low")


def test_signs_of_prostitution_refer_to_police_and_support_without_names(uow):
    inspection = schedule(uow)
    handlers.record_result(uow, OFFICER, inspection.id, result(
        violations=[{"code": "MD-01"}], signs_of_prostitution=True, people_identified=3,
        people_consenting_to_referral=2, sanctions=[
            {"kind": "fine", "violation_code": "MD-01", "amount_vnd": 15_000_000},
            {"kind": "licence_suspension", "violation_code": "MD-01", "days": 90}]))
    (police,) = uow.of(events.POLICE_REFERRAL)
    assert police["establishment_id"] == ESTABLISHMENT and police["commune_code"] == "03646"
    assert "Nhà nghỉ Bình Minh" in police["summary"]
    (support,) = uow.of(events.SUPPORT_REFERRAL)
    assert support["count"] == 2 and len(set(support["referral_ids"])) == 2
    assert set(support) == {"referral_batch_id", "inspection_id", "commune_code", "district_code", "referred_on",
                            "count", "referral_ids"}
    (risk,) = uow.of(events.RISK_ASSESSED)
    assert (risk["risk_level"], risk["suspension_days"]) == ("high", 90)


def test_a_failed_result_schedules_the_reinspection(uow):
    inspection = schedule(uow)
    handlers.record_result(uow, OFFICER, inspection.id, result(violations=[{"code": "CT-01"}]))
    scheduled = uow.of(events.INSPECTION_SCHEDULED)
    assert len(scheduled) == 2 and scheduled[1]["reinspection_of"] == inspection.id
    assert scheduled[1]["scheduled_on"] == date(2020, 6, 3)
    (completed,) = uow.of(events.INSPECTION_COMPLETED)
    assert completed["reinspection_id"] == scheduled[1]["inspection_id"] and not completed["passed"]
    assert uow.establishments.get(ESTABLISHMENT).violations_recorded == 1


def test_a_correction_to_a_pass_cancels_the_planned_reinspection_and_refers_nobody_twice(uow):
    inspection = schedule(uow)
    handlers.record_result(uow, OFFICER, inspection.id, result(
        violations=[{"code": "MD-02"}], signs_of_prostitution=True, people_identified=1,
        people_consenting_to_referral=1))
    handlers.record_result(uow, OFFICER, inspection.id, result(
        correction_reason="Nhập nhầm: dấu hiệu thuộc cơ sở bên cạnh", signs_of_prostitution=False))
    assert len(uow.of(events.POLICE_REFERRAL)) == 1 and len(uow.of(events.SUPPORT_REFERRAL)) == 1
    assert uow.of(events.INSPECTION_CANCELLED)[0]["inspection_id"] == uow.of(events.INSPECTION_SCHEDULED)[1][
        "inspection_id"]
    completed = uow.of(events.INSPECTION_COMPLETED)
    assert [c["result_revision"] for c in completed] == [1, 2] and completed[1]["correction"]
    assert inspection.reinspection_id is None and len(inspection.results) == 2
    assert uow.establishments.get(ESTABLISHMENT).violations_recorded == 0


def test_a_result_for_a_cancelled_inspection_is_a_conflict_on_status(uow):
    inspection = schedule(uow)
    handlers.update_inspection(uow, OFFICER, inspection.id, {"status": "cancelled", "cancel_reason": "Trùng lịch"},
                               precondition=lambda _: None)
    with pytest.raises(domain.Conflict) as error:
        handlers.record_result(uow, OFFICER, inspection.id, result())
    assert error.value.field == "status"


def test_without_a_plan_the_inter_agency_team_makes_an_inter_agency_inspection(uow):
    assert schedule(uow, agency="inter_agency").kind == "inter_agency"
    assert schedule(uow, agency="health").kind == "specialised"
    with pytest.raises(InvalidChange) as error:
        schedule(uow, agency=None)
    assert error.value.field == "agency"


def test_a_province_plan_names_no_district():
    with pytest.raises(InvalidChange) as error:
        handlers.create_plan(FakeUnitOfWork(), OFFICER, {
            "name": "KH", "kind": "specialised", "agency": "police", "scope": "province", "district_code": "116",
            "period_start": date(2020, 1, 1), "period_end": date(2020, 6, 30)}, SON_LA)
    assert error.value.field == "district_code"
