"""The criminal-cases domain: tips, cases from opening to verdict, and hotspots.

Pure Python: no Flask, no SQLAlchemy, no broker. Rules live here and nowhere else.
Suspects' identities are kept on the case (police eyes only); victims are never named,
only referred to support under a random id.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from contracts.text import fold

# -- vocabularies (the same as contracts/events/cases.py; a unit test keeps them equal) ------------------------
TIP_SOURCES = ("citizen", "hotline", "inspection_referral", "media", "other_agency")
CLASSIFICATIONS = ("criminal", "administrative", "unfounded")
RECEIVED, VERIFYING, CLASSIFIED, HANDLED = "received", "verifying", "classified", "handled"
TIP_STATUSES = (RECEIVED, VERIFYING, CLASSIFIED, HANDLED)

#: Penal Code 2015 (Bộ luật Hình sự): the articles of this plan, with their Vietnamese names.
ARTICLES = {
    "150": "Mua bán người",
    "151": "Mua bán người dưới 16 tuổi",
    "327": "Chứa mại dâm",
    "328": "Môi giới mại dâm",
    "329": "Mua dâm người dưới 18 tuổi",
}
OPENED, INVESTIGATION, PROSECUTION, TRIAL, VERDICT = "opened", "investigation", "prosecution", "trial", "verdict"
SUSPENDED, DISMISSED = "suspended", "dismissed"
PATH = (OPENED, INVESTIGATION, PROSECUTION, TRIAL, VERDICT)
STAGES = (*PATH, SUSPENDED, DISMISSED)
FINAL = (VERDICT, DISMISSED)
SUSPECT_ROLES = ("operator", "broker", "buyer", "trafficker", "other")

HOTSPOT_KINDS = ("public_place", "inside_establishment")
FOUND_BY = ("tip", "inspection", "case")
ACTIVE, ELIMINATED, RECURRED = "active", "eliminated", "recurred"
HOTSPOT_STATUSES = (ACTIVE, ELIMINATED, RECURRED)

#: Vietnam's time (UTC+7): "today" for an officer in Sơn La.
LOCAL_TIME = timezone(timedelta(hours=7), "ICT")


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TIME).date()


class CasesError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(CasesError):
    pass


class InvalidChange(CasesError):
    """The change breaks a rule (422)."""


class Conflict(CasesError):
    """The change contradicts what is already recorded (409)."""


# -- statutory time limits: configuration, not code ----------------------------------------------------------

@dataclass(frozen=True)
class TimeLimits:
    """Days allowed to verify a tip, and to stay in each stage of a case before the next must follow.

    Read from ``time_limits.json`` (see `load`); a stage without a limit (suspended) is never overdue.
    """

    tip_verification_days: int
    stage_days: dict[str, int | None]

    @classmethod
    def load(cls, path: str | Path) -> "TimeLimits":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        stage_days = {k: (v["days"] if isinstance(v, dict) else v) for k, v in raw["stages"].items()}
        tip = raw["tip_verification"]
        limits = cls(int(tip["days"] if isinstance(tip, dict) else tip), stage_days)
        unknown = set(stage_days) - set(STAGES)
        if unknown or limits.tip_verification_days <= 0:
            raise ValueError(f"bad time limits in {path}: unknown stages {sorted(unknown)}")
        return limits

    def tip_due(self, received_on: date) -> date:
        return received_on + timedelta(days=self.tip_verification_days)

    def stage_due(self, stage: str, since: date) -> date | None:
        days = self.stage_days.get(stage)
        return None if stage in FINAL or not days else since + timedelta(days=days)


def _check_past(value, now_: datetime, name: str) -> None:
    today = local_date(now_)
    day = local_date(value) if isinstance(value, datetime) else value
    if day > today:
        raise InvalidChange(f"{name} cannot be in the future", field=name)


# -- the registry's establishments, as this service knows them from its events -------------------------------

@dataclass(eq=False)
class Establishment:
    """A copy of what the registry publishes about an establishment: enough to link it to tips, cases
    and hotspots (a verdict against its operator names it, and the registry must know it)."""

    id: str
    name: str
    business_type: str
    commune_code: str
    district_code: str
    status: str
    updated_at: datetime

    def take(self, details: dict, at: datetime) -> None:
        for name in ("name", "business_type", "commune_code", "district_code", "status"):
            if details.get(name) is not None:
                setattr(self, name, details[name])
        self.updated_at = at


# -- tips ----------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Tip:
    id: str
    source: str
    received_at: datetime
    commune_code: str
    district_code: str
    province_code: str
    summary: str
    verification_due_on: date
    recorded_by: str
    recorded_at: datetime
    establishment_id: str | None = None
    inspection_id: str | None = None
    referral_id: str | None = None  # the inspection's police referral, when it came from one
    status: str = RECEIVED
    verification_started_at: datetime | None = None
    verified_by: str | None = None
    classification: str | None = None
    classification_note: str | None = None
    classified_at: datetime | None = None
    classified_by: str | None = None
    handled_at: datetime | None = None
    handling_note: str | None = None
    case_id: str | None = None
    version: int = 1

    @classmethod
    def receive(cls, id: str, *, source: str, received_at: datetime, summary: str, limits: TimeLimits,
                by: str, at: datetime, **details) -> "Tip":
        if source not in TIP_SOURCES:
            raise InvalidChange(f"source must be one of {', '.join(TIP_SOURCES)}", field="source")
        if not (summary or "").strip():
            raise InvalidChange("a tip needs a summary", field="summary")
        _check_past(received_at, at, "received_at")
        return cls(id=id, source=source, received_at=received_at, summary=summary.strip(),
                   verification_due_on=limits.tip_due(local_date(received_at)), recorded_by=by, recorded_at=at,
                   **details)

    @property
    def handled(self) -> bool:
        return self.status == HANDLED

    def is_overdue(self, on: date) -> bool:
        return self.status in (RECEIVED, VERIFYING) and self.verification_due_on < on

    def start_verification(self, by: str, started_at: datetime, at: datetime) -> None:
        if self.status != RECEIVED:
            raise Conflict(f"a {self.status} tip is not waiting for verification", field="status")
        self._check_moment(started_at, at, "started_at")
        self.status, self.verification_started_at, self.verified_by = VERIFYING, started_at, by

    def classify(self, classification: str, note: str | None, by: str, classified_at: datetime, at: datetime) -> None:
        if classification not in CLASSIFICATIONS:
            raise InvalidChange(f"classification must be one of {', '.join(CLASSIFICATIONS)}", field="classification")
        if self.status not in (RECEIVED, VERIFYING):
            raise Conflict(f"the tip is already {self.status}", field="classification")
        self._check_moment(classified_at, at, "classified_at")
        if self.verification_started_at and classified_at < self.verification_started_at:
            raise InvalidChange("a tip cannot be classified before its verification began", field="classified_at")
        if self.status == RECEIVED:  # verified and classified in one go
            self.verification_started_at, self.verified_by = classified_at, by
        self.status, self.classification, self.classification_note = CLASSIFIED, classification, note
        self.classified_at, self.classified_by = classified_at, by

    def handle(self, note: str | None, handled_at: datetime, at: datetime, case_id: str | None = None) -> None:
        if self.status != CLASSIFIED:
            field_ = "classification" if self.status in (RECEIVED, VERIFYING) else "status"
            raise Conflict(f"a {self.status} tip cannot be handled: classify it first" if field_ == "classification"
                           else "the tip is already handled", field=field_)
        if self.classification == "criminal" and not case_id:
            raise InvalidChange("a criminal tip is handled by opening a case from it", field="case_id")
        if self.classification != "criminal" and case_id:
            raise InvalidChange(f"a {self.classification} tip does not lead to a criminal case", field="case_id")
        if not case_id and not (note or "").strip():
            raise InvalidChange("say how the tip was handled", field="note")
        self._check_moment(handled_at, at, "handled_at")
        if handled_at < self.classified_at:
            raise InvalidChange("a tip cannot be handled before it was classified", field="handled_at")
        self.status, self.handled_at, self.handling_note, self.case_id = HANDLED, handled_at, note, case_id

    def _check_moment(self, moment: datetime, at: datetime, name: str) -> None:
        _check_past(moment, at, name)
        if moment < self.received_at:
            raise InvalidChange(f"{name} is before the tip was received", field=name)


# -- cases ---------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Suspect:
    """An identity known to the police only: never in an event, never shown to another role."""

    full_name: str
    role: str
    birth_year: int | None
    id_number: str | None
    address: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass(eq=False)
class Victim:
    """A victim identified in a case: a random referral id, never a name."""

    referral_id: str
    identified_on: date
    minor: bool
    recorded_by: str
    recorded_at: datetime


@dataclass(eq=False)
class StageChange:
    stage: str
    previous_stage: str | None
    on: date
    due_on: date | None
    reason: str | None
    correction: bool
    recorded_by: str
    recorded_at: datetime


@dataclass(eq=False)
class Case:
    id: str
    case_number: str
    articles: list[str]
    commune_code: str
    district_code: str
    province_code: str
    summary: str
    opened_on: date
    opened_by: str
    opened_at: datetime
    tip_id: str | None = None
    establishment_ids: list[str] = field(default_factory=list)
    hotspot_ids: list[str] = field(default_factory=list)
    suspects_count: int = 0
    stage: str = OPENED
    stage_on: date | None = None
    stage_due_on: date | None = None
    suspended_from: str | None = None
    outcome_reason: str | None = None
    court: str | None = None
    trial_on: date | None = None
    mobile_trial: bool = False
    verdict_on: date | None = None
    sentence: str | None = None
    operator_convicted: bool = False
    convicted_establishment_ids: list[str] = field(default_factory=list)
    case_number_key: str = ""
    updated_at: datetime | None = None
    version: int = 1
    stages: list[StageChange] = field(default_factory=list)
    suspects: list[Suspect] = field(default_factory=list)
    victims: list[Victim] = field(default_factory=list)

    @classmethod
    def open(cls, id: str, *, case_number: str, articles: list[str], opened_on: date, limits: TimeLimits,
             by: str, at: datetime, suspects: list[dict] = (), suspects_count: int | None = None,
             **details) -> "Case":
        if not (case_number or "").strip():
            raise InvalidChange("a case needs its number", field="case_number")
        _check_articles(articles)
        _check_past(opened_on, at, "opened_on")
        case = cls(id=id, case_number=case_number.strip(), articles=sorted(set(articles)), opened_on=opened_on,
                   opened_by=by, opened_at=at, updated_at=at, **details)
        case.case_number_key = fold(case.case_number)
        case.establishment_ids = sorted(set(map(str, case.establishment_ids)))
        case.hotspot_ids = sorted(set(map(str, case.hotspot_ids)))
        for suspect in suspects:
            case.add_suspect(suspect, by, at)
        case.suspects_count = max(len(case.suspects), suspects_count or 0)
        case._enter(OPENED, None, opened_on, None, False, limits, by, at)
        return case

    # -- suspects and victims
    def add_suspect(self, identity: dict, by: str, at: datetime) -> Suspect:
        if not (identity.get("full_name") or "").strip():
            raise InvalidChange("a suspect's identity needs a full name", field="full_name")
        role = identity.get("role") or "other"
        if role not in SUSPECT_ROLES:
            raise InvalidChange(f"role must be one of {', '.join(SUSPECT_ROLES)}", field="role")
        suspect = Suspect(identity["full_name"].strip(), role, identity.get("birth_year"), identity.get("id_number"),
                          identity.get("address"), by, at)
        self.suspects.append(suspect)
        self.suspects_count = max(self.suspects_count, len(self.suspects))
        self.updated_at = at
        return suspect

    def identify_victims(self, referral_ids: list[str], identified_on: date, minor: bool, by: str,
                         at: datetime) -> list[Victim]:
        if not referral_ids:
            raise InvalidChange("at least one victim", field="count")
        self._check_day(identified_on, at, "identified_on")
        victims = [Victim(r, identified_on, minor, by, at) for r in referral_ids]
        self.victims.extend(victims)
        self.updated_at = at
        return victims

    # -- stages
    def move(self, stage: str, on: date, limits: TimeLimits, by: str, at: datetime, *, reason: str | None = None,
             correction: bool = False, court: str | None = None, mobile_trial: bool = False,
             sentence: str | None = None, operator_convicted: bool = False,
             establishment_ids: list[str] | None = None) -> StageChange:
        if stage not in STAGES:
            raise InvalidChange(f"stage must be one of {', '.join(STAGES)}", field="stage")
        reason = (reason or "").strip() or None
        if correction:
            if not reason:
                raise InvalidChange("a correction must say why", field="reason")
            if stage == self.stage:
                raise Conflict(f"the case is already at {stage}", field="stage")
        else:
            self._check_next(stage, reason)
        self._check_day(on, at, "on")
        if not correction and self.stage_on and on < self.stage_on:
            raise InvalidChange(f"the {stage} stage cannot begin before the {self.stage} stage did ({self.stage_on})",
                                field="on")
        if stage == TRIAL:
            if not (court or "").strip():
                raise InvalidChange("a trial needs its court", field="court")
            self.court, self.trial_on, self.mobile_trial = court.strip(), on, bool(mobile_trial)
        if stage == VERDICT:
            self._record_verdict(on, sentence, operator_convicted, establishment_ids)
        if stage in (SUSPENDED, DISMISSED):
            self.outcome_reason = reason
        self.suspended_from = self.stage if stage == SUSPENDED else None
        return self._enter(stage, self.stage, on, reason, correction, limits, by, at)

    def _check_next(self, stage: str, reason: str | None) -> None:
        if self.stage in FINAL:
            raise Conflict(f"the case is closed ({self.stage}); only a correction can change it", field="stage")
        if stage in (SUSPENDED, DISMISSED):
            if not reason:
                raise InvalidChange(f"a case is {stage} with a reason", field="reason")
            if stage == self.stage:
                raise Conflict(f"the case is already {stage}", field="stage")
            return
        if self.stage == SUSPENDED:
            if stage != self.suspended_from:
                raise Conflict(f"a suspended case resumes at {self.suspended_from}, not {stage}", field="stage")
            return
        expected = PATH[PATH.index(self.stage) + 1]
        if stage != expected:
            direction = "back" if PATH.index(stage) <= PATH.index(self.stage) else "past " + expected
            raise Conflict(f"a case at {self.stage} moves to {expected}, not {direction} to {stage}; "
                           "send correction=true with a reason to fix a recording error", field="stage")

    def _record_verdict(self, on: date, sentence: str | None, operator_convicted: bool,
                        establishment_ids: list[str] | None) -> None:
        convicted = sorted(set(map(str, establishment_ids or []))) if operator_convicted else []
        if operator_convicted and not convicted:
            convicted = list(self.establishment_ids)
        if operator_convicted and not convicted:
            raise InvalidChange("a verdict against an operator names the establishments they ran",
                                field="establishment_ids")
        if set(convicted) - set(self.establishment_ids):
            raise InvalidChange("the convicted operator's establishments must be linked to the case",
                                field="establishment_ids")
        self.verdict_on, self.sentence = on, (sentence or "").strip() or None
        self.operator_convicted, self.convicted_establishment_ids = bool(operator_convicted), convicted

    def _enter(self, stage: str, previous: str | None, on: date, reason: str | None, correction: bool,
               limits: TimeLimits, by: str, at: datetime) -> StageChange:
        change = StageChange(stage, previous, on, limits.stage_due(stage, on), reason, correction, by, at)
        self.stages.append(change)
        self.stage, self.stage_on, self.stage_due_on, self.updated_at = stage, on, change.due_on, at
        return change

    def _check_day(self, day: date, at: datetime, name: str) -> None:
        _check_past(day, at, name)
        if day < self.opened_on:
            raise InvalidChange(f"{name} ({day}) is before the case was opened ({self.opened_on})", field=name)

    def is_overdue(self, on: date) -> bool:
        return self.stage_due_on is not None and self.stage_due_on < on


def _check_articles(articles: list[str]) -> None:
    if not articles:
        raise InvalidChange("a case names at least one article of the Penal Code", field="articles")
    unknown = [a for a in articles if a not in ARTICLES]
    if unknown:
        raise InvalidChange(f"article {', '.join(unknown)} is not one of {', '.join(ARTICLES)}", field="articles")


# -- hotspots ------------------------------------------------------------------------------------------------

@dataclass(eq=False)
class HotspotChange:
    status: str
    on: date
    note: str | None
    recorded_by: str
    recorded_at: datetime


@dataclass(eq=False)
class Hotspot:
    id: str
    commune_code: str
    district_code: str
    province_code: str
    description: str
    kind: str
    found_by: str
    detected_on: date
    recorded_by: str
    recorded_at: datetime
    establishment_id: str | None = None
    tip_id: str | None = None
    case_id: str | None = None
    inspection_id: str | None = None
    status: str = ACTIVE
    status_on: date | None = None
    eliminated_on: date | None = None
    elimination_method: str | None = None
    updated_at: datetime | None = None
    version: int = 1
    history: list[HotspotChange] = field(default_factory=list)

    @classmethod
    def detect(cls, id: str, *, kind: str, found_by: str, description: str, detected_on: date, by: str,
               at: datetime, **details) -> "Hotspot":
        if kind not in HOTSPOT_KINDS:
            raise InvalidChange(f"kind must be one of {', '.join(HOTSPOT_KINDS)}", field="kind")
        if found_by not in FOUND_BY:
            raise InvalidChange(f"found_by must be one of {', '.join(FOUND_BY)}", field="found_by")
        if kind == "public_place" and details.get("establishment_id"):
            raise InvalidChange("a hotspot in a public place is not inside an establishment", field="establishment_id")
        source = {"tip": "tip_id", "case": "case_id", "inspection": "inspection_id"}[found_by]
        if not details.get(source):
            raise InvalidChange(f"a hotspot found by {found_by.replace('_', ' ')} names it ({source})", field=source)
        if not (description or "").strip():
            raise InvalidChange("describe the hotspot", field="description")
        _check_past(detected_on, at, "detected_on")
        hotspot = cls(id=id, kind=kind, found_by=found_by, description=description.strip(), detected_on=detected_on,
                      recorded_by=by, recorded_at=at, status_on=detected_on, updated_at=at, **details)
        hotspot.history.append(HotspotChange(ACTIVE, detected_on, None, by, at))
        return hotspot

    def eliminate(self, on: date, how: str, by: str, at: datetime) -> HotspotChange:
        if self.status == ELIMINATED:
            raise Conflict("the hotspot is already eliminated", field="status")
        if not (how or "").strip():
            raise InvalidChange("say how the hotspot was eliminated", field="how")
        self._check_day(on, at)
        self.eliminated_on, self.elimination_method = on, how.strip()
        return self._become(ELIMINATED, on, self.elimination_method, by, at)

    def recur(self, on: date, note: str | None, by: str, at: datetime) -> HotspotChange:
        if self.status != ELIMINATED:
            raise Conflict("only an eliminated hotspot can recur", field="status")
        self._check_day(on, at)
        return self._become(RECURRED, on, (note or "").strip() or None, by, at)

    def _check_day(self, on: date, at: datetime) -> None:
        _check_past(on, at, "on")
        if on < (self.status_on or self.detected_on):
            raise InvalidChange(f"the date is before the hotspot was last {self.status} ({self.status_on})", field="on")

    def _become(self, status: str, on: date, note: str | None, by: str, at: datetime) -> HotspotChange:
        change = HotspotChange(status, on, note, by, at)
        self.history.append(change)
        self.status, self.status_on, self.updated_at = status, on, at
        return change
