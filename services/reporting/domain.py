"""The reporting service's domain: commune reports and their workflow, the plan's targets,
how an indicator is judged against its target, and small-count suppression.

Pure Python: no Flask, no SQLAlchemy, no broker. Rules live here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from contracts import periods

#: Vietnam's time (UTC+7): "today" for a commune officer.
LOCAL_TIME = timezone(timedelta(hours=7), "ICT")

DRAFT, SUBMITTED, APPROVED, UNLOCKED = "draft", "submitted", "approved", "unlocked"
REPORT_STATUSES = (DRAFT, SUBMITTED, APPROVED, UNLOCKED)
REPORT_PERIOD_KINDS = ("month", "quarter")
REPORT_FIELDS = ("activities_count", "audience", "media_items", "establishments_counted",
                 "registered_healthy", "recognised_healthy", "notes")
COUNT_FIELDS = ("activities_count", "audience", "media_items", "establishments_counted")

MET, AT_RISK, MISSED = "met", "at_risk", "missed"
SMALL = "<5"  # what a count from 1 to 4 shows as
CASE_STAGES = ("opened", "investigation", "prosecution", "trial", "verdict")


def local_date(at: datetime) -> date:
    return at.astimezone(LOCAL_TIME).date()


class ReportingError(Exception):
    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(ReportingError):
    pass


class InvalidChange(ReportingError):
    """The change breaks a rule (422)."""


class Conflict(ReportingError):
    """The change contradicts the report's state (409)."""


# -- commune reports --------------------------------------------------------------------------
@dataclass(eq=False)
class ReportStep:
    action: str  # created, updated, submitted, approved, unlocked
    status: str
    by: str
    at: datetime
    reason: str | None = None


