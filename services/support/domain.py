"""The support service's domain: supported people and their consent, referrals, support cases
(assessment, plan, services, follow-up tasks, closure) and the audit of identity reads.

Pure Python: no Flask, SQLAlchemy, broker or cipher. A person's identity (name, birth year,
ethnicity, ID number, phone, commune) is an `Identity` value that the domain never stores in
clear: a `Person` keeps it sealed (the vault encrypts it) and the keyed hashes of the duplicate
check. Error messages here never contain an identity value: they name the field, not its content.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

from contracts.events.support import OUTCOMES, SERVICE_TYPES, SEXES
from contracts.text import fold

SOURCES = ("inspection", "case", "walk_in", "ngo")
RECEIVED, ACCEPTED, DECLINED = "received", "accepted", "declined"
OPEN, CLOSED = "open", "closed"
ACTIVE, MERGED, ERASED = "active", "merged", "erased"
PROPOSED, CONFIRMED, REJECTED = "proposed", "confirmed", "rejected"
#: Who may be told what: "reporting" = pseudonymous statistics (the events of this service);
#: the others are agencies a case worker may pass a referral to with the person's agreement.
SHARE_WITH = ("reporting", "health", "legal_aid", "labour", "ngo")
NEEDS = (*SERVICE_TYPES, "documents", "housing", "psychosocial")
HEALTH_KINDS = ("hiv_test", "sti_test", "hiv_treatment", "sti_treatment", "harm_reduction", "general")
ETHNICITIES = ("Thái", "Kinh", "H'Mông", "Mường", "Dao", "Khơ Mú", "Xinh Mun", "Kháng", "La Ha", "Lào", "Lự",
               "Tày", "other")
EARLIEST_BIRTH_YEAR = 1930

#: Vietnam's time (UTC+7): "today" for a case worker in Sơn La.
LOCAL_TIME = timezone(timedelta(hours=7), "ICT")


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TIME).date()


def new_id() -> str:
    return str(uuid.uuid4())


class SupportError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(SupportError):
    pass


class InvalidChange(SupportError):
    """The change breaks a rule (422)."""


class Conflict(SupportError):
    """The change contradicts what is recorded (409), e.g. no consent."""


class AccessDenied(SupportError):
    """The caller may not see this identity (403)."""


class IdentityUnreadable(SupportError):
    """The identity was sealed with a key that is no longer configured (500-class, but never echoed)."""


# --- identity --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Identity:
    full_name: str
    birth_year: int
    ethnicity: str
    commune_code: str
    id_number: str | None = None
    phone: str | None = None

    FIELDS = ("full_name", "birth_year", "ethnicity", "commune_code", "id_number", "phone")

    def check(self, today: date) -> "Identity":
        if not (self.full_name or "").strip():
            raise InvalidChange("full_name cannot be empty", field="full_name")
        if not isinstance(self.birth_year, int) or not EARLIEST_BIRTH_YEAR <= self.birth_year <= today.year:
            raise InvalidChange(f"birth_year must be between {EARLIEST_BIRTH_YEAR} and this year", field="birth_year")
        if not (self.ethnicity or "").strip():
            raise InvalidChange("ethnicity cannot be empty", field="ethnicity")
        if not re.fullmatch(r"\d{5}", self.commune_code or ""):
            raise InvalidChange("commune_code is 5 digits (GSO)", field="commune_code")
        if self.id_number is not None and not re.fullmatch(r"\d{9}|\d{12}", self.id_number):
            raise InvalidChange("id_number is 9 digits (CMND) or 12 digits (CCCD)", field="id_number")
        if self.phone is not None and not re.fullmatch(r"\+?\d{9,12}", self.phone.replace(" ", "")):
            raise InvalidChange("phone must be 9 to 12 digits", field="phone")
        return self

    def normalised(self) -> "Identity":
        return Identity(" ".join(self.full_name.split()), self.birth_year, self.ethnicity.strip(),
                        self.commune_code, self.id_number or None,
                        self.phone.replace(" ", "") if self.phone else None)

    def changed(self, changes: dict) -> "Identity":
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise InvalidChange("not an identity field", field=sorted(unknown)[0])
        return Identity(**{**self.as_dict(), **changes})

    def match_texts(self) -> list[tuple[str, str]]:
        """What the duplicate check compares: the folded name with the birth year, and the ID number."""
        texts = [("name_birth_year", f"{fold(self.full_name)}|{self.birth_year}")]
        if self.id_number:
            texts.append(("id_number", self.id_number))
        return texts

    def age_band(self, on: date) -> str:
        return age_band(on.year - self.birth_year)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Identity":
        return cls(**{k: data.get(k) for k in cls.FIELDS})

    def __repr__(self) -> str:  # never print an identity by accident (logs, tracebacks, test output)
        return "Identity(<sealed>)"

    __str__ = __repr__


def age_band(age: int | None) -> str:
    if age is None or age < 0:
        return "unknown"
    for limit, band in ((18, "under_18"), (25, "18_24"), (35, "25_34"), (45, "35_44")):
        if age < limit:
            return band
    return "45_plus"



# --- people and consent -------------------------------------------------------------------
@dataclass(eq=False)
class Consent:
    id: str
    given_on: date
    services: list
    share_with: list
    recorded_by: str
    recorded_at: datetime
    ended_on: date | None = None
    ended_because: str | None = None  # "withdrawn" or "superseded"

    @property
    def active(self) -> bool:
        return self.ended_on is None


@dataclass(eq=False)
class MatchKey:
    kind: str
    digest: str


@dataclass(eq=False)
class MergeProposal:
    """The duplicate check found that this person may be ``candidate_id``; a case worker decides."""

    id: str
    candidate_id: str
    matched_on: str
    proposed_at: datetime
    status: str = PROPOSED
    decided_by: str | None = None
    decided_at: datetime | None = None


@dataclass(eq=False)
class Person:
    id: str
    person_ref: str  # random, pseudonymous: the only way anyone outside this service knows the person
    district_code: str
    sex: str
    age_band: str  # at first contact; kept after an erasure, for the pseudonymous history
    sealed_identity: str | None
    first_contact_on: date
    registered_by: str
    registered_at: datetime
    updated_at: datetime | None = None
    status: str = ACTIVE
    merged_into: str | None = None
    erased_at: datetime | None = None
    version: int = 1
    consents: list[Consent] = field(default_factory=list)
    match_keys: list[MatchKey] = field(default_factory=list)
    merge_proposals: list[MergeProposal] = field(default_factory=list)
    merged_from: list["Person"] = field(default_factory=list)  # the records confirmed to be this person

    @classmethod
    def first_contact(cls, *, sealed: str, digests: list[tuple[str, str]], district_code: str, sex: str,
                      age_band: str, first_contact_on: date, by: str, at: datetime) -> "Person":
        if sex not in SEXES:
            raise InvalidChange(f"sex must be one of {', '.join(SEXES)}", field="sex")
        if first_contact_on > local_date(at):
            raise InvalidChange("first contact cannot be in the future", field="first_contact_on")
        return cls(id=new_id(), person_ref=new_id(), district_code=district_code, sex=sex, age_band=age_band,
                   sealed_identity=sealed, first_contact_on=first_contact_on, registered_by=by, registered_at=at,
                   updated_at=at, match_keys=[MatchKey(k, d) for k, d in digests])

    def _require_active(self) -> None:
        if self.status == MERGED:
            raise Conflict("this record was merged into another person: use that one", field="merged_into")
        if self.status == ERASED:
            raise Conflict("this person's identity was erased under the retention rule", field="status")

    def reseal(self, sealed: str, digests: list[tuple[str, str]], district_code: str, at: datetime) -> None:
        self._require_active()
        self.sealed_identity, self.district_code, self.updated_at = sealed, district_code, at
        self.match_keys = [MatchKey(k, d) for k, d in digests]

    def change_sex(self, sex: str) -> None:
        if sex not in SEXES:
            raise InvalidChange(f"sex must be one of {', '.join(SEXES)}", field="sex")
        self.sex = sex

    def rekey(self, sealed: str, digests: list[tuple[str, str]]) -> None:
        """The same identity under the newest key (key rotation); hashes replaced only if they changed."""
        self.sealed_identity = sealed
        if sorted((k.kind, k.digest) for k in self.match_keys) != sorted(digests):
            self.match_keys = [MatchKey(k, d) for k, d in digests]

    # consent
    def active_consent(self) -> Consent | None:
        return next((c for c in reversed(self.consents) if c.active), None)

    def give_consent(self, given_on: date, services: list, share_with: list, by: str, at: datetime) -> Consent:
        self._require_active()
        if given_on > local_date(at) or given_on < self.first_contact_on:
            raise InvalidChange("consent is given on or after the first contact, and not in the future",
                                field="given_on")
        if not services:
            raise InvalidChange("a consent names at least one service", field="services")
        for name, values, allowed in (("services", services, SERVICE_TYPES), ("share_with", share_with, SHARE_WITH)):
            if set(values) - set(allowed):
                raise InvalidChange(f"{name} must be among {', '.join(allowed)}", field=name)
        previous = self.active_consent()
        if previous:
            previous.ended_on, previous.ended_because = given_on, "superseded"
        consent = Consent(new_id(), given_on, sorted(set(services)), sorted(set(share_with)), by, at)
        self.consents.append(consent)
        self.updated_at = at
        return consent

    def withdraw_consent(self, on: date, at: datetime) -> Consent:
        consent = self.active_consent()
        if consent is None:
            raise Conflict("there is no consent to withdraw", field="consent")
        if on < consent.given_on or on > local_date(at):
            raise InvalidChange("a withdrawal is dated between the consent and today", field="withdrawn_on")
        consent.ended_on, consent.ended_because, self.updated_at = on, "withdrawn", at
        return consent

    def require_consent(self, service_type: str | None = None) -> Consent:
        """Without consent nothing beyond the first contact is recorded."""
        self._require_active()
        consent = self.active_consent()
        if consent is None:
            raise Conflict("record the person's consent first: without it nothing beyond the first contact "
                           "is recorded", field="consent")
        if service_type and service_type not in consent.services:
            raise Conflict(f"the person's consent does not cover {service_type}", field="service_type")
        return consent

    @property
    def may_share(self) -> bool:
        """Pseudonymous events are published only under an active consent that allows reporting."""
        consent = self.active_consent()
        return self.status != MERGED and consent is not None and "reporting" in consent.share_with

    # duplicates
    def propose_merge(self, candidate: "Person", matched_on: str, at: datetime) -> MergeProposal:
        """Proposed once per candidate: a corrected identity that matches again adds nothing."""
        earlier = next((p for p in self.merge_proposals if p.candidate_id == candidate.id), None)
        if earlier is not None:
            return earlier
        proposal = MergeProposal(new_id(), candidate.id, matched_on, at)
        self.merge_proposals.append(proposal)
        return proposal

    def decide_merge(self, proposal_id: str, confirm: bool, into: "Person", by: str, at: datetime) -> MergeProposal:
        proposal = next((p for p in self.merge_proposals if p.id == proposal_id), None)
        if proposal is None:
            raise NotFound(f"no merge proposal {proposal_id}")
        if proposal.status != PROPOSED:
            raise Conflict(f"this proposal is already {proposal.status}", field="decision")
        if confirm:
            self._require_active()
            into._require_active()
            self.status, self.merged_into = MERGED, into.id
        proposal.status, proposal.decided_by, proposal.decided_at = (CONFIRMED if confirm else REJECTED), by, at
        self.updated_at = at
        return proposal

    def erase(self, at: datetime) -> None:
        """Retention: the identity goes, the pseudonymous history (ref, district, sex, age band) stays."""
        self.sealed_identity, self.match_keys, self.status, self.erased_at, self.updated_at = (
            None, [], ERASED, at, at)


# --- referrals -------------------------------------------------------------------------------
@dataclass(eq=False)
class Referral:
    id: str
    source: str
    district_code: str
    referred_on: date
    received_at: datetime
    commune_code: str | None = None  # where the referral came from (an establishment's commune), not a home
    source_ref: str | None = None  # the inspection or criminal case that referred
    batch_id: str | None = None
    organisation: str | None = None  # the NGO that referred
    received_by: str | None = None
    status: str = RECEIVED
    decision_reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decided_on: date | None = None
    person_id: str | None = None
    support_case_id: str | None = None
    version: int = 1

    @classmethod
    def receive(cls, id: str, source: str, district_code: str, referred_on: date, at: datetime, **details) -> "Referral":
        if source not in SOURCES:
            raise InvalidChange(f"source must be one of {', '.join(SOURCES)}", field="source")
        if source == "ngo" and not (details.get("organisation") or "").strip():
            raise InvalidChange("an NGO referral names the organisation", field="organisation")
        if referred_on > local_date(at):
            raise InvalidChange("a referral cannot be dated in the future", field="referred_on")
        return cls(id=id, source=source, district_code=district_code, referred_on=referred_on, received_at=at,
                   **details)

    def check_decision_date(self, on: date, at: datetime) -> date:
        if on < self.referred_on or on > local_date(at):
            raise InvalidChange("a decision is dated between the referral and today", field="decided_on")
        return on

    def _decide(self, reason: str | None, on: date, by: str, at: datetime) -> None:
        if self.status != RECEIVED:
            raise Conflict(f"this referral is already {self.status}", field="accepted")
        self.decision_reason, self.decided_by, self.decided_at, self.decided_on = (
            (reason or "").strip() or None, by, at, self.check_decision_date(on, at))

    def accept(self, person: Person, case: "SupportCase", reason: str | None, on: date, by: str,
               at: datetime) -> None:
        self._decide(reason, on, by, at)
        self.status, self.person_id, self.support_case_id = ACCEPTED, person.id, case.id

    def decline(self, reason: str, on: date, by: str, at: datetime) -> None:
        if not (reason or "").strip():
            raise InvalidChange("a declined referral needs a reason", field="reason")
        self._decide(reason, on, by, at)
        self.status = DECLINED


# --- support cases ----------------------------------------------------------------------------
@dataclass(eq=False)
class Goal:
    description: str
    target_on: date | None = None
    achieved_on: date | None = None


@dataclass(eq=False)
class ServiceDelivery:
    id: str
    service_type: str
    delivered_on: date
    recorded_by: str
    recorded_at: datetime
    provider: str | None = None
    health_kind: str | None = None
    course: str | None = None
    employer: str | None = None
    started_on: date | None = None
    completed_on: date | None = None
    amount_vnd: int | None = None
    notes: str | None = None

    @property
    def completed(self) -> bool:
        """A training is complete when it has a completion date; everything else when it is delivered."""
        return self.completed_on is not None if self.service_type == "vocational_training" else True


@dataclass(eq=False)
class Task:
    id: str
    support_case_id: str
    district_code: str
    title: str
    due_on: date
    created_by: str
    created_at: datetime
    done_on: date | None = None
    done_by: str | None = None

    def is_overdue(self, today: date) -> bool:
        return self.done_on is None and self.due_on < today


@dataclass(eq=False)
class SupportCase:
    id: str
    person_id: str
    district_code: str
    opened_on: date
    opened_by: str
    opened_at: datetime
    status: str = OPEN
    needs: list = field(default_factory=list)
    assessment_notes: str | None = None
    assessed_on: date | None = None
    closed_on: date | None = None
    outcome: str | None = None
    closure_note: str | None = None
    closed_by: str | None = None
    updated_at: datetime | None = None
    version: int = 1
    goals: list[Goal] = field(default_factory=list)
    services: list[ServiceDelivery] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)

    @classmethod
    def open(cls, person: Person, opened_on: date, by: str, at: datetime) -> "SupportCase":
        person.require_consent()
        if opened_on > local_date(at) or opened_on < person.first_contact_on:
            raise InvalidChange("a case opens on or after the first contact, and not in the future",
                                field="opened_on")
        return cls(new_id(), person.id, person.district_code, opened_on, by, at, updated_at=at)

    def _require_open(self) -> None:
        if self.status != OPEN:
            raise Conflict("this support case is closed", field="status")

    def _check_date(self, on: date, at: datetime, name: str) -> None:
        if on < self.opened_on or on > local_date(at):
            raise InvalidChange(f"{name} must be between the case's opening and today", field=name)

    def assess(self, person: Person, changes: dict, at: datetime) -> None:
        self._require_open()
        person.require_consent()
        if "needs" in changes:
            if set(changes["needs"]) - set(NEEDS):
                raise InvalidChange(f"needs must be among {', '.join(NEEDS)}", field="needs")
            self.needs = sorted(set(changes["needs"]))
        if "assessed_on" in changes:
            self._check_date(changes["assessed_on"], at, "assessed_on")
            self.assessed_on = changes["assessed_on"]
        if "assessment_notes" in changes:
            self.assessment_notes = changes["assessment_notes"]
        if "goals" in changes:
            goals = [Goal(g["description"].strip(), g.get("target_on"), g.get("achieved_on")) for g in changes["goals"]]
            if any(not g.description for g in goals):
                raise InvalidChange("a goal needs a description", field="goals")
            self.goals = goals
        if (self.needs or self.goals) and self.assessed_on is None:
            self.assessed_on = local_date(at)
        self.updated_at = at

    def deliver(self, person: Person, details: dict, by: str, at: datetime) -> ServiceDelivery:
        self._require_open()
        kind = details.get("service_type")
        if kind not in SERVICE_TYPES:
            raise InvalidChange(f"service_type must be one of {', '.join(SERVICE_TYPES)}", field="service_type")
        person.require_consent(kind)
        self._check_date(details["delivered_on"], at, "delivered_on")
        required = {"health_care": ("health_kind",), "vocational_training": ("course", "provider", "started_on"),
                    "job_placement": ("employer", "started_on")}.get(kind, ())
        for name in required:
            if not details.get(name):
                raise InvalidChange(f"{kind.replace('_', ' ')} needs {name}", field=name)
        if details.get("health_kind") and details["health_kind"] not in HEALTH_KINDS:
            raise InvalidChange(f"health_kind must be one of {', '.join(HEALTH_KINDS)}", field="health_kind")
        if details.get("completed_on") and details["completed_on"] < (details.get("started_on") or details["delivered_on"]):
            raise InvalidChange("completion comes after the start", field="completed_on")
        delivery = ServiceDelivery(new_id(), recorded_by=by, recorded_at=at, **details)
        self.services.append(delivery)
        self.updated_at = at
        return delivery

    def complete(self, person: Person, service_id: str, completed_on: date, at: datetime) -> ServiceDelivery:
        self._require_open()
        person.require_consent()
        delivery = next((s for s in self.services if s.id == service_id), None)
        if delivery is None:
            raise NotFound(f"no service {service_id} in this case")
        if delivery.completed_on is not None:
            raise Conflict("this service is already completed", field="completed_on")
        self._check_date(completed_on, at, "completed_on")
        if completed_on < (delivery.started_on or delivery.delivered_on):
            raise InvalidChange("completion comes after the start", field="completed_on")
        delivery.completed_on, self.updated_at = completed_on, at
        return delivery

    def add_task(self, person: Person, title: str, due_on: date, by: str, at: datetime) -> Task:
        self._require_open()
        person.require_consent()
        if not (title or "").strip():
            raise InvalidChange("a task needs a title", field="title")
        if due_on < self.opened_on:
            raise InvalidChange("a task is due after the case opened", field="due_on")
        task = Task(new_id(), self.id, self.district_code, title.strip(), due_on, by, at)
        self.tasks.append(task)
        return task

    def finish_task(self, task_id: str, done_on: date, by: str, at: datetime) -> Task:
        task = next((t for t in self.tasks if t.id == task_id), None)
        if task is None:
            raise NotFound(f"no task {task_id}")
        if task.done_on is not None:
            raise Conflict("this task is already done", field="done_on")
        self._check_date(done_on, at, "done_on")
        task.done_on, task.done_by = done_on, by
        return task

    def close(self, outcome: str, closed_on: date, note: str | None, by: str, at: datetime) -> None:
        self._require_open()
        if outcome not in OUTCOMES:
            raise InvalidChange(f"outcome must be one of {', '.join(OUTCOMES)}", field="outcome")
        self._check_date(closed_on, at, "closed_on")
        self.status, self.outcome, self.closed_on, self.closure_note, self.closed_by, self.updated_at = (
            CLOSED, outcome, closed_on, note, by, at)

    def erase_notes(self) -> None:
        """Retention: the free text goes with the identity (it may name the person); the facts stay."""
        self.assessment_notes = self.closure_note = None
        for delivery in self.services:
            delivery.notes = None


# --- the audit of identity reads ---------------------------------------------------------------
@dataclass(eq=False)
class AuditEntry:
    """Who read whose identity, when and why. Written, never changed."""

    at: datetime
    actor: str
    actor_roles: str
    actor_district: str | None
    person_id: str
    action: str  # "read" or "update"
    reason: str
    break_glass: bool = False
    id: int | None = None


def retention_expired(cases: list[SupportCase], retention: timedelta, today: date) -> bool:
    """A person's identity is erased once every case is closed for longer than the retention period."""
    return bool(cases) and all(c.status == CLOSED and c.closed_on + retention < today for c in cases)
