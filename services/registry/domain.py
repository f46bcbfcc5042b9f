"""The registry's domain model: establishments, their status history and periodic reviews.

Pure Python: no Flask, no SQLAlchemy, no broker. Rules live here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from contracts import periods
from contracts.text import fold

BUSINESS_TYPES = (
    "karaoke", "dance_hall", "massage", "sauna_spa", "accommodation", "bar", "hair_salon_massage", "other",
)
RISK_LEVELS = ("low", "medium", "high")
REVIEW_OUTCOMES = ("compliant", "issues_found", "not_operating")
ACTIVE, SUSPENDED, REVOKED, CLOSED = "active", "suspended", "revoked", "closed"
STATUSES = (ACTIVE, SUSPENDED, REVOKED, CLOSED)

#: Which status may follow which. Revoked and closed are final, except that a revoked
#: business may later be recorded as closed.
TRANSITIONS = {
    ACTIVE: {SUSPENDED, REVOKED, CLOSED},
    SUSPENDED: {ACTIVE, REVOKED, CLOSED},
    REVOKED: {CLOSED},
    CLOSED: set(),
}
EDITABLE = ("name", "business_type", "licence_number", "owner_name", "address", "commune_code", "employees",
            "risk_level", "operating_since")

#: Vietnam's time (UTC+7, no daylight saving): "today" for a Sơn La inspector at 01:00 is not UTC's.
LOCAL_TIME = timezone(timedelta(hours=7), "ICT")


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TIME).date()


class RegistryError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(RegistryError):
    pass


class InvalidChange(RegistryError):
    """The change breaks a rule of the register (422)."""


class Conflict(RegistryError):
    """The change contradicts what is already recorded (409)."""


@dataclass(eq=False)
class StatusChange:
    status: str
    previous_status: str | None
    reason: str
    effective_on: date
    changed_by: str
    changed_at: datetime


@dataclass(eq=False)
class Review:
    period: str
    reviewed_on: date
    outcome: str
    risk_level: str
    notes: str | None
    reviewed_by: str
    recorded_at: datetime


@dataclass(eq=False)
class Establishment:
    id: str
    name: str
    business_type: str
    owner_name: str
    address: str
    commune_code: str
    district_code: str
    province_code: str
    registered_by: str
    registered_at: datetime
    licence_number: str | None = None
    operating_since: date | None = None  # when the business opened; defaults to the day it is registered
    employees: int | None = None
    risk_level: str = "medium"
    status: str = ACTIVE
    status_reason: str | None = None
    updated_at: datetime | None = None
    name_key: str = ""
    version: int = 1
    status_history: list[StatusChange] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @classmethod
    def register(cls, id: str, *, by: str, at: datetime, **details) -> "Establishment":
        _check_details(details, local_date(at))
        establishment = cls(id=id, registered_by=by, registered_at=at, updated_at=at, **details)
        establishment.operating_since = establishment.operating_since or local_date(at)
        establishment.name_key = fold(establishment.name)
        establishment.status_history.append(
            StatusChange(ACTIVE, None, "registered", local_date(at), by, at)
        )
        return establishment

    def update(self, changes: dict, at: datetime) -> list[str]:
        """Apply the changed details; return the names of the fields that really changed."""
        unknown = set(changes) - set(EDITABLE) - {"district_code", "province_code"}
        if unknown:
            raise InvalidChange(f"cannot change {', '.join(sorted(unknown))} here", field=sorted(unknown)[0])
        if self.status == CLOSED:
            raise Conflict("a closed establishment cannot be changed", field="status")
        _check_details(changes, local_date(at))
        changed = [k for k, v in changes.items() if getattr(self, k) != v]
        for name in changed:
            setattr(self, name, changes[name])
        if "name" in changed:
            self.name_key = fold(self.name)
        if changed:
            self.updated_at = at
        return [c for c in changed if c in EDITABLE]

    def change_status(self, status: str, reason: str, effective_on: date, by: str, at: datetime) -> StatusChange:
        if status not in STATUSES:
            raise InvalidChange(f"unknown status {status!r}", field="status")
        if not reason or not reason.strip():
            raise InvalidChange("a status change needs a reason", field="reason")
        if status not in TRANSITIONS[self.status]:
            raise Conflict(f"an establishment that is {self.status} cannot become {status}", field="status")
        if effective_on > local_date(at):
            raise InvalidChange("a status change cannot take effect in the future", field="effective_on")
        change = StatusChange(status, self.status, reason.strip(), effective_on, by, at)
        self.status_history.append(change)
        self.status, self.status_reason, self.updated_at = status, change.reason, at
        return change

    def assess_risk(self, risk_level: str, at: datetime) -> bool:
        """Take the risk level an inspection assessed; return whether it changed."""
        if risk_level not in RISK_LEVELS:
            raise InvalidChange(f"risk_level must be one of {', '.join(RISK_LEVELS)}", field="risk_level")
        if risk_level == self.risk_level:
            return False
        self.risk_level, self.updated_at = risk_level, at
        return True

    def may_become(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]

    def record_review(self, period: str, reviewed_on: date, outcome: str, risk_level: str | None,
                      notes: str | None, by: str, at: datetime) -> Review:
        try:
            parsed = periods.parse(period)
        except ValueError as exc:
            raise InvalidChange(str(exc), field="period") from None
        if parsed.kind not in ("half_year", "year"):
            raise InvalidChange("reviews are half-yearly (2020S1) or yearly (2020)", field="period")
        if outcome not in REVIEW_OUTCOMES:
            raise InvalidChange(f"outcome must be one of {', '.join(REVIEW_OUTCOMES)}", field="outcome")
        if self.operating_since and parsed.end < self.operating_since:
            raise InvalidChange(f"the establishment was not operating yet in {period}", field="period")
        if reviewed_on < parsed.start or reviewed_on > local_date(at):
            raise InvalidChange("the review date must be in or after its period, and not in the future",
                                field="reviewed_on")
        if self.status not in (ACTIVE, SUSPENDED):
            raise Conflict(f"a {self.status} establishment is no longer reviewed", field="status")
        if any(r.period == period for r in self.reviews):
            raise Conflict(f"the review for {period} is already recorded", field="period")
        risk = risk_level or self.risk_level
        if risk not in RISK_LEVELS:
            raise InvalidChange(f"risk_level must be one of {', '.join(RISK_LEVELS)}", field="risk_level")
        review = Review(period, reviewed_on, outcome, risk, notes, by, at)
        self.reviews.append(review)
        self.risk_level, self.updated_at = risk, at
        return review

    def is_due_for_review(self, period: str) -> bool:
        parsed = periods.parse(period)
        return (
            self.status in (ACTIVE, SUSPENDED)
            and (self.operating_since or local_date(self.registered_at)) <= parsed.end
            and not any(r.period == period for r in self.reviews)
        )


def _check_details(details: dict, today: date) -> None:
    if details.get("operating_since") and details["operating_since"] > today:
        raise InvalidChange("operating_since cannot be in the future", field="operating_since")
    if "business_type" in details and details["business_type"] not in BUSINESS_TYPES:
        raise InvalidChange(f"business_type must be one of {', '.join(BUSINESS_TYPES)}", field="business_type")
    if "risk_level" in details and details["risk_level"] not in RISK_LEVELS:
        raise InvalidChange(f"risk_level must be one of {', '.join(RISK_LEVELS)}", field="risk_level")
    if details.get("employees") is not None and details["employees"] < 0:
        raise InvalidChange("employees cannot be negative", field="employees")
    for name in ("name", "owner_name", "address"):
        if name in details and not (details[name] or "").strip():
            raise InvalidChange(f"{name} cannot be empty", field=name)
