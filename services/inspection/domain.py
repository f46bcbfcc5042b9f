"""The inspection service's domain model: the local copy of the establishments and their open tips,
inspection plans and their risk-ranked visit lists, inspections, results, sanctions and risk.

Pure Python: no Flask, no SQLAlchemy, no broker. Rules live here and nowhere else. The checklists
and the violation catalogue are data (``data/*.json``), read once.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Callable

from contracts.text import fold

DATA = Path(__file__).with_name("data")

KINDS = ("specialised", "inter_agency")
AGENCIES = ("culture", "police", "labour", "health", "inter_agency")
SANCTIONS = ("warning", "fine", "licence_suspension", "revocation_proposal")
SCOPES = ("province", "district", "communes")
RISK_LEVELS = ("low", "medium", "high")
ANSWERS = ("yes", "no", "not_applicable")
PLANNED, IN_PROGRESS, COMPLETED, CANCELLED = "planned", "in_progress", "completed", "cancelled"
STATUSES = (PLANNED, IN_PROGRESS, COMPLETED, CANCELLED)
NOT_INSPECTABLE = ("closed",)  # a closed business is gone; a revoked one may still be checked
REINSPECTION_AFTER = timedelta(days=30)
MAX_SUSPENSION_DAYS = 730  # 24 months, the longest licence suspension the decrees allow

#: Vietnam's time (UTC+7): "today" for an inspector in Sơn La.
LOCAL_TIME = timezone(timedelta(hours=7), "ICT")


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TIME).date()


class InspectionError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(InspectionError):
    pass


class InvalidChange(InspectionError):
    """The change breaks a rule (422)."""


class Conflict(InspectionError):
    """The change contradicts what is already recorded (409)."""


# -- the catalogue (data) ----------------------------------------------------------------------------


@cache
def violation_catalogue() -> dict[str, dict]:
    with (DATA / "violations.json").open(encoding="utf-8") as f:
        return {v["code"]: v for v in json.load(f)["violations"]}


@cache
def _checklist_data() -> dict:
    with (DATA / "checklists.json").open(encoding="utf-8") as f:
        return json.load(f)


def checklist(business_type: str) -> list[dict]:
    """The checklist of a business type: the common questions, then the type's own."""
    data = _checklist_data()
    return [*data["common"], *data["by_business_type"].get(business_type, data["by_business_type"]["other"])]


def legal_basis_on(code: str, day: date) -> dict:
    """The decree in force on ``day`` for a violation (167/2013 until 2021, then 144/2021)."""
    bases = violation_catalogue()[code]["legal_basis"]
    for basis in bases:
        start = date.fromisoformat(basis["effective_from"])
        end = date.fromisoformat(basis["effective_to"]) if basis["effective_to"] else date.max
        if start <= day <= end:
            return basis
    return bases[0] if day < date.fromisoformat(bases[0]["effective_from"]) else bases[-1]


# -- the local copy of the registry -------------------------------------------------------------------


@dataclass(eq=False)
class Establishment:
    """What this service knows of a registered establishment, from the registry's events."""

    id: str
    name: str
    business_type: str
    address: str
    commune_code: str
    district_code: str
    province_code: str
    status: str
    risk_level: str
    licence_number: str | None = None
    employees: int | None = None
    operating_since: date | None = None
    last_inspected_on: date | None = None
    violations_recorded: int = 0
    synced_at: datetime | None = None
    name_key: str = ""

    SNAPSHOT = ("name", "business_type", "address", "commune_code", "district_code", "province_code", "status",
                "risk_level", "licence_number", "employees", "operating_since")

    @classmethod
    def from_snapshot(cls, data: dict, at: datetime) -> "Establishment":
        establishment = cls(id=str(data["establishment_id"]), **{k: data.get(k) for k in cls.SNAPSHOT})
        establishment.synced_at, establishment.name_key = at, fold(establishment.name)
        return establishment

    def apply_snapshot(self, data: dict, at: datetime) -> None:
        for name in self.SNAPSHOT:
            if name in data:
                setattr(self, name, data[name])
        self.synced_at, self.name_key = at, fold(self.name)

    def note_result(self, result: "Result", previous: "Result | None") -> None:
        """What the visit lists need to know: the last inspection, the violations recorded, the new risk.
        A correction replaces its earlier revision's violations."""
        if self.last_inspected_on is None or result.conducted_on > self.last_inspected_on:
            self.last_inspected_on = result.conducted_on
        self.violations_recorded += len(result.violations) - (len(previous.violations) if previous else 0)
        self.risk_level = result.risk_level

    def check_inspectable(self) -> None:
        if self.status in NOT_INSPECTABLE:
            raise InvalidChange(f"establishment {self.id} is {self.status}: it cannot be inspected",
                                field="establishment_id")


