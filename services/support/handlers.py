"""The support service's business actions. Each runs in one unit of work: the change, its audit
entry and its events commit together or not at all.

Identities are sealed and opened through ``uow.vault`` only; every opening for a user writes an
audit entry in the same transaction. Events carry a person's random ``person_ref``, district, age
band and sex, never more, and only while the person's consent allows reporting.

Consumed events (see bootstrap.py): inspection's SUPPORT_REFERRAL and cases' VICTIM_REFERRED.
"""
from __future__ import annotations

import logging
import os
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from chassis.auth import ADMIN, SOCIAL_WORKER, Forbidden, Principal
from chassis.consumer import PoisonEvent
from contracts.events import support as events
from contracts.refdata import NotServed, units
from services.support.domain import (
    AuditEntry, Conflict, Identity, InvalidChange, Person, Referral, SupportCase, SupportError, local_date,
    retention_expired,
)
from services.support.repository import SupportUnitOfWork

log = logging.getLogger(__name__)
IDENTITY_READERS = (ADMIN, SOCIAL_WORKER)
DEFAULT_RETENTION_DAYS = 5 * 365
MIN_BREAK_GLASS_REASON = 10


def now() -> datetime:
    return datetime.now(timezone.utc)


def district_of(commune_code: str, provinces: tuple[str, ...]) -> str:
    """The district of a home commune; the message never repeats the code (it is part of an identity)."""
    try:
        return units().locate(commune_code, provinces)["district_code"]
    except NotServed:
        raise InvalidChange("commune_code is not a commune of the provinces this system serves",
                            field="commune_code") from None


def check_district(district_code: str, provinces: tuple[str, ...]) -> str:
    if units().province_of_district(district_code) not in provinces:
        raise InvalidChange("district_code is not a district of the provinces this system serves",
                            field="district_code")
    return district_code


def identity_access(actor: Principal, district_code: str, reason: str | None) -> bool:
    """May ``actor`` see the identity of a person of ``district_code``? Returns whether it breaks the glass."""
    if not actor.has_any(*IDENTITY_READERS):
        raise Forbidden("identities are shown to social workers and administrators only")
    if actor.may_access_district(district_code):
        return False
    if len((reason or "").strip()) < MIN_BREAK_GLASS_REASON:
        raise Forbidden("this person is outside your district: state a reason (at least "
                        f"{MIN_BREAK_GLASS_REASON} characters) to break the glass; the access is flagged")
    return True


def _audit(uow: SupportUnitOfWork, actor: Principal, person: Person, action: str, reason: str | None,
           break_glass: bool) -> None:
    uow.audit.append(AuditEntry(now(), actor.sub, ",".join(sorted(actor.roles)), actor.district, person.id, action,
                                (reason or "").strip() or ("case work in own district" if actor.district
                                                           else "not stated"), break_glass))


def person_facts(uow: SupportUnitOfWork, person: Person, on: date) -> dict:
    """What an event may say of a person: the pseudonymous ref, district, age band on ``on``, sex."""
    band = uow.vault.open(person.sealed_identity).age_band(on) if person.sealed_identity else person.age_band
    return {"person_ref": person.person_ref, "district_code": person.district_code, "age_band": band,
            "sex": person.sex}


def _share(uow: SupportUnitOfWork, person: Person, event_type, data: dict, on: date) -> None:
    """Publish a pseudonymous event, if the person's consent allows it (after a withdrawal: nothing)."""
    if person.may_share:
        uow.publish(event_type, person.person_ref, {**person_facts(uow, person, on), **data})


# --- people ----------------------------------------------------------------------------------
def register_person(uow: SupportUnitOfWork, actor: Principal, details: dict, provinces: tuple[str, ...]) -> Person:
    """First contact: the identity is sealed, and people who may be the same are proposed for a merge."""
    at = now()
    identity = Identity.from_dict(details).normalised().check(local_date(at))
    district = district_of(identity.commune_code, provinces)
    actor.require_district(district)
    first_contact_on = details.get("first_contact_on") or local_date(at)
    with uow:
        digests = uow.vault.match_digests(identity)
        person = Person.first_contact(
            sealed=uow.vault.seal(identity), digests=digests, district_code=district, sex=details["sex"],
            age_band=identity.age_band(first_contact_on), first_contact_on=first_contact_on, by=actor.sub, at=at)
        _propose_merges(uow, person, digests, at)
        uow.persons.add(person)
        uow.commit()
    return person


