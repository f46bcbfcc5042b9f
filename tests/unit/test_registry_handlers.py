"""The registry's business actions, run against an in-memory repository and unit of work."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from chassis.auth import POLICE, Forbidden, Principal
from contracts.events import registry as events
from services.registry import handlers
from services.registry.domain import Conflict, Establishment, InvalidChange, NotFound

SON_LA = ("14",)
OFFICER = Principal("officer-1", frozenset({POLICE}))
CITY_OFFICER = Principal("officer-116", frozenset({POLICE}), district="116")  # Thành phố Sơn La only
CHIENG_LE = "03646"        # Phường Chiềng Lề, district 116 (Thành phố Sơn La)
TO_HIEU = "03649"          # Phường Tô Hiệu, district 116
MUONG_CHIEN = "03682"      # Xã Mường Chiên, district 118 (Quỳnh Nhai)
PHUC_XA_HANOI = "00001"    # Phường Phúc Xá, Hà Nội (province 01)


class FakeRepository:
    def __init__(self):
        self.rows: dict[str, Establishment] = {}

    def add(self, establishment: Establishment) -> None:
        self.rows[establishment.id] = establishment

    def get(self, establishment_id: str) -> Establishment:
        try:
            return self.rows[str(establishment_id)]
        except KeyError:
            raise NotFound(f"no establishment {establishment_id}") from None

    def licence_taken(self, licence_number: str, other_than: str | None = None) -> bool:
        return any(e.licence_number == licence_number and e.id != other_than for e in self.rows.values())


class FakeUnitOfWork:
    def __init__(self, repository: FakeRepository | None = None):
        self.establishments = repository or FakeRepository()
        self.published: list[tuple] = []
        self.committed = False
        self.rolled_back = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.rollback()

    def publish(self, event_type, subject, data: dict) -> None:
        self.published.append((event_type, subject, data))

    def commit(self) -> None:
        self.committed = True

    def rollback(self) -> None:
        self.rolled_back = True


def details(**overrides) -> dict:
    return {"name": "Karaoke Hoa Hồng", "business_type": "karaoke", "owner_name": "Nguyễn Văn A",
            "address": "12 Tô Hiệu", "commune_code": CHIENG_LE, "licence_number": "GP-001", "employees": 5,
            "risk_level": "medium", **overrides}


def register(uow=None, actor=OFFICER, **overrides) -> tuple[FakeUnitOfWork, Establishment]:
    uow = uow or FakeUnitOfWork()
    return uow, handlers.register_establishment(uow, actor, details(**overrides), SON_LA)


@pytest.fixture
def existing() -> tuple[FakeUnitOfWork, Establishment]:
    """A fresh unit of work over a repository that already holds one registered establishment."""
    _, establishment = register()
    repository = FakeRepository()
    repository.add(establishment)
    return FakeUnitOfWork(repository), establishment


def no_check(establishment):
    return None


def update(uow, establishment_id, changes, actor=OFFICER, precondition=no_check):
    return handlers.update_establishment(uow, actor, establishment_id, changes, SON_LA, precondition)


def assert_meets_contract(event_type, data):
    schema = event_type.schema()
    assert schema.validate(schema.dump(data)) == {}


def assert_nothing_happened(uow: FakeUnitOfWork):
    assert uow.committed is False
    assert uow.published == []


# --- register -----------------------------------------------------------------------------

def test_registering_commits_and_stores_the_establishment():
    uow, e = register()
    assert uow.committed
    assert uow.establishments.get(e.id) is e
    assert (e.status, e.registered_by) == ("active", "officer-1")


def test_registering_publishes_exactly_one_registered_event():
    uow, e = register()
    assert [(t.name, s) for t, s, _ in uow.published] == [("registry.establishment.registered", e.id)]


def test_registered_event_does_not_carry_the_owner_name():
    uow, _ = register()
    (_, _, data), = uow.published
    assert "owner_name" not in data
    assert "Nguyễn Văn A" not in repr(data)


def test_registered_event_locates_the_commune_in_its_district_and_province():
    uow, e = register(commune_code=CHIENG_LE)
    (_, _, data), = uow.published
    assert (data["commune_code"], data["district_code"], data["province_code"]) == ("03646", "116", "14")
    assert (e.district_code, e.province_code) == ("116", "14")


def test_registered_event_meets_its_contract():
    uow, _ = register()
    (event_type, _, data), = uow.published
    assert event_type is events.ESTABLISHMENT_REGISTERED
    assert_meets_contract(event_type, data)


def test_registration_ignores_a_district_sent_by_the_caller():
    uow, e = register(district_code="999", province_code="99")
    assert (e.district_code, e.province_code) == ("116", "14")


def test_unknown_commune_code_is_refused():
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidChange) as exc:
        register(uow, commune_code="99999")
    assert exc.value.field == "commune_code"
    assert_nothing_happened(uow)


def test_commune_outside_the_served_provinces_is_refused():
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidChange) as exc:
        register(uow, commune_code=PHUC_XA_HANOI)
    assert exc.value.field == "commune_code"
    assert_nothing_happened(uow)
    assert uow.establishments.rows == {}


def test_district_officer_cannot_register_in_another_district():
    uow = FakeUnitOfWork()
    with pytest.raises(Forbidden):
        register(uow, actor=CITY_OFFICER, commune_code=MUONG_CHIEN)
    assert_nothing_happened(uow)
    assert uow.establishments.rows == {}


def test_district_officer_registers_in_their_own_district():
    uow, e = register(actor=CITY_OFFICER, commune_code=TO_HIEU)
    assert uow.committed and e.district_code == "116"


def test_duplicate_licence_number_is_a_conflict(existing):
    uow, _ = existing
    with pytest.raises(Conflict) as exc:
        register(uow, name="Another place", licence_number="GP-001")
    assert exc.value.field == "licence_number"
    assert_nothing_happened(uow)
    assert len(uow.establishments.rows) == 1


def test_establishments_without_licence_numbers_do_not_conflict(existing):
    uow, _ = existing
    register(uow, licence_number=None)
    _, second = register(uow, licence_number=None)
    assert uow.committed and second.licence_number is None


def test_invalid_details_are_refused_before_anything_is_published():
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidChange) as exc:
        register(uow, business_type="casino")
    assert exc.value.field == "business_type"
    assert_nothing_happened(uow)


# --- update -------------------------------------------------------------------------------

def test_update_publishes_the_changed_fields_only(existing):
    uow, e = existing
    update(uow, e.id, {"name": e.name, "employees": 12, "address": "99 Tô Hiệu"})
    (event_type, subject, data), = uow.published
    assert (event_type, subject) == (events.ESTABLISHMENT_UPDATED, e.id)
    assert sorted(data["changed"]) == ["address", "employees"]
    assert data["employees"] == 12 and "owner_name" not in data
    assert uow.committed


def test_updated_event_meets_its_contract(existing):
    uow, e = existing
    update(uow, e.id, {"risk_level": "high"})
    (event_type, _, data), = uow.published
    assert_meets_contract(event_type, data)


def test_update_that_changes_nothing_publishes_nothing(existing):
    uow, e = existing
    update(uow, e.id, {"name": e.name, "employees": e.employees})
    assert uow.published == []


def test_moving_to_another_commune_relocates_the_establishment(existing):
    uow, e = existing
    update(uow, e.id, {"commune_code": MUONG_CHIEN})
    (_, _, data), = uow.published
    assert (data["commune_code"], data["district_code"]) == (MUONG_CHIEN, "118")
    assert "commune_code" in data["changed"]


def test_update_to_an_unknown_commune_is_refused(existing):
    uow, e = existing
    with pytest.raises(InvalidChange) as exc:
        update(uow, e.id, {"commune_code": "99999"})
    assert exc.value.field == "commune_code"
    assert_nothing_happened(uow)
    assert e.commune_code == CHIENG_LE


def test_district_officer_cannot_move_an_establishment_out_of_their_district(existing):
    uow, e = existing
    with pytest.raises(Forbidden):
        update(uow, e.id, {"commune_code": MUONG_CHIEN}, actor=CITY_OFFICER)
    assert_nothing_happened(uow)
    assert e.district_code == "116"


def test_district_officer_cannot_update_another_districts_establishment(existing):
    uow, e = existing
    other = Principal("officer-118", frozenset({POLICE}), district="118")
    with pytest.raises(Forbidden):
        update(uow, e.id, {"employees": 1}, actor=other)
    assert_nothing_happened(uow)
    assert e.employees == 5


def test_update_to_a_licence_held_by_another_establishment_is_a_conflict(existing):
    uow, e = existing
    _, other = register(uow, name="Other", licence_number="GP-002")
    uow.committed, uow.published = False, []
    with pytest.raises(Conflict) as exc:
        update(uow, other.id, {"licence_number": "GP-001"})
    assert exc.value.field == "licence_number"
    assert_nothing_happened(uow)
    assert other.licence_number == "GP-002"


def test_keeping_its_own_licence_number_is_not_a_conflict(existing):
    uow, e = existing
    update(uow, e.id, {"licence_number": "GP-001", "employees": 6})
    assert uow.committed


def test_precondition_is_checked_before_any_change(existing):
    uow, e = existing
    seen = []

    class Stale(Exception):
        pass

    def precondition(establishment):
        seen.append((establishment, establishment.name))
        raise Stale("the establishment changed since you read it")

    with pytest.raises(Stale):
        update(uow, e.id, {"name": "Renamed"}, precondition=precondition)
    assert seen == [(e, "Karaoke Hoa Hồng")]
    assert e.name == "Karaoke Hoa Hồng"
    assert_nothing_happened(uow)


def test_update_of_an_unknown_establishment_is_not_found(existing):
    uow, _ = existing
    with pytest.raises(NotFound):
        update(uow, "no-such-id", {"employees": 1})
    assert_nothing_happened(uow)


def test_update_of_a_closed_establishment_is_a_conflict(existing):
    uow, e = existing
    handlers.change_status(uow, OFFICER, e.id, "closed", "closed down", None)
    uow.committed, uow.published = False, []
    with pytest.raises(Conflict):
        update(uow, e.id, {"employees": 1})
    assert_nothing_happened(uow)


# --- status -------------------------------------------------------------------------------

def test_status_change_publishes_status_changed_with_previous_status(existing):
    uow, e = existing
    handlers.change_status(uow, OFFICER, e.id, "suspended", "no fire exit", None)
    (event_type, subject, data), = uow.published
    assert (event_type, subject) == (events.ESTABLISHMENT_STATUS_CHANGED, e.id)
    assert (data["previous_status"], data["status"], data["reason"]) == ("active", "suspended", "no fire exit")
    assert (data["commune_code"], data["district_code"]) == (CHIENG_LE, "116")
    assert e.status == "suspended" and uow.committed


def test_status_changed_event_meets_its_contract(existing):
    uow, e = existing
    handlers.change_status(uow, OFFICER, e.id, "revoked", "licence withdrawn", None)
    (event_type, _, data), = uow.published
    assert_meets_contract(event_type, data)


def test_status_change_without_a_date_takes_effect_today(existing):
    uow, e = existing
    handlers.change_status(uow, OFFICER, e.id, "suspended", "x", None)
    (_, _, data), = uow.published
    assert data["effective_on"] == e.status_history[-1].effective_on
    assert abs(data["effective_on"] - datetime.now(timezone.utc).date()) <= timedelta(days=1)


def test_status_change_keeps_a_past_effective_date(existing):
    uow, e = existing
    handlers.change_status(uow, OFFICER, e.id, "suspended", "x", date(2024, 1, 15))
    (_, _, data), = uow.published
    assert data["effective_on"] == date(2024, 1, 15)


def test_forbidden_transition_publishes_nothing(existing):
    uow, e = existing
    handlers.change_status(uow, OFFICER, e.id, "revoked", "x", None)
    uow.committed, uow.published = False, []
    with pytest.raises(Conflict):
        handlers.change_status(uow, OFFICER, e.id, "active", "appeal", None)
    assert_nothing_happened(uow)
    assert e.status == "revoked"


def test_district_officer_cannot_change_status_in_another_district(existing):
    uow, e = existing
    other = Principal("officer-118", frozenset({POLICE}), district="118")
    with pytest.raises(Forbidden):
        handlers.change_status(uow, other, e.id, "suspended", "x", None)
    assert_nothing_happened(uow)
    assert e.status == "active"


# --- reviews ------------------------------------------------------------------------------

def last_half_year() -> tuple[str, date]:
    """A half-year that has started, with a review date inside it that is not in the future."""
    today = datetime.now(timezone.utc).date() - timedelta(days=1)
    return f"{today.year}S{1 if today.month <= 6 else 2}", today


def test_review_publishes_reviewed(existing):
    uow, e = existing
    period, day = last_half_year()
    handlers.record_review(uow, OFFICER, e.id, {"period": period, "reviewed_on": day, "outcome": "issues_found",
                                                "risk_level": "high"})
    (event_type, subject, data), = uow.published
    assert (event_type, subject) == (events.ESTABLISHMENT_REVIEWED, e.id)
    assert (data["period"], data["reviewed_on"], data["outcome"], data["risk_level"]) == (
        period, day, "issues_found", "high")
    assert_meets_contract(event_type, data)
    assert e.risk_level == "high" and uow.committed


def test_second_review_of_a_period_publishes_nothing(existing):
    uow, e = existing
    period, day = last_half_year()
    review = {"period": period, "reviewed_on": day, "outcome": "compliant"}
    handlers.record_review(uow, OFFICER, e.id, review)
    uow.committed, uow.published = False, []
    with pytest.raises(Conflict):
        handlers.record_review(uow, OFFICER, e.id, review)
    assert_nothing_happened(uow)
    assert len(e.reviews) == 1


def test_invalid_review_publishes_nothing(existing):
    uow, e = existing
    with pytest.raises(InvalidChange) as exc:
        handlers.record_review(uow, OFFICER, e.id, {"period": "2020Q1", "reviewed_on": date(2020, 2, 1),
                                                    "outcome": "compliant"})
    assert exc.value.field == "period"
    assert_nothing_happened(uow)
    assert e.reviews == []


def test_review_of_an_unknown_establishment_is_not_found(existing):
    uow, _ = existing
    with pytest.raises(NotFound):
        handlers.record_review(uow, OFFICER, "nope", {"period": "2020S1", "reviewed_on": date(2020, 6, 1),
                                                      "outcome": "compliant"})
    assert_nothing_happened(uow)