@dataclass(eq=False)
class Tip:
    """A tip (tin báo) about an establishment, from the cases service: open until handled or unfounded."""

    id: str
    commune_code: str
    district_code: str
    establishment_id: str | None = None
    received_at: datetime | None = None
    classification: str | None = None
    handled_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.handled_at is None and self.classification != "unfounded"


# -- plans and their visit lists ------------------------------------------------------------------------


@dataclass(eq=False)
class Plan:
    id: str
    name: str
    kind: str
    agency: str
    scope: str
    province_code: str
    period_start: date
    period_end: date
    created_by: str
    created_at: datetime
    district_code: str | None = None
    commune_codes: list[str] = field(default_factory=list)
    notes: str | None = None

    @classmethod
    def create(cls, id: str, *, by: str, at: datetime, **details) -> "Plan":
        plan = cls(id=id, created_by=by, created_at=at, **details)
        check_kind(plan.kind, plan.agency)
        if plan.period_end < plan.period_start:
            raise InvalidChange("the period ends before it starts", field="period_end")
        if plan.period_end - plan.period_start > timedelta(days=366):
            raise InvalidChange("a plan covers at most one year", field="period_end")
        if plan.scope == "communes" and not plan.commune_codes:
            raise InvalidChange("a plan over communes lists them", field="commune_codes")
        if plan.scope != "communes" and plan.commune_codes:
            raise InvalidChange("commune_codes are for a plan whose scope is 'communes'", field="commune_codes")
        if plan.scope in ("district", "communes") and not plan.district_code:
            raise InvalidChange(f"a {plan.scope} plan needs its district", field="district_code")
        if plan.scope == "province":
            plan.district_code = None
        return plan

    def covers(self, establishment: Establishment) -> bool:
        if self.scope == "province":
            return establishment.province_code == self.province_code
        if self.scope == "district":
            return establishment.district_code == self.district_code
        return establishment.commune_code in self.commune_codes

    def ranking_date(self, today: date) -> date:
        """The day the visit list is ranked for: today, held within the plan's period."""
        return min(max(today, self.period_start), self.period_end)


RISK_POINTS = {"low": 0, "medium": 20, "high": 40}
NEVER_INSPECTED_POINTS = 30
POINTS_PER_MONTH_SINCE = 2.5  # capped at 30: a year without inspection counts as much as never
POINTS_PER_VIOLATION, VIOLATION_CAP = 5, 20
POINTS_PER_OPEN_TIP, TIP_CAP = 15, 30


@dataclass(frozen=True)
class Visit:
    establishment: Establishment
    score: int
    risk_points: int
    time_points: int
    violation_points: int
    tip_points: int
    open_tips: int


def visit_score(establishment: Establishment, open_tips: int, as_of: date) -> Visit:
    """Rank = risk level + time since the last inspection + past violations + open tips (see README)."""
    risk = RISK_POINTS.get(establishment.risk_level, RISK_POINTS["medium"])
    if establishment.last_inspected_on is None or establishment.last_inspected_on > as_of:
        since = NEVER_INSPECTED_POINTS
    else:
        months = (as_of - establishment.last_inspected_on).days / 30.4
        since = min(NEVER_INSPECTED_POINTS, round(months * POINTS_PER_MONTH_SINCE))
    violations = min(VIOLATION_CAP, establishment.violations_recorded * POINTS_PER_VIOLATION)
    tips = min(TIP_CAP, open_tips * POINTS_PER_OPEN_TIP)
    return Visit(establishment, risk + since + violations + tips, risk, since, violations, tips, open_tips)


def rank_visits(establishments: list[Establishment], open_tips: dict[str, int], as_of: date) -> list[Visit]:
    """The visit list of a plan: highest score first; ties by name, then id, so the order is stable."""
    visits = [visit_score(e, open_tips.get(e.id, 0), as_of) for e in establishments if e.status not in NOT_INSPECTABLE]
    return sorted(visits, key=lambda v: (-v.score, v.establishment.name_key, v.establishment.id))


