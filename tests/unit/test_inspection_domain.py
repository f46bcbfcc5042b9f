"""The inspection domain with plain objects: visit ranking, results, sanctions, corrections, risk."""
from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest

from contracts.events import inspection as contract
from services.inspection import domain
from services.inspection.domain import Conflict, Establishment, Inspection, InvalidChange, Plan

AT = datetime(2020, 6, 15, 3, 0, tzinfo=timezone.utc)
ids = (f"id-{n}" for n in itertools.count())


def new_id() -> str:
    return next(ids)


def establishment(last_inspected_on=None, violations_recorded=0, **overrides) -> Establishment:
    data = {"establishment_id": "e-1", "name": "Karaoke Hoa Hồng", "business_type": "karaoke",
            "address": "Số 12, đường Tô Hiệu", "commune_code": "03646", "district_code": "116",
            "province_code": "14", "status": "active", "risk_level": "medium", **overrides}
    found = Establishment.from_snapshot(data, AT)
    found.last_inspected_on, found.violations_recorded = last_inspected_on, violations_recorded  # this service's own
    return found


def inspection(est: Establishment | None = None, **overrides) -> Inspection:
    args = dict(by="inspector-1", at=AT, kind="specialised", agency="culture", scheduled_on=date(2020, 6, 10), team=[])
    return Inspection.schedule("i-1", est or establishment(), **{**args, **overrides})


def draft(**overrides) -> dict:
    return {"conducted_on": date(2020, 6, 10), "checklist": [], "violations": [], "sanctions": [],
            "signs_of_prostitution": False, "people_identified": 0, "people_consenting_to_referral": 0, **overrides}


def record(insp: Inspection, **overrides):
    return insp.record_result(draft(**overrides), "medium", "inspector-1", AT, new_id)


def test_domain_vocabulary_matches_the_event_contract():
    assert domain.KINDS == contract.KINDS
    assert domain.AGENCIES == contract.AGENCIES
    assert domain.SANCTIONS == contract.SANCTIONS


# -- the catalogue -------------------------------------------------------------------------------------


def test_every_violation_cites_both_decrees_with_a_fine_range():
    for code, violation in domain.violation_catalogue().items():
        decrees = [b["decree"] for b in violation["legal_basis"]]
        assert decrees == ["167/2013/NĐ-CP", "144/2021/NĐ-CP"], code
        for basis in violation["legal_basis"]:
            assert 0 < basis["fine_min_vnd"] <= basis["fine_max_vnd"], code
            assert basis["reference"].startswith("Điều "), code


def test_the_decree_in_force_depends_on_the_day():
    assert domain.legal_basis_on("MD-01", date(2020, 6, 1))["decree"] == "167/2013/NĐ-CP"
    assert domain.legal_basis_on("MD-01", date(2022, 1, 1))["decree"] == "144/2021/NĐ-CP"


def test_every_checklist_item_points_to_a_catalogued_violation():
    catalogue = domain.violation_catalogue()
    for business_type in ("karaoke", "massage", "accommodation", "other", "unknown-type"):
        items = domain.checklist(business_type)
        assert items and all(item["suggests"] in catalogue for item in items)
        assert any(item.get("signs_of_prostitution") for item in items)


# -- visit lists ------------------------------------------------------------------------------------------


def test_rank_adds_risk_time_since_inspection_past_violations_and_open_tips():
    as_of = date(2020, 12, 31)
    visit = domain.visit_score(establishment(risk_level="high", last_inspected_on=date(2020, 6, 30),
                                             violations_recorded=2), open_tips=1, as_of=as_of)
    assert (visit.risk_points, visit.violation_points, visit.tip_points) == (40, 10, 15)
    assert visit.time_points == 15  # six months at 2.5 points a month
    assert visit.score == 40 + 15 + 10 + 15


def test_rank_caps_each_part_and_counts_never_inspected_as_a_full_year():
    never = domain.visit_score(establishment(risk_level="low"), open_tips=9, as_of=date(2020, 12, 31))
    long_ago = domain.visit_score(establishment(risk_level="low", last_inspected_on=date(2015, 1, 1),
                                                violations_recorded=40), open_tips=0, as_of=date(2020, 12, 31))
    assert never.time_points == long_ago.time_points == 30
    assert never.tip_points == 30 and long_ago.violation_points == 20


