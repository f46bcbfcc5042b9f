"""The support service's rules, on plain objects: identity checks that never echo a value, consent,
referrals, support cases, retention."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from contracts.events import support as contract
from services.support import domain
from services.support.domain import Conflict, Identity, InvalidChange, Person, Referral, SupportCase

AT = datetime(2020, 12, 1, 3, 0, tzinfo=timezone.utc)
NAME = "Lò Thị Xuân"


def identity(**overrides) -> Identity:
    return Identity(**{"full_name": NAME, "birth_year": 1998, "ethnicity": "Thái", "commune_code": "03646",
                       "id_number": "014198000123", "phone": "0912345678", **overrides})


def person(consent: bool = True, **overrides) -> Person:
    p = Person.first_contact(sealed="token", digests=[("name_birth_year", "d1")], district_code="116", sex="female",
                             age_band="18_24", first_contact_on=date(2020, 3, 1), by="sw", at=AT, **overrides)
    if consent:
        p.give_consent(date(2020, 3, 2), ["legal_aid", "health_care", "vocational_training"], ["reporting"], "sw", AT)
    return p


def case(p: Person | None = None) -> SupportCase:
    return SupportCase.open(p or person(), date(2020, 3, 5), "sw", AT)


@pytest.mark.parametrize("field,value", [
    ("full_name", "   "), ("birth_year", 1900), ("birth_year", 2021), ("ethnicity", ""), ("commune_code", "3646"),
    ("id_number", "12345"), ("phone", "09-abc"),
])
def test_an_invalid_identity_names_the_field_never_the_value(field, value):
    with pytest.raises(InvalidChange) as raised:
        identity(**{field: value}).check(date(2020, 12, 1))
    assert raised.value.field == field
    assert NAME not in str(raised.value)
    if str(value).strip():
        assert str(value) not in str(raised.value)


def test_an_identity_does_not_print_itself():
    assert NAME not in repr(identity()) and NAME not in str(identity())


def test_the_duplicate_check_compares_the_folded_name_with_the_birth_year_and_the_id_number():
    assert identity(full_name="  LÒ   thị xuân ").normalised().match_texts()[0] == identity().match_texts()[0]
    assert dict(identity().match_texts())["id_number"] == "014198000123"
    assert [k for k, _ in identity(id_number=None).match_texts()] == ["name_birth_year"]


@pytest.mark.parametrize("age,band", [(15, "under_18"), (18, "18_24"), (24, "18_24"), (25, "25_34"), (40, "35_44"),
                                      (45, "45_plus"), (None, "unknown")])
def test_age_bands_are_the_contract_s(age, band):
    assert domain.age_band(age) == band
    assert band in contract.AGE_BANDS


def test_without_consent_nothing_beyond_the_first_contact_is_recorded():
    p = person(consent=False)
    with pytest.raises(Conflict):
        SupportCase.open(p, date(2020, 3, 5), "sw", AT)
    assert not p.may_share


def test_a_withdrawal_stops_sharing_and_further_services_but_the_case_can_close():
    p = person()
    c = case(p)
    p.withdraw_consent(date(2020, 6, 1), AT)
    assert not p.may_share
    with pytest.raises(Conflict):
        c.deliver(p, {"service_type": "legal_aid", "delivered_on": date(2020, 6, 2)}, "sw", AT)
    c.close("declined_further_support", date(2020, 6, 2), None, "sw", AT)
    assert c.status == domain.CLOSED


def test_a_new_consent_supersedes_the_previous_one():
    p = person()
    p.give_consent(date(2020, 4, 1), ["job_placement"], [], "sw", AT)
    assert [c.ended_because for c in p.consents] == ["superseded", None]
    assert not p.may_share  # the new consent does not allow reporting


def test_a_service_outside_the_consent_is_refused():
    p = person()
    with pytest.raises(Conflict) as raised:
        case(p).deliver(p, {"service_type": "job_placement", "delivered_on": date(2020, 4, 1), "employer": "X",
                            "started_on": date(2020, 4, 1)}, "sw", AT)
    assert raised.value.field == "service_type"


@pytest.mark.parametrize("details,missing", [
    ({"service_type": "vocational_training", "course": "May"}, "provider"),
    ({"service_type": "health_care"}, "health_kind"),
])
def test_services_need_their_details(details, missing):
    p = person()
    with pytest.raises(InvalidChange) as raised:
        case(p).deliver(p, {**details, "delivered_on": date(2020, 4, 1)}, "sw", AT)
    assert raised.value.field == missing


def test_a_training_is_completed_later_and_only_once():
    p = person()
    c = case(p)
    training = c.deliver(p, {"service_type": "vocational_training", "delivered_on": date(2020, 4, 1),
                             "course": "May công nghiệp", "provider": "Trường nghề", "started_on": date(2020, 4, 1)},
                         "sw", AT)
    assert not training.completed
    c.complete(p, training.id, date(2020, 7, 1), AT)
    assert training.completed
    with pytest.raises(Conflict):
        c.complete(p, training.id, date(2020, 7, 2), AT)


def test_tasks_are_overdue_when_open_and_past_due():
    p = person()
    task = case(p).add_task(p, "Thăm hỏi", date(2020, 5, 1), "sw", AT)
    assert task.is_overdue(date(2020, 5, 2)) and not task.is_overdue(date(2020, 5, 1))


def test_a_closed_case_takes_nothing_more_and_needs_a_known_outcome():
    p = person()
    c = case(p)
    with pytest.raises(InvalidChange):
        c.close("cured", date(2020, 6, 1), None, "sw", AT)
    c.close("reintegrated", date(2020, 6, 1), None, "sw", AT)
    with pytest.raises(Conflict):
        c.add_task(p, "x", date(2020, 7, 1), "sw", AT)


def test_a_referral_is_decided_once_and_a_decline_needs_a_reason():
    r = Referral.receive("r1", "inspection", "116", date(2020, 3, 1), AT)
    with pytest.raises(InvalidChange):
        r.decline("  ", date(2020, 3, 2), "sw", AT)
    r.decline("Đã chuyển đi nơi khác", date(2020, 3, 2), "sw", AT)
    with pytest.raises(Conflict):
        r.decline("again", date(2020, 3, 3), "sw", AT)
    with pytest.raises(InvalidChange):
        Referral.receive("r2", "ngo", "116", date(2020, 3, 1), AT)  # an NGO referral names the NGO


def test_a_merge_is_recorded_and_the_merged_record_takes_no_more_consent():
    p, dup = person(), person(consent=False)
    proposal = dup.propose_merge(p, "name_birth_year", AT)
    dup.decide_merge(proposal.id, True, p, "sw", AT)
    assert (dup.status, dup.merged_into, proposal.status, proposal.decided_by) == ("merged", p.id, "confirmed", "sw")
    with pytest.raises(Conflict):
        dup.give_consent(date(2020, 4, 1), ["legal_aid"], [], "sw", AT)


def test_retention_counts_from_the_last_closed_case():
    p = person()
    c = case(p)
    assert not domain.retention_expired([c], timedelta(days=30), date(2021, 1, 1))
    c.close("moved_away", date(2020, 6, 1), None, "sw", AT)
    assert domain.retention_expired([c], timedelta(days=30), date(2020, 7, 2))
    assert not domain.retention_expired([c], timedelta(days=30), date(2020, 6, 20))
    p.erase(AT)
    assert (p.sealed_identity, p.match_keys, p.status, p.person_ref) == (None, [], "erased", p.person_ref)