def check_kind(kind: str, agency: str) -> None:
    if kind not in KINDS:
        raise InvalidChange(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if agency not in AGENCIES:
        raise InvalidChange(f"agency must be one of {', '.join(AGENCIES)}", field="agency")
    if (kind == "inter_agency") != (agency == "inter_agency"):
        raise InvalidChange("an inter-agency inspection is led by the inter-agency team, and only it", field="agency")


# -- inspections and results ------------------------------------------------------------------------------


@dataclass(eq=False)
class TeamMember:
    user_id: str


@dataclass(eq=False)
class Result:
    """One recorded result. Never changed: a correction is a new revision beside it."""

    revision: int
    conducted_on: date
    passed: bool
    checklist: list[dict]
    violations: list[dict]
    sanctions: list[dict]
    signs_of_prostitution: bool
    people_identified: int
    people_consenting_to_referral: int
    recorded_by: str
    recorded_at: datetime
    risk_level: str
    notes: str | None = None
    correction_reason: str | None = None
    police_referral_id: str | None = None
    support_referral_batch_id: str | None = None

    @property
    def fines_total_vnd(self) -> int:
        return sum(s.get("amount_vnd") or 0 for s in self.sanctions)

    @property
    def suspension_days(self) -> int:
        return max((s.get("days") or 0 for s in self.sanctions if s["kind"] == "licence_suspension"), default=0)

    @property
    def revocation_proposed(self) -> bool:
        return any(s["kind"] == "revocation_proposal" for s in self.sanctions)

    @property
    def violation_codes(self) -> list[str]:
        return [v["code"] for v in self.violations]


@dataclass(eq=False)
class Inspection:
    id: str
    establishment_id: str
    establishment_name: str
    business_type: str
    commune_code: str
    district_code: str
    kind: str
    agency: str
    scheduled_on: date
    created_by: str
    created_at: datetime
    plan_id: str | None = None
    status: str = PLANNED
    notes: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    reinspection_of: str | None = None
    reinspection_id: str | None = None
    updated_at: datetime | None = None
    version: int = 1
    members: list[TeamMember] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)

    @classmethod
    def schedule(cls, id: str, establishment: Establishment, *, by: str, at: datetime, kind: str, agency: str,
                 scheduled_on: date, team: list[str], plan: Plan | None = None, notes: str | None = None,
                 reinspection_of: str | None = None) -> "Inspection":
        establishment.check_inspectable()
        check_kind(kind, agency)
        if plan is not None:
            if not plan.covers(establishment):
                raise InvalidChange("the establishment is outside the plan's scope", field="plan_id")
            if not plan.period_start <= scheduled_on <= plan.period_end:
                raise InvalidChange("the date is outside the plan's period", field="scheduled_on")
        inspection = cls(
            id=id, establishment_id=establishment.id, establishment_name=establishment.name,
            business_type=establishment.business_type, commune_code=establishment.commune_code,
            district_code=establishment.district_code, kind=kind, agency=agency, scheduled_on=scheduled_on,
            created_by=by, created_at=at, updated_at=at, plan_id=plan.id if plan else None, notes=notes,
            reinspection_of=reinspection_of,
        )
        inspection.team = team or [by]
        return inspection

    @property
    def team(self) -> list[str]:
        return [m.user_id for m in self.members]

    @team.setter
    def team(self, user_ids: list[str]) -> None:
        wanted = list(dict.fromkeys(u.strip() for u in user_ids if u and u.strip()))
        if not wanted:
            raise InvalidChange("an inspection team has at least one member", field="team")
        kept = [m for m in self.members if m.user_id in wanted]
        self.members[:] = kept + [TeamMember(u) for u in wanted if u not in {m.user_id for m in kept}]

    @property
    def result(self) -> Result | None:
        return self.results[-1] if self.results else None

    @property
    def corrected_results(self) -> list[Result]:
        """Earlier revisions, kept as they were recorded."""
        return self.results[:-1]

    def update(self, changes: dict, at: datetime) -> list[str]:
        """Reschedule, change the team or the notes (planned or in progress only)."""
        if self.status not in (PLANNED, IN_PROGRESS):
            raise Conflict(f"a {self.status} inspection cannot be changed", field="status")
        if "scheduled_on" in changes and self.status != PLANNED:
            raise Conflict("only a planned inspection can be rescheduled", field="scheduled_on")
        changed = []
        if "team" in changes and changes["team"] != self.team:
            self.team = changes["team"]
            changed.append("team")
        for name in ("scheduled_on", "notes"):
            if name in changes and getattr(self, name) != changes[name]:
                setattr(self, name, changes[name])
                changed.append(name)
        if changed:
            self.updated_at = at
        return changed

    def start(self, at: datetime) -> None:
        if self.status != PLANNED:
            raise Conflict(f"a {self.status} inspection cannot start", field="status")
        self.status, self.started_at, self.updated_at = IN_PROGRESS, at, at

    def cancel(self, reason: str | None, at: datetime) -> None:
        if self.status not in (PLANNED, IN_PROGRESS):
            raise Conflict(f"a {self.status} inspection cannot be cancelled", field="status")
        if not reason or not reason.strip():
            raise InvalidChange("a cancellation needs a reason", field="cancel_reason")
        self.status, self.cancel_reason, self.cancelled_at, self.updated_at = CANCELLED, reason.strip(), at, at

    def record_result(self, draft: dict, current_risk: str, by: str, at: datetime,
                      new_id: Callable[[], str]) -> Result:
        """Record the result in one go (starting the inspection if needed), or correct a recorded one.

        Signs of prostitution get a police referral id, once per inspection; people consenting to be
        referred get a support referral batch, for those not referred by an earlier revision."""
        correction = (draft.get("correction_reason") or "").strip() or None
        if self.status == CANCELLED:
            raise Conflict("the inspection was cancelled: it has no result", field="status")
        if self.status == COMPLETED and not correction:
            raise Conflict("the result is already recorded; send a correction_reason to correct it",
                           field="correction_reason")
        if self.status != COMPLETED and correction:
            raise InvalidChange("there is no recorded result to correct yet", field="correction_reason")
        checked = check_result(draft, self.business_type, self.scheduled_on if not correction else None, local_date(at))
        if self.status == PLANNED:
            self.start(datetime.combine(checked["conducted_on"], time(8, 0), LOCAL_TIME).astimezone(timezone.utc))
        previous = self.result
        police = previous.police_referral_id if previous else None
        if checked["signs_of_prostitution"] and not police:
            police = new_id()
        newly_consenting = checked["people_consenting_to_referral"] - (
            previous.people_consenting_to_referral if previous else 0)
        result = Result(revision=len(self.results) + 1, recorded_by=by, recorded_at=at, correction_reason=correction,
                        risk_level=assess_risk(previous.risk_level if previous else current_risk, checked),
                        police_referral_id=police, support_referral_batch_id=new_id() if newly_consenting > 0 else None,
                        **checked)
        self.results.append(result)
        self.status, self.completed_at, self.updated_at = COMPLETED, self.completed_at or at, at
        return result

    def follow_up(self, id: str, establishment: Establishment, by: str, at: datetime) -> "Inspection":
        """The re-inspection a failed result calls for: 30 days on, or the day after a suspension ends."""
        result = self.result
        wait = max(REINSPECTION_AFTER, timedelta(days=result.suspension_days + 1))
        again = Inspection.schedule(id, establishment, by=by, at=at, kind=self.kind, agency=self.agency,
                                    scheduled_on=result.conducted_on + wait, team=self.team,
                                    notes=f"Kiểm tra lại sau lần kiểm tra ngày {result.conducted_on:%d/%m/%Y}",
                                    reinspection_of=self.id)
        self.reinspection_id = again.id
        return again