def test_visit_list_puts_the_riskiest_first_and_leaves_out_closed_businesses():
    low = establishment(establishment_id="a", name="A low", risk_level="low")
    high = establishment(establishment_id="b", name="B high", risk_level="high")
    tipped = establishment(establishment_id="c", name="C tipped", risk_level="low")
    closed = establishment(establishment_id="d", name="D closed", risk_level="high", status="closed")
    ranked = domain.rank_visits([low, high, tipped, closed], {"c": 1}, date(2020, 6, 1))
    assert [v.establishment.id for v in ranked] == ["b", "c", "a"]


def test_a_plan_covers_its_scope_and_ranks_within_its_period():
    plan = Plan.create("p-1", by="u", at=AT, name="KH", kind="specialised", agency="police", scope="communes",
                       province_code="14", district_code="116", commune_codes=["03646"],
                       period_start=date(2020, 1, 1), period_end=date(2020, 6, 30))
    assert plan.covers(establishment()) and not plan.covers(establishment(commune_code="03649"))
    assert plan.ranking_date(date(2026, 1, 1)) == date(2020, 6, 30)
    assert plan.ranking_date(date(2019, 1, 1)) == date(2020, 1, 1)


@pytest.mark.parametrize("overrides,field", [
    ({"period_end": date(2019, 12, 31)}, "period_end"),
    ({"period_end": date(2021, 6, 30)}, "period_end"),
    ({"kind": "inter_agency"}, "agency"),
    ({"scope": "communes"}, "commune_codes"),
    ({"scope": "district", "district_code": None}, "district_code"),
])
def test_bad_plans_are_refused_naming_the_field(overrides, field):
    details = dict(name="KH", kind="specialised", agency="police", scope="district", province_code="14",
                   district_code="116", commune_codes=[], period_start=date(2020, 1, 1), period_end=date(2020, 6, 30))
    with pytest.raises(InvalidChange) as error:
        Plan.create("p-1", by="u", at=AT, **{**details, **overrides})
    assert error.value.field == field


# -- inspections --------------------------------------------------------------------------------------------


def test_the_scheduler_is_the_team_unless_a_team_is_given():
    assert inspection().team == ["inspector-1"]
    assert inspection(team=["a", "b", "a", " "]).team == ["a", "b"]


def test_a_closed_establishment_cannot_be_inspected():
    with pytest.raises(InvalidChange) as error:
        inspection(establishment(status="closed"))
    assert error.value.field == "establishment_id"


def test_lifecycle_planned_in_progress_completed():
    insp = inspection()
    insp.start(AT)
    assert insp.status == domain.IN_PROGRESS
    with pytest.raises(Conflict):
        insp.start(AT)
    record(insp)
    assert insp.status == domain.COMPLETED
    with pytest.raises(Conflict):
        insp.cancel("late", AT)


def test_a_cancelled_inspection_gets_no_result_and_needs_a_reason():
    insp = inspection()
    with pytest.raises(InvalidChange):
        insp.cancel("  ", AT)
    insp.cancel("Cơ sở đóng cửa", AT)
    with pytest.raises(Conflict) as error:
        record(insp)
    assert error.value.field == "status"


def test_a_result_on_a_planned_inspection_starts_it_on_the_day_conducted():
    insp = inspection()
    record(insp)
    assert insp.started_at.astimezone(domain.LOCAL_TIME).date() == date(2020, 6, 10)


def test_a_recorded_result_is_kept_and_a_correction_is_a_new_revision():
    insp = inspection()
    first = record(insp, violations=[{"code": "ANTT-06"}])
    with pytest.raises(Conflict) as error:
        record(insp)
    assert error.value.field == "correction_reason"
    corrected = record(insp, correction_reason="Nhập nhầm mã vi phạm", violations=[{"code": "ANTT-02"}])
    assert corrected.revision == 2 and insp.result is corrected
    assert insp.corrected_results == [first] and first.violation_codes == ["ANTT-06"]


def test_a_correction_needs_a_result_to_correct():
    with pytest.raises(InvalidChange) as error:
        record(inspection(), correction_reason="?")
    assert error.value.field == "correction_reason"


