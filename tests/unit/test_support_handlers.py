"""The support service's business actions with an in-memory unit of work, and the identity vault:
encryption at rest, key rotation, keyed hashes, access and audit, what events may say."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet

from chassis.auth import ADMIN, CULTURE_INSPECTOR, POLICE, REPORTING_CONSUMER, SOCIAL_WORKER, Forbidden, Principal
from chassis.config import ConfigError
from contracts.events import cases as case_events
from contracts.events import inspection as inspection_events
from contracts.events import support as events
from services.support import handlers
from services.support.domain import (
    Conflict, Identity, IdentityUnreadable, NotFound, Person, Referral, SupportCase, local_date,
)
from services.support.vault import DEV_ENCRYPTION_KEY, DEV_MATCH_KEY, Vault

SON_LA = ("14",)
NAME = "Sùng Thị Mỷ"
CITY = Principal("sw-116", frozenset({SOCIAL_WORKER}), district="116")  # Thành phố Sơn La
QUYNH_NHAI = Principal("sw-118", frozenset({SOCIAL_WORKER}), district="118")
ADMIN_USER = Principal("admin-1", frozenset({ADMIN}))
TODAY = local_date(handlers.now())
PERSON_FIELDS = {"person_ref", "district_code", "age_band", "sex"}


class FakePersons:
    def __init__(self):
        self.rows: dict[str, Person] = {}

    def add(self, person):
        self.rows[person.id] = person

    def get(self, person_id):
        try:
            return self.rows[str(person_id)]
        except KeyError:
            raise NotFound(f"no person {person_id}") from None

    def matching(self, digests, other_than=None):
        return [(p, k.kind) for p in self.rows.values() for k in p.match_keys
                if k.digest in digests and p.status == "active" and p.id != other_than]

    def with_identity(self):
        return [p for p in self.rows.values() if p.sealed_identity]


class FakeReferrals:
    def __init__(self):
        self.rows: dict[str, Referral] = {}

    def add(self, referral):
        self.rows[referral.id] = referral

    def find(self, referral_id):
        return self.rows.get(str(referral_id))

    def get(self, referral_id):
        found = self.find(referral_id)
        if found is None:
            raise NotFound("no referral")
        return found


class FakeCases:
    def __init__(self):
        self.rows: dict[str, SupportCase] = {}

    def add(self, case):
        self.rows[case.id] = case

    def get(self, case_id):
        try:
            return self.rows[str(case_id)]
        except KeyError:
            raise NotFound("no case") from None

    def open_for(self, person_id):
        return next((c for c in self.rows.values() if c.person_id == person_id and c.status == "open"), None)

    def of_person(self, person_id):
        return [c for c in self.rows.values() if c.person_id == person_id]


class FakeUnitOfWork:
    """One shared store; each `with` is a transaction that commits or is dropped."""

    def __init__(self, vault: Vault | None = None):
        self.vault = vault or Vault([Fernet.generate_key().decode()], "match-key-for-tests-0123456789abcdef")
        self.persons, self.referrals, self.cases = FakePersons(), FakeReferrals(), FakeCases()
        self.audit = SimpleNamespace(entries=[], append=lambda e: self.audit.entries.append(e))
        self.sealed_texts = SimpleNamespace(reseal=lambda reseal: 0)  # tested through the API
        self.published: list[tuple] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def publish(self, event_type, subject, data):
        event_type.schema().load(json.loads(json.dumps(event_type.schema().dump(data))))  # honours the contract
        self.published.append((event_type, subject, data))

    def commit(self):
        pass


def details(**overrides) -> dict:
    return {"full_name": NAME, "birth_year": 2000, "sex": "female", "ethnicity": "H'Mông", "commune_code": "03646",
            "id_number": "014300001234", "phone": "0987654321", "first_contact_on": TODAY, **overrides}


def consented(uow, actor=CITY, services=("legal_aid", "health_care", "vocational_training"), share=("reporting",)):
    person = handlers.register_person(uow, actor, details(), SON_LA)
    handlers.record_consent(uow, actor, person.id, {"given_on": TODAY, "services": list(services),
                                                    "share_with": list(share)})
    return person


def walk_in(uow, actor=CITY):
    return handlers.receive_referral(uow, actor, {"source": "walk_in"}, SON_LA)


# --- the vault --------------------------------------------------------------------------------
def test_an_identity_is_stored_encrypted_and_opens_again():
    uow = FakeUnitOfWork()
    person = handlers.register_person(uow, CITY, details(), SON_LA)
    assert NAME not in person.sealed_identity and "0987654321" not in person.sealed_identity
    assert uow.vault.open(person.sealed_identity).full_name == NAME
    assert person.district_code == "116" and person.age_band == handlers.person_facts(uow, person, TODAY)["age_band"]


def test_key_rotation_re_encrypts_with_the_newest_key_so_the_old_key_can_go():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    uow = FakeUnitOfWork(Vault([old], "match-key-one-0123456789abcdef0123"))
    person = handlers.register_person(uow, CITY, details(), SON_LA)
    digests = [k.digest for k in person.match_keys]
    uow.vault = Vault([new, old], "match-key-two-0123456789abcdef0123")  # new key in front, new match key too
    assert not uow.vault.sealed_with_newest(person.sealed_identity)
    assert handlers.rotate_keys(uow)["rekeyed"] == 1
    assert uow.vault.sealed_with_newest(person.sealed_identity)
    assert [k.digest for k in person.match_keys] != digests  # the duplicate check follows the new match key
    only_new = Vault([new], "match-key-two-0123456789abcdef0123")
    assert only_new.open(person.sealed_identity).full_name == NAME
    with pytest.raises(IdentityUnreadable) as raised:
        Vault([old], "x").open(only_new.seal(Identity.from_dict(details())))
    assert NAME not in str(raised.value)


def test_production_refuses_the_development_keys():
    with pytest.raises(ConfigError):
        Vault.from_env({"LANHMANH_ENV": "production"})
    with pytest.raises(ConfigError):
        Vault.from_env({"LANHMANH_ENV": "production", "SUPPORT_ENCRYPTION_KEYS": DEV_ENCRYPTION_KEY,
                        "SUPPORT_MATCH_KEY": "m" * 40})
    with pytest.raises(ConfigError):
        Vault.from_env({"LANHMANH_ENV": "production", "SUPPORT_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                        "SUPPORT_MATCH_KEY": DEV_MATCH_KEY})
    real = Vault.from_env({"LANHMANH_ENV": "production", "SUPPORT_MATCH_KEY": "m" * 40,
                           "SUPPORT_ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"})
    assert real.key_count == 2
    assert Vault.from_env({}).key_count == 1  # development: the marked development key
    with pytest.raises(ConfigError):
        Vault.from_env({"SUPPORT_ENCRYPTION_KEYS": "not-a-key"})


def test_the_same_person_referred_twice_is_proposed_for_a_merge_and_the_confirmation_is_recorded():
    uow = FakeUnitOfWork()
    first = consented(uow)
    again = handlers.register_person(uow, CITY, details(full_name="SÙNG THỊ  MỶ", id_number=None), SON_LA)
    other = handlers.register_person(uow, CITY, details(full_name="Giàng Thị Dợ", id_number=None), SON_LA)
    assert [(p.candidate_id, p.matched_on) for p in again.merge_proposals] == [(first.id, "name_birth_year")]
    assert other.merge_proposals == []
    handlers.record_consent(uow, CITY, again.id, {"given_on": TODAY, "services": ["legal_aid"],
                                                  "share_with": ["reporting"]})
    handlers.decide_merge(uow, CITY, again.id, again.merge_proposals[0].id, True)
    assert (again.status, again.merged_into, again.merge_proposals[0].status) == ("merged", first.id, "confirmed")
    (merged,) = [d for t, _, d in uow.published if t is events.PERSON_MERGED]
    assert merged["person_ref"] == again.person_ref and merged["merged_into_ref"] == first.person_ref


# --- access and audit -------------------------------------------------------------------------
def test_every_identity_read_is_audited_with_who_whose_and_why():
    uow = FakeUnitOfWork()
    person = handlers.register_person(uow, CITY, details(), SON_LA)
    _, identity, glass = handlers.read_identity(uow, CITY, person.id, None)
    assert identity.full_name == NAME and not glass
    handlers.read_identity(uow, ADMIN_USER, person.id, "Kiểm tra định kỳ")
    assert [(e.actor, e.person_id, e.reason, e.break_glass) for e in uow.audit.entries] == [
        ("sw-116", person.id, "case work in own district", False), ("admin-1", person.id, "Kiểm tra định kỳ", False)]


@pytest.mark.parametrize("role", [POLICE, CULTURE_INSPECTOR, REPORTING_CONSUMER])
def test_other_agencies_never_read_an_identity(role):
    uow = FakeUnitOfWork()
    person = handlers.register_person(uow, CITY, details(), SON_LA)
    with pytest.raises(Forbidden):
        handlers.read_identity(uow, Principal("x", frozenset({role})), person.id, "điều tra vụ án số 12")
    assert uow.audit.entries == []


def test_out_of_district_needs_a_stated_reason_and_is_flagged():
    uow = FakeUnitOfWork()
    person = handlers.register_person(uow, CITY, details(), SON_LA)
    with pytest.raises(Forbidden):
        handlers.read_identity(uow, QUYNH_NHAI, person.id, None)
    _, identity, glass = handlers.read_identity(uow, QUYNH_NHAI, person.id, "Người này đến xin hỗ trợ khẩn cấp")
    assert glass and identity.full_name == NAME
    assert [(e.actor, e.break_glass) for e in uow.audit.entries] == [("sw-118", True)]


def test_a_social_worker_records_people_of_their_district_only():
    with pytest.raises(Forbidden):
        handlers.register_person(FakeUnitOfWork(), QUYNH_NHAI, details(), SON_LA)


# --- consent, referrals, cases, events ----------------------------------------------------------
def test_an_accepted_referral_opens_a_case_and_a_second_one_joins_it():
    uow = FakeUnitOfWork()
    person = consented(uow)
    first = handlers.decide_referral(uow, CITY, walk_in(uow).id, {"accepted": True, "person_id": person.id})
    second = handlers.decide_referral(uow, CITY, walk_in(uow).id, {"accepted": True, "person_id": person.id})
    assert first.support_case_id and second.support_case_id == first.support_case_id
    types = [t for t, _, _ in uow.published]
    assert types.count(events.SUPPORT_CASE_OPENED) == 1 and types.count(events.REFERRAL_DECIDED) == 2


def test_accepting_without_consent_is_refused():
    uow = FakeUnitOfWork()
    person = handlers.register_person(uow, CITY, details(), SON_LA)
    with pytest.raises(Conflict):
        handlers.decide_referral(uow, CITY, walk_in(uow).id, {"accepted": True, "person_id": person.id})


def test_a_declined_referral_keeps_its_reason_and_is_published_without_a_person():
    uow = FakeUnitOfWork()
    referral = handlers.decide_referral(uow, CITY, walk_in(uow).id, {"accepted": False,
                                                                     "reason": "Không đồng ý nhận hỗ trợ"})
    assert (referral.status, referral.decision_reason) == ("declined", "Không đồng ý nhận hỗ trợ")
    decided = [d for t, _, d in uow.published if t is events.REFERRAL_DECIDED][0]
    assert decided["accepted"] is False and "reason" not in decided and "person_ref" not in decided


def test_events_carry_only_the_pseudonymous_facts_and_stop_after_a_withdrawal():
    uow = FakeUnitOfWork()
    person = consented(uow)
    case = handlers.open_case(uow, CITY, person.id, None)
    handlers.deliver_service(uow, CITY, case.id, {"service_type": "legal_aid", "delivered_on": TODAY})
    person_events = [(t, s, d) for t, s, d in uow.published if t.schema is not events.ReferralReceivedV1]
    assert person_events
    for event_type, subject, data in person_events:
        assert subject == person.person_ref
        assert PERSON_FIELDS <= set(data)
        assert not set(data) & {"full_name", "birth_year", "id_number", "phone", "commune_code", "ethnicity"}
        assert person.id not in json.dumps(data, default=str) and NAME not in json.dumps(data, default=str)
    count = len(uow.published)
    handlers.withdraw_consent(uow, CITY, person.id, None)
    with pytest.raises(Conflict):
        handlers.deliver_service(uow, CITY, case.id, {"service_type": "legal_aid", "delivered_on": TODAY})
    handlers.close_case(uow, CITY, case.id, {"outcome": "declined_further_support"})
    assert len(uow.published) == count  # nothing more is shared


def test_a_consent_without_reporting_is_recorded_but_not_published():
    uow = FakeUnitOfWork()
    person = consented(uow, share=())
    handlers.open_case(uow, CITY, person.id, None)
    assert uow.published == []


def test_a_training_publishes_its_start_and_its_completion_with_the_same_service_id():
    uow = FakeUnitOfWork()
    case = handlers.open_case(uow, CITY, consented(uow).id, None)
    case = handlers.deliver_service(uow, CITY, case.id, {
        "service_type": "vocational_training", "delivered_on": TODAY, "course": "May công nghiệp",
        "provider": "Trường Cao đẳng Sơn La", "started_on": TODAY})
    handlers.complete_service(uow, CITY, case.id, case.services[0].id, TODAY)
    delivered = [d for t, _, d in uow.published if t is events.SERVICE_DELIVERED]
    assert [(d["service_id"], d["completed"]) for d in delivered] == [(case.services[0].id, False),
                                                                       (case.services[0].id, True)]


def test_another_district_cannot_work_on_a_case():
    uow = FakeUnitOfWork()
    case = handlers.open_case(uow, CITY, consented(uow).id, None)
    with pytest.raises(Forbidden):
        handlers.add_task(uow, QUYNH_NHAI, case.id, "Thăm hỏi", TODAY)


# --- consumers ---------------------------------------------------------------------------------
def received(event_type, data: dict) -> SimpleNamespace:
    """An event as the consumer runner hands it over: JSON ``data`` and the typed ``payload``."""
    return SimpleNamespace(id=str(uuid.uuid4()), type=event_type.type, data=data,
                           payload=event_type.schema().load(data))


def inspection_referral(count=2, ids=2) -> SimpleNamespace:
    return received(inspection_events.SUPPORT_REFERRAL, {
        "referral_batch_id": str(uuid.uuid4()), "inspection_id": str(uuid.uuid4()), "commune_code": "03646",
        "district_code": "116", "referred_on": str(TODAY), "count": count,
        "referral_ids": [str(uuid.uuid4()) for _ in range(ids)]})


def test_an_inspection_referral_becomes_one_referral_per_id_and_a_replay_adds_nothing():
    uow = FakeUnitOfWork()
    event = inspection_referral(count=3, ids=2)
    handlers.receive_inspection_referral(uow, event)
    handlers.receive_inspection_referral(uow, event)
    assert len(uow.referrals.rows) == 3
    assert set(event.data["referral_ids"]) < set(uow.referrals.rows)
    assert {r.source for r in uow.referrals.rows.values()} == {"inspection"}
    assert [t for t, _, _ in uow.published] == [events.REFERRAL_RECEIVED] * 3
    assert inspection_events.SUPPORT_REFERRAL.schema().validate(event.data) == {}


def test_a_victim_referral_from_a_criminal_case_is_received_once():
    uow = FakeUnitOfWork()
    data = {"referral_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "commune_code": "03682",
            "district_code": "118", "referred_on": str(TODAY)}
    assert case_events.VICTIM_REFERRED.schema().validate(data) == {}
    for _ in range(2):
        handlers.receive_victim_referral(uow, received(case_events.VICTIM_REFERRED, data))
    (referral,) = uow.referrals.rows.values()
    assert (referral.id, referral.source, referral.source_ref, referral.district_code) == (
        data["referral_id"], "case", data["case_id"], "118")


# --- retention ----------------------------------------------------------------------------------
def test_identities_of_cases_closed_beyond_retention_are_erased_and_the_history_stays():
    uow = FakeUnitOfWork()
    person = consented(uow)
    kept = consented(uow)
    case = handlers.open_case(uow, CITY, person.id, None)
    handlers.open_case(uow, CITY, kept.id, None)
    handlers.close_case(uow, CITY, case.id, {"outcome": "reintegrated"})
    assert handlers.erase_expired_identities(uow, timedelta(days=30), TODAY + timedelta(days=10)) == 0
    assert handlers.erase_expired_identities(uow, timedelta(days=30), TODAY + timedelta(days=31)) == 1
    assert (person.sealed_identity, person.status, kept.status) == (None, "erased", "active")
    _, identity, _ = handlers.read_identity(uow, CITY, person.id, None)
    assert identity is None and person.person_ref and uow.cases.get(case.id).outcome == "reintegrated"
    assert handlers.retention_period({"SUPPORT_RETENTION_DAYS": "90"}) == timedelta(days=90)


def test_two_records_with_open_cases_are_not_merged_until_one_closes():
    uow = FakeUnitOfWork()
    first = consented(uow)
    again = consented(uow)
    handlers.open_case(uow, CITY, first.id, None)
    case = handlers.open_case(uow, CITY, again.id, None)
    proposal = again.merge_proposals[0]
    with pytest.raises(Conflict):
        handlers.decide_merge(uow, CITY, again.id, proposal.id, True)
    handlers.close_case(uow, CITY, case.id, {"outcome": "moved_away"})
    handlers.decide_merge(uow, CITY, again.id, proposal.id, True)
    assert uow.cases.get(case.id).person_id == first.id  # the history follows the person