def check_result(draft: dict, business_type: str, scheduled_on: date | None, today: date) -> dict:
    """Validate a result against the checklist of the business type and the violation catalogue."""
    conducted_on = draft["conducted_on"]
    if conducted_on > today:
        raise InvalidChange("conducted_on cannot be in the future", field="conducted_on")
    if scheduled_on and conducted_on < scheduled_on - timedelta(days=31):
        raise InvalidChange("conducted_on is long before the inspection was scheduled", field="conducted_on")
    identified, consenting = draft.get("people_identified", 0), draft.get("people_consenting_to_referral", 0)
    for name, value in (("people_identified", identified), ("people_consenting_to_referral", consenting)):
        if value < 0:
            raise InvalidChange(f"{name} cannot be negative", field=name)
    if consenting > identified:
        raise InvalidChange("more people consenting than identified", field="people_consenting_to_referral")
    answers = _check_answers(draft.get("checklist", []), business_type)
    violations = _check_violations(draft.get("violations", []), conducted_on)
    sanctions = _check_sanctions(draft.get("sanctions", []), violations, conducted_on)
    signs = bool(draft.get("signs_of_prostitution"))
    flagged = [a["item"] for a in answers if a.get("signs_of_prostitution") and a["answer"] == "yes"]
    if flagged and not signs:
        raise InvalidChange(f"checklist item {flagged[0]} records signs of prostitution", field="signs_of_prostitution")
    if identified and not signs:
        raise InvalidChange("people can only be identified where signs of prostitution were found",
                            field="people_identified")
    for answer in answers:
        answer.pop("signs_of_prostitution", None)
    return {
        "conducted_on": conducted_on, "checklist": answers, "violations": violations, "sanctions": sanctions,
        "signs_of_prostitution": signs, "people_identified": identified,
        "people_consenting_to_referral": consenting, "notes": draft.get("notes"),
        "passed": not violations and not signs,
    }


