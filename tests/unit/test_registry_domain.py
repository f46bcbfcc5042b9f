"""The registry's pure domain: registration, updates, status transitions, reviews."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.registry import domain
from services.registry.domain import Conflict, Establishment, InvalidChange

REGISTERED_AT = datetime(2020, 3, 10, 9, 0, tzinfo=timezone.utc)
LATER = datetime(2024, 9, 1, 9, 0, tzinfo=timezone.utc)


def details(**overrides) -> dict:
    return {
        "name": "Karaoke Hoa Hồng", "business_type": "karaoke", "owner_name": "Nguyễn Văn A",
        "address": "12 Tô Hiệu", "commune_code": "03646", "district_code": "116", "province_code": "14",
        "licence_number": "GP-001", "employees": 5, "risk_level": "medium", **overrides,
    }


def registered(**overrides) -> Establishment:
    return Establishment.register("e-1", by="officer-1", at=REGISTERED_AT, **details(**overrides))


def in_status(status: str) -> Establishment:
    e = registered()
    if status != domain.ACTIVE:
        e.change_status(status, "set up for the test", REGISTERED_AT.date(), "officer-1", REGISTERED_AT)
    return e


def review(e: Establishment, period="2020S1", reviewed_on=date(2020, 6, 15), outcome="compliant",
           risk_level=None, at=LATER):
    return e.record_review(period, reviewed_on, outcome, risk_level, None, "inspector-1", at)


# --- registration -------------------------------------------------------------------------

def test_registered_establishment_is_active():
    assert registered().status == domain.ACTIVE


def test_registration_is_the_first_status_history_entry():
    e = registered()
    assert len(e.status_history) == 1
    first = e.status_history[0]
    assert (first.status, first.previous_status, first.reason) == ("active", None, "registered")
    assert (first.effective_on, first.changed_by, first.changed_at) == (date(2020, 3, 10), "officer-1", REGISTERED_AT)


def test_registration_folds_the_name_for_search():
    assert registered(name="  Karaoke   ĐÊM Hồng ").name_key == "karaoke dem hong"


def test_registration_records_who_and_when():
    e = registered()
    assert (e.registered_by, e.registered_at, e.updated_at) == ("officer-1", REGISTERED_AT, REGISTERED_AT)


@pytest.mark.parametrize("field,value", [
    ("business_type", "casino"), ("risk_level", "extreme"), ("employees", -1),
    ("name", "   "), ("owner_name", ""), ("address", None),
])
def test_registration_refuses_invalid_details(field, value):
    with pytest.raises(InvalidChange) as exc:
        registered(**{field: value})
    assert exc.value.field == field


# --- update -------------------------------------------------------------------------------

def test_update_returns_only_the_fields_that_really_changed():
    e = registered()
    changed = e.update({"name": "Karaoke Hoa Hồng", "employees": 7, "address": "99 Tô Hiệu"}, LATER)
    assert sorted(changed) == ["address", "employees"]
    assert (e.employees, e.address) == (7, "99 Tô Hiệu")


def test_update_with_identical_values_changes_nothing():
    e = registered()
    assert e.update({"name": e.name, "employees": e.employees}, LATER) == []
    assert e.updated_at == REGISTERED_AT


def test_update_stamps_the_change_time():
    e = registered()
    e.update({"employees": 9}, LATER)
    assert e.updated_at == LATER


def test_renaming_refolds_the_search_key():
    e = registered()
    e.update({"name": "Nhà nghỉ Đồi Thông"}, LATER)
    assert e.name_key == "nha nghi doi thong"


@pytest.mark.parametrize("field", ["status", "id", "registered_by", "name_key", "version"])
def test_update_refuses_fields_that_are_not_editable(field):
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        e.update({field: "x"}, LATER)
    assert exc.value.field == field
    assert getattr(e, field) != "x"


def test_update_refuses_invalid_values():
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        e.update({"risk_level": "extreme"}, LATER)
    assert exc.value.field == "risk_level"
    assert e.risk_level == "medium"


def test_closed_establishment_cannot_be_updated():
    e = in_status(domain.CLOSED)
    with pytest.raises(Conflict):
        e.update({"employees": 3}, LATER)
    assert e.employees == 5


# --- status transitions -------------------------------------------------------------------

# The business rule, written out: revoked and closed are final, except revoked -> closed.
ALLOWED = {
    ("active", "suspended"), ("active", "revoked"), ("active", "closed"),
    ("suspended", "active"), ("suspended", "revoked"), ("suspended", "closed"),
    ("revoked", "closed"),
}
PAIRS = [(a, b) for a in domain.STATUSES for b in domain.STATUSES]


@pytest.mark.parametrize("current,target", [p for p in PAIRS if p in ALLOWED])
def test_allowed_status_transition(current, target):
    e = in_status(current)
    change = e.change_status(target, "inspection finding", date(2024, 8, 1), "officer-2", LATER)
    assert (e.status, e.status_reason, e.updated_at) == (target, "inspection finding", LATER)
    assert (change.previous_status, change.status) == (current, target)
    assert e.status_history[-1] is change


@pytest.mark.parametrize("current,target", [p for p in PAIRS if p not in ALLOWED])
def test_forbidden_status_transition(current, target):
    e = in_status(current)
    history = len(e.status_history)
    with pytest.raises(Conflict) as exc:
        e.change_status(target, "inspection finding", date(2024, 8, 1), "officer-2", LATER)
    assert exc.value.field == "status"
    assert e.status == current and len(e.status_history) == history


def test_unknown_status_is_refused():
    with pytest.raises(InvalidChange) as exc:
        registered().change_status("banned", "x", date(2024, 8, 1), "officer-2", LATER)
    assert exc.value.field == "status"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_status_change_needs_a_reason(reason):
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        e.change_status("suspended", reason, date(2024, 8, 1), "officer-2", LATER)
    assert exc.value.field == "reason"
    assert e.status == "active"


def test_status_change_reason_is_trimmed():
    e = registered()
    e.change_status("suspended", "  no fire exit  ", date(2024, 8, 1), "officer-2", LATER)
    assert e.status_reason == "no fire exit"


def test_status_change_effective_in_the_future_is_refused():
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        e.change_status("suspended", "x", LATER.date() + timedelta(days=1), "officer-2", LATER)
    assert exc.value.field == "effective_on"
    assert e.status == "active"


def test_status_change_effective_today_is_accepted():
    e = registered()
    e.change_status("suspended", "x", LATER.date(), "officer-2", LATER)
    assert e.status == "suspended"


def test_status_change_effective_today_in_vietnam_is_accepted():
    # 01:00 on 1 July 2024 in Sơn La (UTC+7) is still 30 June in UTC.
    at = datetime(2024, 6, 30, 18, 0, tzinfo=timezone.utc)
    e = registered()
    e.change_status("suspended", "night inspection", date(2024, 7, 1), "officer-2", at)
    assert e.status == "suspended"


# --- reviews ------------------------------------------------------------------------------

@pytest.mark.parametrize("period,reviewed_on", [("2020S1", date(2020, 6, 15)), ("2020S2", date(2020, 12, 1)),
                                                ("2020", date(2020, 12, 20))])
def test_review_of_a_half_year_or_year_is_recorded(period, reviewed_on):
    e = registered()
    recorded = review(e, period=period, reviewed_on=reviewed_on)
    assert e.reviews == [recorded]
    assert (recorded.period, recorded.reviewed_on, recorded.reviewed_by) == (period, reviewed_on, "inspector-1")


@pytest.mark.parametrize("period", ["2020Q2", "202006", "2020S3", "S1", ""])
def test_review_period_must_be_a_half_year_or_a_year(period):
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        review(e, period=period)
    assert exc.value.field == "period"
    assert e.reviews == []


def test_review_outcome_is_validated():
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        review(e, outcome="fine")
    assert exc.value.field == "outcome"
    assert e.reviews == []


@pytest.mark.parametrize("outcome", domain.REVIEW_OUTCOMES)
def test_every_review_outcome_is_accepted(outcome):
    assert review(registered(), outcome=outcome).outcome == outcome


def test_second_review_of_the_same_period_is_a_conflict():
    e = registered()
    review(e)
    with pytest.raises(Conflict) as exc:
        review(e, reviewed_on=date(2020, 6, 20))
    assert exc.value.field == "period"
    assert len(e.reviews) == 1


def test_review_dated_before_its_period_is_refused():
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        review(e, period="2020S2", reviewed_on=date(2020, 6, 30))
    assert exc.value.field == "reviewed_on"


def test_review_dated_after_its_period_is_accepted():
    assert review(registered(), period="2020S1", reviewed_on=date(2020, 8, 3)).reviewed_on == date(2020, 8, 3)


def test_review_dated_in_the_future_is_refused():
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        review(e, period="2024S2", reviewed_on=LATER.date() + timedelta(days=1))
    assert exc.value.field == "reviewed_on"


def test_review_dated_today_in_vietnam_is_accepted():
    # 06:30 on 1 July 2024 in Sơn La (UTC+7) is still 30 June in UTC.
    at = datetime(2024, 6, 30, 23, 30, tzinfo=timezone.utc)
    e = registered()
    recorded = review(e, period="2024S1", reviewed_on=date(2024, 7, 1), at=at)
    assert recorded.reviewed_on == date(2024, 7, 1)


@pytest.mark.parametrize("status", [domain.REVOKED, domain.CLOSED])
def test_revoked_or_closed_establishment_is_not_reviewed(status):
    e = in_status(status)
    with pytest.raises(Conflict) as exc:
        review(e)
    assert exc.value.field == "status"
    assert e.reviews == []


def test_suspended_establishment_is_still_reviewed():
    e = in_status(domain.SUSPENDED)
    review(e)
    assert len(e.reviews) == 1


def test_review_sets_the_risk_level():
    e = registered()
    review(e, risk_level="high")
    assert e.risk_level == "high"
    assert e.updated_at == LATER


def test_review_without_risk_level_keeps_the_current_one():
    e = registered(risk_level="low")
    assert review(e).risk_level == "low"
    assert e.risk_level == "low"


def test_review_with_unknown_risk_level_is_refused():
    e = registered()
    with pytest.raises(InvalidChange) as exc:
        review(e, risk_level="extreme")
    assert exc.value.field == "risk_level"
    assert e.risk_level == "medium" and e.reviews == []


# --- due for review -----------------------------------------------------------------------

def test_active_establishment_without_review_is_due():
    assert registered().is_due_for_review("2020S1")


def test_establishment_is_not_due_once_reviewed():
    e = registered()
    review(e)
    assert not e.is_due_for_review("2020S1")
    assert e.is_due_for_review("2020S2")


def test_establishment_registered_after_the_period_is_not_due():
    assert not registered().is_due_for_review("2019S2")


def test_establishment_registered_on_the_last_day_of_the_period_is_due():
    e = Establishment.register("e-2", by="o", at=datetime(2020, 6, 30, 8, 0, tzinfo=timezone.utc), **details())
    assert e.is_due_for_review("2020S1")


def test_suspended_establishment_is_due():
    assert in_status(domain.SUSPENDED).is_due_for_review("2020S1")


@pytest.mark.parametrize("status", [domain.REVOKED, domain.CLOSED])
def test_revoked_or_closed_establishment_is_not_due(status):
    assert not in_status(status).is_due_for_review("2020S1")


def test_a_yearly_review_does_not_count_for_the_half_year():
    e = registered()
    review(e, period="2020", reviewed_on=date(2020, 12, 1))
    assert not e.is_due_for_review("2020")
    assert e.is_due_for_review("2020S2")
