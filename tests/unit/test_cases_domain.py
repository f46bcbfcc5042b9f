"""The cases service's rules, on plain objects: tips, case stages, hotspots, time limits."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from contracts.events import cases as contract
from services.cases import domain
from services.cases.domain import Case, Conflict, Hotspot, InvalidChange, Tip, TimeLimits

NOW = datetime(2020, 12, 31, 10, 0, tzinfo=timezone.utc)
LIMITS = TimeLimits(20, {"opened": 3, "investigation": 120, "prosecution": 120, "trial": 15, "suspended": None})


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+07:00")


def new_tip(**overrides) -> Tip:
    details = dict(source="citizen", received_at=at("2020-03-02"), summary="Phản ánh nhà nghỉ chứa mại dâm",
                   commune_code="03646", district_code="116", province_code="14")
    details.update(overrides)
    return Tip.receive("tip-1", limits=LIMITS, by="officer", at=NOW, **details)


def new_case(**overrides) -> Case:
    details = dict(case_number="01/2020/QĐ-KTVA", articles=["327"], opened_on=date(2020, 3, 10),
                   commune_code="03646", district_code="116", province_code="14", summary="Chứa mại dâm",
                   establishment_ids=["e-1", "e-2"])
    details.update(overrides)
    return Case.open("case-1", limits=LIMITS, by="officer", at=NOW, **details)


def move(case: Case, stage: str, on: str, **kwargs):
    return case.move(stage, date.fromisoformat(on), LIMITS, "officer", NOW, **kwargs)


def to_trial(case: Case, mobile: bool = True) -> Case:
    move(case, "investigation", "2020-03-11")
    move(case, "prosecution", "2020-06-01")
    move(case, "trial", "2020-07-15", court="Tòa án nhân dân huyện Mai Sơn", mobile_trial=mobile)
    return case


# -- vocabularies and configuration ---------------------------------------------------------------------------

def test_the_domain_speaks_the_contracts_vocabulary():
    assert domain.TIP_SOURCES == contract.TIP_SOURCES
    assert domain.CLASSIFICATIONS == contract.CLASSIFICATIONS
    assert tuple(sorted(domain.ARTICLES)) == contract.ARTICLES
    assert domain.STAGES == contract.STAGES
    assert domain.HOTSPOT_KINDS == contract.HOTSPOT_KINDS


def test_time_limits_come_from_the_data_file(tmp_path):
    shipped = TimeLimits.load(domain_file("time_limits.json"))
    assert shipped.tip_verification_days == 20
    assert shipped.stage_days["investigation"] == 120
    path = tmp_path / "limits.json"
    path.write_text(json.dumps({"tip_verification": {"days": 10}, "stages": {"investigation": {"days": 60}}}))
    mine = TimeLimits.load(path)
    assert mine.tip_due(date(2020, 1, 1)) == date(2020, 1, 11)
    assert mine.stage_due("investigation", date(2020, 1, 1)) == date(2020, 3, 1)
    assert mine.stage_due("prosecution", date(2020, 1, 1)) is None


def test_time_limits_refuse_an_unknown_stage(tmp_path):
    path = tmp_path / "limits.json"
    path.write_text(json.dumps({"tip_verification": 10, "stages": {"interrogation": 5}}))
    with pytest.raises(ValueError):
        TimeLimits.load(path)


def domain_file(name: str):
    from pathlib import Path

    return Path(domain.__file__).with_name(name)


# -- tips -----------------------------------------------------------------------------------------------------

def test_a_tip_is_due_for_verification_after_the_configured_days():
    tip = new_tip()
    assert tip.status == "received"
    assert tip.verification_due_on == date(2020, 3, 22)
    assert not tip.is_overdue(date(2020, 3, 22))
    assert tip.is_overdue(date(2020, 3, 23))


def test_a_tip_goes_received_verifying_classified_handled():
    tip = new_tip()
    tip.start_verification("officer", at("2020-03-03"), NOW)
    assert tip.status == "verifying"
    tip.classify("administrative", None, "officer", at("2020-03-10"), NOW)
    assert (tip.status, tip.classification) == ("classified", "administrative")
    assert not tip.is_overdue(date(2020, 12, 1))
    tip.handle("Chuyển Đội 178 xử phạt", at("2020-03-12"), NOW)
    assert tip.status == "handled" and tip.handled


def test_a_classified_tip_is_not_overdue_even_after_the_deadline():
    tip = new_tip()
    tip.classify("unfounded", None, "officer", at("2020-04-30"), NOW)
    assert not tip.is_overdue(date(2020, 5, 1))


def test_a_tip_cannot_be_handled_before_it_is_classified():
    tip = new_tip()
    with pytest.raises(Conflict) as exc:
        tip.handle("xong", at("2020-03-05"), NOW)
    assert exc.value.field == "classification"


def test_a_criminal_tip_is_handled_by_a_case_only():
    tip = new_tip()
    tip.classify("criminal", None, "officer", at("2020-03-05"), NOW)
    with pytest.raises(InvalidChange) as exc:
        tip.handle("xong", at("2020-03-06"), NOW)
    assert exc.value.field == "case_id"
    tip.handle(None, at("2020-03-06"), NOW, case_id="case-1")
    assert tip.case_id == "case-1"


def test_a_tip_is_classified_once():
    tip = new_tip()
    tip.classify("unfounded", None, "officer", at("2020-03-05"), NOW)
    with pytest.raises(Conflict):
        tip.classify("criminal", None, "officer", at("2020-03-06"), NOW)
    assert tip.classification == "unfounded"


def test_tip_moments_cannot_precede_receipt_or_lie_in_the_future():
    tip = new_tip()
    with pytest.raises(InvalidChange) as exc:
        tip.classify("criminal", None, "officer", at("2020-03-01"), NOW)
    assert exc.value.field == "classified_at"
    with pytest.raises(InvalidChange) as exc:
        new_tip(received_at=NOW + timedelta(days=2))
    assert exc.value.field == "received_at"


def test_unknown_source_and_classification_are_refused():
    with pytest.raises(InvalidChange) as exc:
        new_tip(source="rumour")
    assert exc.value.field == "source"
    with pytest.raises(InvalidChange) as exc:
        new_tip().classify("maybe", None, "officer", at("2020-03-05"), NOW)
    assert exc.value.field == "classification"


# -- cases ----------------------------------------------------------------------------------------------------

def test_a_case_opens_with_its_articles_and_first_stage_deadline():
    case = new_case(articles=["328", "327", "327"])
    assert case.articles == ["327", "328"]
    assert (case.stage, case.stage_on, case.stage_due_on) == ("opened", date(2020, 3, 10), date(2020, 3, 13))
    assert [s.stage for s in case.stages] == ["opened"]


def test_unknown_article_is_refused_naming_articles():
    with pytest.raises(InvalidChange) as exc:
        new_case(articles=["327", "999"])
    assert exc.value.field == "articles"
    with pytest.raises(InvalidChange):
        new_case(articles=[])


def test_a_case_goes_through_every_stage_to_its_verdict():
    case = to_trial(new_case())
    change = move(case, "verdict", "2020-07-15", sentence="5 năm tù")
    assert [s.stage for s in case.stages] == ["opened", "investigation", "prosecution", "trial", "verdict"]
    assert (change.previous_stage, case.court, case.mobile_trial) == ("trial", "Tòa án nhân dân huyện Mai Sơn", True)
    assert case.stage_due_on is None and not case.is_overdue(date(2030, 1, 1))


@pytest.mark.parametrize("stage", ["prosecution", "trial", "verdict"])
def test_a_stage_cannot_be_skipped(stage):
    case = new_case()
    with pytest.raises(Conflict) as exc:
        move(case, stage, "2020-04-01", court="TAND")
    assert exc.value.field == "stage"
    assert case.stage == "opened" and len(case.stages) == 1


def test_a_case_cannot_go_backwards():
    case = new_case()
    move(case, "investigation", "2020-03-11")
    move(case, "prosecution", "2020-06-01")
    with pytest.raises(Conflict):
        move(case, "investigation", "2020-06-02")
    assert case.stage == "prosecution"


def test_a_correction_may_go_back_with_a_reason_and_is_recorded():
    case = new_case()
    move(case, "investigation", "2020-03-11")
    move(case, "prosecution", "2020-06-01")
    with pytest.raises(InvalidChange) as exc:
        move(case, "investigation", "2020-03-11", correction=True)
    assert exc.value.field == "reason"
    change = move(case, "investigation", "2020-03-11", correction=True, reason="Nhập nhầm giai đoạn")
    assert (case.stage, change.correction, change.reason) == ("investigation", True, "Nhập nhầm giai đoạn")


def test_stage_dates_cannot_precede_the_opening_or_the_current_stage_or_lie_ahead():
    case = new_case()
    with pytest.raises(InvalidChange) as exc:
        move(case, "investigation", "2020-03-09")
    assert exc.value.field == "on"
    move(case, "investigation", "2020-04-01")
    with pytest.raises(InvalidChange) as exc:
        move(case, "prosecution", "2020-03-20")
    assert exc.value.field == "on"
    with pytest.raises(InvalidChange) as exc:
        move(case, "prosecution", "2021-02-01")
    assert exc.value.field == "on"


def test_a_trial_needs_its_court():
    case = new_case()
    move(case, "investigation", "2020-03-11")
    move(case, "prosecution", "2020-06-01")
    with pytest.raises(InvalidChange) as exc:
        move(case, "trial", "2020-07-01")
    assert exc.value.field == "court"


def test_suspension_and_dismissal_need_a_reason_and_a_suspended_case_resumes_where_it_stopped():
    case = new_case()
    move(case, "investigation", "2020-03-11")
    with pytest.raises(InvalidChange) as exc:
        move(case, "suspended", "2020-04-01")
    assert exc.value.field == "reason"
    move(case, "suspended", "2020-04-01", reason="Chưa xác định được bị can")
    assert case.stage_due_on is None and case.suspended_from == "investigation"
    with pytest.raises(Conflict):
        move(case, "prosecution", "2020-05-01")
    move(case, "investigation", "2020-05-01")
    move(case, "dismissed", "2020-06-01", reason="Không cấu thành tội phạm")
    with pytest.raises(Conflict):
        move(case, "prosecution", "2020-06-02")
    assert (case.stage, case.outcome_reason) == ("dismissed", "Không cấu thành tội phạm")


def test_an_overdue_stage_is_one_that_outlasted_its_limit():
    case = new_case()
    move(case, "investigation", "2020-03-11")
    assert case.stage_due_on == date(2020, 7, 9)
    assert not case.is_overdue(date(2020, 7, 9)) and case.is_overdue(date(2020, 7, 10))


def test_a_verdict_against_the_operator_names_linked_establishments():
    case = to_trial(new_case())
    with pytest.raises(InvalidChange) as exc:
        move(case, "verdict", "2020-07-15", operator_convicted=True, establishment_ids=["e-9"])
    assert exc.value.field == "establishment_ids"
    move(case, "verdict", "2020-07-15", operator_convicted=True)
    assert case.convicted_establishment_ids == ["e-1", "e-2"]


def test_a_verdict_against_an_operator_without_establishments_is_refused():
    case = to_trial(new_case(establishment_ids=[]))
    with pytest.raises(InvalidChange):
        move(case, "verdict", "2020-07-15", operator_convicted=True)


def test_suspect_identities_and_victims():
    case = new_case(suspects=[{"full_name": "Lò Văn A", "role": "operator"}], suspects_count=3)
    assert case.suspects_count == 3 and case.suspects[0].full_name == "Lò Văn A"
    case.add_suspect({"full_name": "Cầm Thị B", "role": "broker"}, "officer", NOW)
    assert len(case.suspects) == 2 and case.suspects_count == 3
    with pytest.raises(InvalidChange) as exc:
        case.identify_victims(["r-1"], date(2020, 3, 1), False, "officer", NOW)
    assert exc.value.field == "identified_on"
    victims = case.identify_victims(["r-1", "r-2"], date(2020, 3, 12), True, "officer", NOW)
    assert [v.referral_id for v in victims] == ["r-1", "r-2"]
    assert not hasattr(victims[0], "full_name")


# -- hotspots -------------------------------------------------------------------------------------------------

def new_hotspot(**overrides) -> Hotspot:
    details = dict(kind="public_place", found_by="tip", tip_id="tip-1", description="Ven hồ Tuổi Trẻ",
                   detected_on=date(2020, 4, 1), commune_code="03646", district_code="116", province_code="14")
    details.update(overrides)
    return Hotspot.detect("h-1", by="officer", at=NOW, **details)


def test_a_hotspot_is_eliminated_then_may_recur_and_be_eliminated_again():
    hotspot = new_hotspot()
    hotspot.eliminate(date(2020, 5, 1), "Triệt xóa", "officer", NOW)
    assert (hotspot.status, hotspot.eliminated_on) == ("eliminated", date(2020, 5, 1))
    with pytest.raises(Conflict):
        hotspot.eliminate(date(2020, 5, 2), "lại", "officer", NOW)
    hotspot.recur(date(2020, 7, 1), None, "officer", NOW)
    assert hotspot.status == "recurred"
    hotspot.eliminate(date(2020, 8, 1), "Truy quét lần 2", "officer", NOW)
    assert [c.status for c in hotspot.history] == ["active", "eliminated", "recurred", "eliminated"]


def test_an_active_hotspot_cannot_recur_and_dates_keep_their_order():
    hotspot = new_hotspot()
    with pytest.raises(Conflict):
        hotspot.recur(date(2020, 5, 1), None, "officer", NOW)
    with pytest.raises(InvalidChange) as exc:
        hotspot.eliminate(date(2020, 3, 1), "Triệt xóa", "officer", NOW)
    assert exc.value.field == "on"


def test_a_hotspot_names_what_found_it():
    with pytest.raises(InvalidChange) as exc:
        new_hotspot(tip_id=None)
    assert exc.value.field == "tip_id"
    with pytest.raises(InvalidChange) as exc:
        new_hotspot(establishment_id="e-1")
    assert exc.value.field == "establishment_id"