def _propose_merges(uow: SupportUnitOfWork, person: Person, digests: list[tuple[str, str]], at: datetime) -> None:
    """The duplicate check: people who share a keyed hash (name + birth year, or ID number)."""
    for candidate, kind in uow.persons.matching([d for _, d in digests], other_than=person.id):
        person.propose_merge(candidate, kind, at)


def read_identity(uow: SupportUnitOfWork, actor: Principal, person_id: str,
                  reason: str | None) -> tuple[Person, Identity | None, bool]:
    """Open a person's identity for a user: checked, and written to the audit log first."""
    with uow:
        person = uow.persons.get(person_id)
        break_glass = identity_access(actor, person.district_code, reason)
        _audit(uow, actor, person, "read", reason, break_glass)
        if break_glass:  # for the security team's alerts: ids and districts only, never the identity or reason
            log.warning("identity read outside the reader's district (break the glass)", extra={
                "person_id": person.id, "actor": actor.sub, "actor_district": actor.district,
                "person_district": person.district_code})
        identity = uow.vault.open(person.sealed_identity) if person.sealed_identity else None
        uow.commit()
    return person, identity, break_glass


def update_person(uow: SupportUnitOfWork, actor: Principal, person_id: str, changes: dict, reason: str | None,
                  provinces: tuple[str, ...], precondition: Callable[[Person], None]) -> tuple[Person, Identity]:
    with uow:
        person = uow.persons.get(person_id)
        actor.require_district(person.district_code)
        precondition(person)
        at = now()
        identity = uow.vault.open(person.sealed_identity) if person.sealed_identity else None
        if identity is None:
            raise InvalidChange("this person's identity was erased", field="status")
        sex = changes.pop("sex", person.sex)
        identity = identity.changed(changes).normalised().check(local_date(at))
        district = district_of(identity.commune_code, provinces)
        actor.require_district(district)
        digests = uow.vault.match_digests(identity)
        person.reseal(uow.vault.seal(identity), digests, district, at)
        person.change_sex(sex)
        _propose_merges(uow, person, digests, at)
        _audit(uow, actor, person, "update", reason, False)
        uow.commit()
    return person, identity


def record_consent(uow: SupportUnitOfWork, actor: Principal, person_id: str, consent: dict) -> Person:
    with uow:
        person = uow.persons.get(person_id)
        actor.require_district(person.district_code)
        person.give_consent(consent["given_on"], consent["services"], consent.get("share_with", []), actor.sub, now())
        uow.commit()
    return person


def withdraw_consent(uow: SupportUnitOfWork, actor: Principal, person_id: str, withdrawn_on: date | None) -> Person:
    """From now on nothing more is recorded (beyond closing) nor published about this person."""
    with uow:
        person = uow.persons.get(person_id)
        actor.require_district(person.district_code)
        at = now()
        person.withdraw_consent(withdrawn_on or local_date(at), at)
        uow.commit()
    return person


def decide_merge(uow: SupportUnitOfWork, actor: Principal, person_id: str, proposal_id: str, confirm: bool) -> Person:
    """A case worker confirms (or rejects) that two records are one person; the merge is recorded on both sides."""
    with uow:
        person = uow.persons.get(person_id)
        actor.require_district(person.district_code)
        proposal = next((p for p in person.merge_proposals if p.id == proposal_id), None)
        into = uow.persons.get(proposal.candidate_id) if proposal else person
        if confirm:
            actor.require_district(into.district_code)
            if uow.cases.open_for(person.id) and uow.cases.open_for(into.id):
                raise Conflict("both records have an open support case: close one before merging", field="confirm")
        shared, at = person.may_share and into.may_share, now()
        person.decide_merge(proposal_id, confirm, into, actor.sub, at)
        if confirm:
            for case in uow.cases.of_person(person.id):
                case.person_id = into.id
            if shared:
                uow.publish(events.PERSON_MERGED, person.person_ref, {
                    "person_ref": person.person_ref, "merged_into_ref": into.person_ref,
                    "district_code": into.district_code, "merged_on": local_date(at)})
        uow.commit()
    return person


# --- referrals -------------------------------------------------------------------------------
def _receive(uow: SupportUnitOfWork, referral: Referral) -> None:
    uow.referrals.add(referral)
    uow.publish(events.REFERRAL_RECEIVED, referral.id, {
        "referral_id": referral.id, "source": referral.source, "district_code": referral.district_code,
        "received_on": local_date(referral.received_at)})