def _check_answers(answers: list[dict], business_type: str) -> list[dict]:
    items = {item["code"]: item for item in checklist(business_type)}
    seen, out = set(), []
    for i, answer in enumerate(answers):
        if answer["item"] not in items:
            raise InvalidChange(f"{answer['item']!r} is not on the {business_type} checklist",
                                field=f"checklist.{i}.item")
        if answer["item"] in seen:
            raise InvalidChange(f"{answer['item']} is answered twice", field=f"checklist.{i}.item")
        if answer["answer"] not in ANSWERS:
            raise InvalidChange(f"answer must be one of {', '.join(ANSWERS)}", field=f"checklist.{i}.answer")
        seen.add(answer["item"])
        item = items[answer["item"]]
        out.append({"item": answer["item"], "answer": answer["answer"], "note": answer.get("note"),
                    "compliant": answer["answer"] in (item["expected"], "not_applicable"),
                    "signs_of_prostitution": item.get("signs_of_prostitution", False)})
    return out


def _check_violations(violations: list[dict], conducted_on: date) -> list[dict]:
    catalogue, seen, out = violation_catalogue(), set(), []
    for i, violation in enumerate(violations):
        code = violation["code"]
        if code not in catalogue:
            raise InvalidChange(f"{code!r} is not in the violation catalogue", field=f"violations.{i}.code")
        if code in seen:
            raise InvalidChange(f"{code} is recorded twice", field=f"violations.{i}.code")
        seen.add(code)
        basis = legal_basis_on(code, conducted_on)
        out.append({"code": code, "note": violation.get("note"),
                    "legal_basis": f"{basis['reference']} Nghị định {basis['decree']}"})
    return out


def _check_sanctions(sanctions: list[dict], violations: list[dict], conducted_on: date) -> list[dict]:
    cited = {v["code"] for v in violations}
    out = []
    for i, sanction in enumerate(sanctions):
        kind, code = sanction["kind"], sanction.get("violation_code")
        amount, days = sanction.get("amount_vnd"), sanction.get("days")
        where = f"sanctions.{i}"
        if kind not in SANCTIONS:
            raise InvalidChange(f"kind must be one of {', '.join(SANCTIONS)}", field=f"{where}.kind")
        if code not in cited:
            raise InvalidChange("a sanction is for one of the violations recorded", field=f"{where}.violation_code")
        if kind != "fine" and amount is not None:
            raise InvalidChange(f"a {kind} carries no fine", field=f"{where}.amount_vnd")
        if kind != "licence_suspension" and days is not None:
            raise InvalidChange(f"a {kind} has no duration", field=f"{where}.days")
        if kind == "fine":
            basis = legal_basis_on(code, conducted_on)
            low, high = basis["fine_min_vnd"], 2 * basis["fine_max_vnd"]  # organisations: twice the individual's
            if amount is None or not low <= amount <= high:
                raise InvalidChange(f"the fine for {code} under {basis['decree']} is {low:,} to {high:,} VND",
                                    field=f"{where}.amount_vnd")
        if kind == "licence_suspension" and (days is None or not 1 <= days <= MAX_SUSPENSION_DAYS):
            raise InvalidChange(f"a suspension lasts 1 to {MAX_SUSPENSION_DAYS} days", field=f"{where}.days")
        if kind in ("licence_suspension", "revocation_proposal") and \
                kind not in violation_catalogue()[code]["additional_sanctions"]:
            raise InvalidChange(f"{code} does not carry a {kind}", field=f"{where}.kind")
        out.append({"kind": kind, "violation_code": code, "amount_vnd": amount, "days": days})
    return out


def assess_risk(current: str, result: dict) -> str:
    """The establishment's risk after a result (see README):

    high   — signs of prostitution, a serious violation, a suspension or a revocation proposal;
    up one level (at least medium) — any other violation;
    down one level — a clean result.
    """
    serious = any(violation_catalogue()[v["code"]]["serious"] for v in result["violations"])
    heavy = any(s["kind"] in ("licence_suspension", "revocation_proposal") for s in result["sanctions"])
    level = RISK_LEVELS.index(current) if current in RISK_LEVELS else 1
    if result["signs_of_prostitution"] or serious or heavy:
        return "high"
    if result["violations"]:
        return RISK_LEVELS[max(1, min(2, level + 1))]
    return RISK_LEVELS[max(0, level - 1)]