@dataclass(eq=False)
class CommuneReport:
    """What a commune reports for a month or a quarter (what no other service knows)."""

    id: str
    commune_code: str
    district_code: str
    province_code: str
    period: str
    period_start: date
    period_end: date
    created_by: str
    created_at: datetime
    activities_count: int = 0
    audience: int = 0
    media_items: int = 0
    establishments_counted: int | None = None
    registered_healthy: bool = False
    recognised_healthy: bool = False
    notes: str | None = None
    status: str = DRAFT
    submitted_by: str | None = None
    updated_at: datetime | None = None
    version: int = 1
    history: list[ReportStep] = field(default_factory=list)

    @classmethod
    def create(cls, id: str, *, commune_code: str, district_code: str, province_code: str, period: str,
               by: str, at: datetime, **values) -> "CommuneReport":
        parsed = check_report_period(period, local_date(at))
        report = cls(id=id, commune_code=commune_code, district_code=district_code, province_code=province_code,
                     period=parsed.code, period_start=parsed.start, period_end=parsed.end,
                     created_by=by, created_at=at, updated_at=at)
        report._apply(values)
        report.history.append(ReportStep("created", DRAFT, by, at))
        return report

    @property
    def locked(self) -> bool:
        return self.status == APPROVED

    def update(self, values: dict, by: str, at: datetime) -> list[str]:
        if self.locked:
            raise Conflict("the report is approved and locked: the level above must unlock it, with a reason",
                           field="status")
        if self.status == SUBMITTED:
            raise Conflict("the report is submitted: the district approves it or it stays as it is", field="status")
        changed = self._apply(values)
        if changed:
            self.updated_at = at
            self.history.append(ReportStep("updated", self.status, by, at))
        return changed

    def _apply(self, values: dict) -> list[str]:
        unknown = set(values) - set(REPORT_FIELDS)
        if unknown:
            raise InvalidChange(f"cannot set {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
        merged = {name: values.get(name, getattr(self, name)) for name in REPORT_FIELDS}
        check_report_values(merged)
        changed = [name for name in REPORT_FIELDS if getattr(self, name) != merged[name]]
        for name in changed:
            setattr(self, name, merged[name])
        return changed

    def submit(self, by: str, at: datetime) -> ReportStep:
        if self.status not in (DRAFT, UNLOCKED):
            raise Conflict(f"a {self.status} report cannot be submitted", field="status")
        self.submitted_by = by
        return self._step("submitted", SUBMITTED, by, at)

    def approve(self, by: str, at: datetime) -> ReportStep:
        if self.status != SUBMITTED:
            raise Conflict(f"only a submitted report can be approved (this one is {self.status})", field="status")
        if by == self.submitted_by:
            raise Conflict("the person who submitted a report cannot approve it", field="status")
        return self._step("approved", APPROVED, by, at)

    def unlock(self, reason: str | None, by: str, at: datetime) -> ReportStep:
        if not self.locked:
            raise Conflict("only an approved (locked) report can be unlocked", field="status")
        if not reason or not reason.strip():
            raise InvalidChange("unlocking a report needs a reason", field="reason")
        return self._step("unlocked", UNLOCKED, by, at, reason.strip())

    def _step(self, action: str, status: str, by: str, at: datetime, reason: str | None = None) -> ReportStep:
        step = ReportStep(action, status, by, at, reason)
        self.status, self.updated_at = status, at
        self.history.append(step)
        return step


def check_report_period(code: str, today: date) -> periods.Period:
    try:
        parsed = periods.parse(code)
    except ValueError as exc:
        raise InvalidChange(str(exc), field="period") from None
    if parsed.kind not in REPORT_PERIOD_KINDS:
        raise InvalidChange("a commune reports per month (202001) or per quarter (2020Q1)", field="period")
    if parsed.start > today:
        raise InvalidChange("a report cannot be for a period that has not started", field="period")
    return parsed


def check_report_values(values: dict) -> None:
    for name in COUNT_FIELDS:
        value = values.get(name)
        if value is not None and value < 0:
            raise InvalidChange(f"{name} cannot be negative", field=name)
    if values.get("audience") and not values.get("activities_count"):
        raise InvalidChange("an audience needs at least one activity", field="audience")
    if values.get("recognised_healthy") and not values.get("registered_healthy"):
        raise InvalidChange("a commune is recognised as healthy only if it registered to become healthy",
                            field="recognised_healthy")


def overlaps(a: periods.Period, b: periods.Period) -> bool:
    return a.start <= b.end and b.start <= a.end


# -- the plan and its targets ----------------------------------------------------------------
RATIO, COUNT = "ratio", "count"
PLAN_INDICATOR_KEYS = {"id", "section", "name_vi", "name_en", "kind", "target", "target_count", "applies_to",
                       "source", "suppress"}


def check_plan(document: dict) -> dict:
    """Validate a plan document (targets as data); return it unchanged or raise InvalidChange."""
    for key in ("id", "title_vi", "province_code", "year", "indicators"):
        if key not in document:
            raise InvalidChange(f"a plan needs {key}", field=key)
    if not isinstance(document["indicators"], list) or not document["indicators"]:
        raise InvalidChange("a plan lists its indicators", field="indicators")
    margin = document.get("at_risk_margin", 10)
    if not isinstance(margin, (int, float)) or not 0 <= margin <= 100:
        raise InvalidChange("at_risk_margin is a number of percentage points from 0 to 100", field="at_risk_margin")
    seen = set()
    for i, indicator in enumerate(document["indicators"]):
        where = f"indicators.{i}"
        unknown = set(indicator) - PLAN_INDICATOR_KEYS
        if unknown:
            raise InvalidChange(f"unknown keys {', '.join(sorted(unknown))}", field=where)
        if indicator.get("id") in seen or not indicator.get("id"):
            raise InvalidChange("every indicator has a unique id", field=f"{where}.id")
        seen.add(indicator["id"])
        if indicator.get("kind") not in (RATIO, COUNT):
            raise InvalidChange("kind is ratio or count", field=f"{where}.kind")
        target = indicator.get("target")
        if target is not None and (not isinstance(target, (int, float)) or target < 0
                                   or (indicator["kind"] == RATIO and target > 100)):
            raise InvalidChange("a target is a non-negative number (a percentage for a ratio)", field=f"{where}.target")
        for kind in indicator.get("applies_to") or []:
            if kind not in ("year", "half_year", "quarter", "month"):
                raise InvalidChange("applies_to lists period kinds: year, half_year, quarter, month",
                                    field=f"{where}.applies_to")
    return document


def judge(value: float | None, target: float | None, margin: float, period_over: bool) -> str | None:
    """Met, at risk or missed: at risk is below the target but within ``margin`` points of it,
    or below it while the period is still running; missed is further below once the period is over."""
    if value is None or target is None:
        return None
    if value >= target:
        return MET
    if not period_over or value >= target - margin:
        return AT_RISK
    return MISSED


def percentage(numerator: int, denominator: int) -> float | None:
    return round(100.0 * numerator / denominator, 1) if denominator else None


# -- small-count suppression -----------------------------------------------------------------
def is_small(value: int) -> bool:
    return 1 <= value <= 4


INF = float("inf")


def suppress_line(values: list[int], total: int) -> tuple[list[bool], bool]:
    """Which cells of one line (children and their total) to hide; see `suppress_table`."""
    _cells, hidden, _columns, grand_hidden = suppress_table([[] for _ in values], list(values), [], total)
    return hidden, grand_hidden


def suppress_breakdowns(tables: list[list[list[int]]], row_totals: list[int],
                        grand_total: int) -> tuple[list[list[list[bool]]], list[list[bool]], list[bool], bool]:
    """Protect several breakdowns of the same rows (by sex, by age band...) that share their row
    totals and grand total: a total hidden in one is hidden in all, until nothing changes.

    Returns, per table, the hidden cells and hidden column totals; then the shared hidden row
    totals and grand total."""
    shared, grand = [False] * len(row_totals), False
    while True:
        results = []
        for cells in tables:
            columns = [sum(row[c] for row in cells) for c in range(len(cells[0]) if cells else 0)]
            results.append(suppress_table(cells, row_totals, columns, grand_total, shared, grand))
        new_shared = [any(r[1][i] for r in results) or shared[i] for i in range(len(row_totals))]
        new_grand = any(r[3] for r in results) or grand
        if (new_shared, new_grand) == (shared, grand):
            return [r[0] for r in results], [r[2] for r in results], shared, grand
        shared, grand = new_shared, new_grand


def suppress_table(cells: list[list[int]], row_totals: list[int], column_totals: list[int], grand_total: int,
                   hidden_row_totals: list[bool] | None = None,
                   hidden_grand_total: bool = False) -> tuple[list[list[bool]], list[bool], list[bool], bool]:
    """Hide every count from 1 to 4 (primary suppression, shown "<5"), then hide more cells
    (complementary suppression, shown "x") until, on every line (a row with its total, a column
    with its total, the totals with the grand total), no hidden count can be worked out from the
    shown ones: not by subtraction, and not by narrowing "<5" and "x" (5 or more) against the total.

    ``hidden_row_totals`` and ``hidden_grand_total`` carry what another table sharing these
    totals already hides, so that tables published side by side stay consistent.
    Returns the hidden flags of the cells, the row totals, the column totals and the grand total.
    """
    rows = len(cells)
    columns = len(column_totals)
    # One grid with margins: the last row and the last column are the totals.
    grid = [list(cells[r]) + [row_totals[r]] for r in range(rows)] + [list(column_totals) + [grand_total]]
    hidden = [[is_small(v) for v in line] for line in grid]
    for r, flag in enumerate(hidden_row_totals or []):
        hidden[r][columns] = hidden[r][columns] or flag
    hidden[rows][columns] = hidden[rows][columns] or hidden_grand_total
    lines = [[(r, c) for c in range(columns + 1)] for r in range(rows + 1)]
    lines += [[(r, c) for r in range(rows + 1)] for c in range(columns + 1)]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if not _disclosive(grid, hidden, line):
                continue
            candidates = [p for p in line if not hidden[p[0]][p[1]]]
            # Prefer the smallest non-zero interior cell; a zero hides little; the total comes last.
            candidates.sort(key=lambda p: (p == line[-1], grid[p[0]][p[1]] == 0, grid[p[0]][p[1]]))
            if candidates:
                r, c = candidates[0]
                hidden[r][c] = True
                changed = True
    return ([row[:columns] for row in hidden[:rows]], [row[columns] for row in hidden[:rows]],
            hidden[rows][:columns], hidden[rows][columns])


def _disclosive(grid, hidden, line) -> bool:
    """Whether a reader could pin down a hidden cell of this line (the last cell is the line's total)."""
    def bounds(p):
        value = grid[p[0]][p[1]]
        if not hidden[p[0]][p[1]]:
            return value, value
        return (1, 4) if is_small(value) else (0 if value == 0 else 5, INF)

    concealed = [p for p in line if hidden[p[0]][p[1]]]
    if not concealed:
        return False
    if len(concealed) == 1:
        return True
    *interior, total = line
    t_lo, t_hi = bounds(total)
    for p in concealed:
        lo, hi = bounds(p)
        if p == total:
            low = sum(bounds(q)[0] for q in interior)
            high = sum(bounds(q)[1] for q in interior)
        else:
            others = [bounds(q) for q in interior if q != p]
            low = t_lo - sum(b[1] for b in others)
            high = t_hi - sum(b[0] for b in others)
        if max(lo, low) == min(hi, high):
            return True
    return False


def shown(value: int | None, hidden: bool) -> str | None:
    """A count as published: "<5" for 1–4; a cell hidden to protect another as "x"."""
    if value is None:
        return None
    if hidden:
        return SMALL if is_small(value) else "x"
    return str(value)