def receive_inspection_referral(uow: SupportUnitOfWork, event) -> None:
    """Consumer: people who agreed, during an inspection, to be referred: one referral per random id."""
    data = event.payload  # typed through inspection_events.SUPPORT_REFERRAL by the consumer runner
    ids = [str(i) for i in data["referral_ids"]]
    # A count larger than the ids sent: the missing ids are derived from the batch, so a replay makes the same.
    ids += [str(uuid.uuid5(data["referral_batch_id"], str(n))) for n in range(len(ids), data["count"])]
    for referral_id in ids:
        if uow.referrals.find(referral_id) is None:
            _receive(uow, _referral(referral_id, "inspection", data, source_ref=str(data["inspection_id"]),
                                    batch_id=str(data["referral_batch_id"])))


def receive_victim_referral(uow: SupportUnitOfWork, event) -> None:
    """Consumer: a victim identified in a criminal case, by a random id."""
    data = event.payload  # typed through case_events.VICTIM_REFERRED by the consumer runner
    if uow.referrals.find(str(data["referral_id"])) is None:
        _receive(uow, _referral(str(data["referral_id"]), "case", data, source_ref=str(data["case_id"])))


def _referral(referral_id: str, source: str, data: dict, **details) -> Referral:
    try:
        return Referral.receive(referral_id, source, data["district_code"], data["referred_on"], now(),
                                commune_code=data.get("commune_code"), **details)
    except SupportError as exc:
        raise PoisonEvent(str(exc)) from None


def receive_referral(uow: SupportUnitOfWork, actor: Principal, details: dict, provinces: tuple[str, ...]) -> Referral:
    """A walk-in at the social-affairs office, or an NGO's referral, entered by a case worker."""
    district = check_district(details.get("district_code") or actor.district or "", provinces)
    actor.require_district(district)
    at = now()
    with uow:
        referral = Referral.receive(str(uuid.uuid4()), details["source"], district,
                                    details.get("referred_on") or local_date(at), at,
                                    organisation=details.get("organisation"), received_by=actor.sub)
        _receive(uow, referral)
        uow.commit()
    return referral


def decide_referral(uow: SupportUnitOfWork, actor: Principal, referral_id: str, decision: dict) -> Referral:
    """Accept (opening the person's support case, or joining the one already open) or decline, with a reason."""
    with uow:
        referral = uow.referrals.get(referral_id)
        actor.require_district(referral.district_code)
        at = now()
        on = referral.check_decision_date(decision.get("decided_on") or local_date(at), at)
        if decision["accepted"]:
            person = _person_for(uow, actor, decision.get("person_id"))
            person.require_consent()
            case = uow.cases.open_for(person.id) or _open_case(uow, actor, person, on, at)
            referral.accept(person, case, decision.get("reason"), on, actor.sub, at)
        else:
            referral.decline(decision.get("reason"), on, actor.sub, at)
        uow.publish(events.REFERRAL_DECIDED, referral.id, {
            "referral_id": referral.id, "accepted": decision["accepted"], "source": referral.source,
            "district_code": referral.district_code, "decided_on": referral.decided_on})
        uow.commit()
    return referral


def _person_for(uow: SupportUnitOfWork, actor: Principal, person_id: str | None) -> Person:
    if not person_id:
        raise InvalidChange("accepting a referral names the person (register the first contact first)",
                            field="person_id")
    person = uow.persons.get(person_id)
    actor.require_district(person.district_code)
    return person


# --- support cases ---------------------------------------------------------------------------
def _open_case(uow: SupportUnitOfWork, actor: Principal, person: Person, opened_on: date, at: datetime) -> SupportCase:
    case = SupportCase.open(person, opened_on, actor.sub, at)
    uow.cases.add(case)
    _share(uow, person, events.SUPPORT_CASE_OPENED, {"support_case_id": case.id, "opened_on": opened_on}, opened_on)
    return case


def open_case(uow: SupportUnitOfWork, actor: Principal, person_id: str, opened_on: date | None) -> SupportCase:
    with uow:
        person = _person_for(uow, actor, person_id)
        if uow.cases.open_for(person.id):
            raise InvalidChange("this person already has an open support case", field="person_id")
        at = now()
        case = _open_case(uow, actor, person, opened_on or local_date(at), at)
        uow.commit()
    return case