@pytest.mark.parametrize("overrides,field", [
    ({"violations": [{"code": "XX-99"}]}, "violations.0.code"),
    ({"violations": [{"code": "CT-01"}, {"code": "CT-01"}]}, "violations.1.code"),
    ({"checklist": [{"item": "LT-01", "answer": "yes"}]}, "checklist.0.item"),  # not on a karaoke checklist
    ({"violations": [{"code": "CT-01"}], "sanctions": [{"kind": "warning", "violation_code": "CT-01",
                                                         "amount_vnd": 500000}]}, "sanctions.0.amount_vnd"),
    ({"violations": [{"code": "CT-01"}], "sanctions": [{"kind": "fine", "violation_code": "CT-01",
                                                         "amount_vnd": 50_000_000}]}, "sanctions.0.amount_vnd"),
    ({"violations": [{"code": "CT-01"}], "sanctions": [{"kind": "fine", "violation_code": "MD-01",
                                                         "amount_vnd": 15_000_000}]}, "sanctions.0.violation_code"),
    ({"violations": [{"code": "CT-01"}], "sanctions": [{"kind": "licence_suspension", "violation_code": "CT-01",
                                                         "days": 30}]}, "sanctions.0.kind"),
    ({"violations": [{"code": "MD-01"}], "signs_of_prostitution": True,
      "sanctions": [{"kind": "licence_suspension", "violation_code": "MD-01"}]}, "sanctions.0.days"),
    ({"people_identified": -1}, "people_identified"),
    ({"signs_of_prostitution": True, "people_identified": 1, "people_consenting_to_referral": 2},
     "people_consenting_to_referral"),
    ({"people_identified": 2}, "people_identified"),
    ({"checklist": [{"item": "MD-DH", "answer": "yes"}]}, "signs_of_prostitution"),
    ({"conducted_on": date(2099, 1, 1)}, "conducted_on"),
])
def test_bad_results_are_refused_naming_the_field(overrides, field):
    insp = inspection()
    with pytest.raises(InvalidChange) as error:
        record(insp, **overrides)
    assert error.value.field == field
    assert insp.status == domain.PLANNED and insp.results == []


def test_a_fine_follows_the_decree_in_force_on_the_day():
    result = record(inspection(), violations=[{"code": "CT-01"}],
                    sanctions=[{"kind": "fine", "violation_code": "CT-01", "amount_vnd": 200_000}])
    assert result.fines_total_vnd == 200_000
    assert result.violations[0]["legal_basis"] == "Điều 8, khoản 1, điểm b Nghị định 167/2013/NĐ-CP"


def test_referral_ids_once_for_the_police_and_only_for_newly_consenting_people():
    insp = inspection()
    first = record(insp, signs_of_prostitution=True, people_identified=3, people_consenting_to_referral=1,
                   violations=[{"code": "MD-02"}])
    assert first.police_referral_id and first.support_referral_batch_id
    same = record(insp, correction_reason="Sửa ghi chú", signs_of_prostitution=True, people_identified=3,
                  people_consenting_to_referral=1, violations=[{"code": "MD-02"}])
    assert same.police_referral_id == first.police_referral_id and same.support_referral_batch_id is None
    more = record(insp, correction_reason="Thêm người đồng ý", signs_of_prostitution=True, people_identified=3,
                  people_consenting_to_referral=3, violations=[{"code": "MD-02"}])
    assert more.support_referral_batch_id not in (None, first.support_referral_batch_id)


@pytest.mark.parametrize("current,result,expected", [
    ("low", {}, "low"),
    ("high", {}, "medium"),
    ("low", {"violations": [{"code": "CT-01"}]}, "medium"),
    ("medium", {"violations": [{"code": "CT-01"}]}, "high"),
    ("low", {"violations": [{"code": "ANTT-01"}]}, "high"),  # a serious violation
    ("low", {"signs_of_prostitution": True}, "high"),
    ("low", {"violations": [{"code": "ANTT-05"}],
             "sanctions": [{"kind": "licence_suspension", "violation_code": "ANTT-05", "days": 30}]}, "high"),
])
def test_risk_after_a_result(current, result, expected):
    full = {"violations": [], "sanctions": [], "signs_of_prostitution": False, **result}
    assert domain.assess_risk(current, full) == expected


def test_a_failed_result_calls_for_a_reinspection_after_30_days_or_after_the_suspension():
    insp = inspection(team=["a", "b"])
    record(insp, violations=[{"code": "MD-01"}], signs_of_prostitution=True,
           sanctions=[{"kind": "licence_suspension", "violation_code": "MD-01", "days": 60}])
    again = insp.follow_up("i-2", establishment(), "a", AT)
    assert again.scheduled_on == date(2020, 6, 10) + timedelta(days=61)
    assert again.reinspection_of == insp.id and insp.reinspection_id == "i-2"
    assert again.team == ["a", "b"]


def test_only_a_planned_inspection_is_rescheduled():
    insp = inspection()
    assert insp.update({"scheduled_on": date(2020, 6, 12), "notes": "x"}, AT) == ["scheduled_on", "notes"]
    insp.start(AT)
    with pytest.raises(Conflict):
        insp.update({"scheduled_on": date(2020, 6, 13)}, AT)