def _case(uow: SupportUnitOfWork, actor: Principal, case_id: str) -> tuple[SupportCase, Person]:
    case = uow.cases.get(case_id)
    actor.require_district(case.district_code)
    return case, uow.persons.get(case.person_id)


def assess_case(uow: SupportUnitOfWork, actor: Principal, case_id: str, changes: dict,
                precondition: Callable[[SupportCase], None]) -> SupportCase:
    """Needs assessment and the case plan's goals (PATCH, with If-Match)."""
    with uow:
        case, person = _case(uow, actor, case_id)
        precondition(case)
        case.assess(person, changes, now())
        uow.commit()
    return case


def deliver_service(uow: SupportUnitOfWork, actor: Principal, case_id: str, details: dict) -> SupportCase:
    with uow:
        case, person = _case(uow, actor, case_id)
        delivery = case.deliver(person, details, actor.sub, now())
        _share(uow, person, events.SERVICE_DELIVERED, {
            "support_case_id": case.id, "service_type": delivery.service_type, "service_id": delivery.id,
            "delivered_on": delivery.delivered_on, "completed": delivery.completed}, delivery.delivered_on)
        uow.commit()
    return case


def complete_service(uow: SupportUnitOfWork, actor: Principal, case_id: str, service_id: str,
                     completed_on: date) -> SupportCase:
    """A training course finished: published again, same service_id, completed=true."""
    with uow:
        case, person = _case(uow, actor, case_id)
        delivery = case.complete(person, service_id, completed_on, now())
        _share(uow, person, events.SERVICE_DELIVERED, {
            "support_case_id": case.id, "service_type": delivery.service_type, "service_id": delivery.id,
            "delivered_on": delivery.delivered_on, "completed": True}, completed_on)
        uow.commit()
    return case


def add_task(uow: SupportUnitOfWork, actor: Principal, case_id: str, title: str, due_on: date) -> SupportCase:
    with uow:
        case, person = _case(uow, actor, case_id)
        case.add_task(person, title, due_on, actor.sub, now())
        uow.commit()
    return case


def finish_task(uow: SupportUnitOfWork, actor: Principal, case_id: str, task_id: str,
                done_on: date | None) -> SupportCase:
    with uow:
        case, _ = _case(uow, actor, case_id)
        at = now()
        case.finish_task(task_id, done_on or local_date(at), actor.sub, at)
        uow.commit()
    return case


def close_case(uow: SupportUnitOfWork, actor: Principal, case_id: str, closure: dict) -> SupportCase:
    """Closing is allowed after a withdrawal of consent; the event is then not published."""
    with uow:
        case, person = _case(uow, actor, case_id)
        at = now()
        closed_on = closure.get("closed_on") or local_date(at)
        case.close(closure["outcome"], closed_on, closure.get("note"), actor.sub, at)
        _share(uow, person, events.SUPPORT_CASE_CLOSED, {
            "support_case_id": case.id, "closed_on": closed_on, "outcome": case.outcome}, closed_on)
        uow.commit()
    return case


# --- keys and retention ----------------------------------------------------------------------
def rotate_keys(uow: SupportUnitOfWork) -> dict:
    """Re-encrypt every kept identity and every sealed text with the newest key, and recompute the
    duplicate-check hashes. After it, the old key can be dropped from SUPPORT_ENCRYPTION_KEYS."""
    with uow:
        people = uow.persons.with_identity()
        for person in people:
            person.rekey(uow.vault.reseal(person.sealed_identity),
                         uow.vault.match_digests(uow.vault.open(person.sealed_identity)))
        texts = uow.sealed_texts.reseal(uow.vault.reseal)
        uow.commit()
    return {"rekeyed": len(people), "texts": texts}


def retention_period(env: dict | None = None) -> timedelta:
    """SUPPORT_RETENTION_DAYS (default five years) after the last case closed."""
    env = os.environ if env is None else env
    return timedelta(days=int(env.get("SUPPORT_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS))


def erase_expired_identities(uow: SupportUnitOfWork, retention: timedelta, today: date | None = None) -> int:
    """Erase the identity of people whose cases all closed longer ago than ``retention``; keep the history."""
    today = today or local_date(now())
    with uow:
        erased = [p for p in uow.persons.with_identity() if retention_expired(uow.cases.of_person(p.id), retention, today)]
        at = now()
        for person in erased:
            person.erase(at)
            for case in uow.cases.of_person(person.id):
                case.erase_notes()
        uow.commit()
    return len(erased)
