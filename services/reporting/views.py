"""Read-side queries of the reporting service: organisation units, indicators per unit and
period (with children for drill-down), support tables with small counts hidden, commune
report lists, the projection's state. Aggregates only: nothing here returns a person."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import Date, and_, bindparam, case, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from chassis.api import order_by
from chassis.auth import Principal
from contracts import periods
from contracts.events.support import AGE_BANDS, SEXES
from contracts.refdata import units
from services.reporting import domain
from services.reporting.domain import APPROVED, COUNT, CommuneReport, NotFound
from services.reporting.handlers import replay_group
from services.reporting.repository import PlanRepository, shipped_plans
from services.reporting.rollup import CLOSED, COUNTRY, INSPECTED, INSPECTIONS_PREFIX, OPENED
from services.reporting.tables import (
    commune_reports, p_cases, p_establishments, p_hotspots, p_inspections, p_reviews, p_support, plans,
    projection_state, r_monthly,
)

SORTABLE = {"period": commune_reports.c.period_start, "commune_code": commune_reports.c.commune_code,
            "status": commune_reports.c.status, "updated_at": commune_reports.c.updated_at}
SUPPORT_MEASURES = ("people_supported", "legal_aid", "health_care", "vocational_training", "job_placement",
                    "reintegrated")
BREAKDOWNS = {"sex": SEXES, "age_band": AGE_BANDS}


# -- organisation units ------------------------------------------------------------------------
@dataclass(frozen=True)
class OrgUnit:
    code: str
    name: str
    level: str  # country (only in-process: the API serves provinces), province, district, commune
    province_code: str
    district_code: str | None

    def children(self) -> list["OrgUnit"]:
        admin = units()
        if self.level == "country":
            return [org_unit(code) for code in sorted(admin.provinces)]
        if self.level == "province":
            return [org_unit(d.code) for d in sorted(admin.districts_in(self.code), key=lambda u: u.code)]
        if self.level == "district":
            return [org_unit(c.code) for c in sorted(admin.communes_in(self.code), key=lambda u: u.code)]
        return []

    def communes(self) -> list[str]:
        admin = units()
        if self.level == "commune":
            return [self.code]
        if self.level == "country":
            return list(admin.communes)
        districts = [d.code for d in admin.districts_in(self.code)] if self.level == "province" else [self.code]
        return [c.code for d in districts for c in admin.communes_in(d)]

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level, "district_code": self.district_code,
                "province_code": self.province_code}


def org_unit(code: str) -> OrgUnit:
    admin = units()
    if code == COUNTRY:
        return OrgUnit(COUNTRY, "Việt Nam", "country", "", None)
    if len(code) == 2 and code in admin.provinces:
        return OrgUnit(code, admin.provinces[code].name, "province", code, None)
    if len(code) == 3 and code in admin.districts:
        return OrgUnit(code, admin.districts[code].name, "district", admin.province_of_district(code), code)
    if len(code) == 5 and code in admin.communes:
        district = admin.district_of(code)
        return OrgUnit(code, admin.communes[code].name, "commune", admin.province_of_district(district), district)
    raise NotFound(f"no organisation unit {code}")


def visible_unit(actor: Principal, code: str | None, provinces: tuple[str, ...]) -> OrgUnit:
    """The unit asked for, if this user may see it: a district user sees their district and its communes."""
    unit = org_unit(code or actor.district or provinces[0])
    if unit.province_code not in provinces or (actor.district and unit.district_code != actor.district):
        raise NotFound(f"no organisation unit {unit.code} for you")
    return unit


def parse_period(code: str) -> periods.Period:
    try:
        return periods.parse(code)
    except ValueError as exc:
        raise domain.InvalidChange(str(exc), field="period") from None


# -- plans -------------------------------------------------------------------------------------
def plan_for(session: Session, province_code: str, year: int) -> dict | None:
    row = session.execute(select(plans).where(plans.c.province_code == province_code, plans.c.year == year)).first()
    if row is not None:
        return {**row.document, "version": row.version}
    for document in shipped_plans().values():
        if document["province_code"] == province_code and document["year"] == year:
            return {**document, "version": 0}
    return None


def untargeted(session: Session, province_code: str) -> dict:
    """For a year without a plan: the indicators of the province's nearest plan, without targets."""
    known = [p for p in plan_list(session) if p["province_code"] == province_code] or plan_list(session)
    if not known:
        return {"indicators": [], "at_risk_margin": 10}
    latest = max(known, key=lambda p: p["year"])
    return {"id": None, "title_vi": None, "title_en": None, "at_risk_margin": latest.get("at_risk_margin", 10),
            "indicators": [{**i, "target": None, "target_count": None} for i in latest["indicators"]]}


def plan_list(session: Session) -> list[dict]:
    found = {d["id"]: {**d, "version": 0} for d in shipped_plans().values()}
    for row in session.execute(select(plans)):
        found[row.id] = {**row.document, "version": row.version}
    return [found[k] for k in sorted(found)]


def plan(session: Session, plan_id: str) -> dict:
    return PlanRepository(session).get(plan_id)


# -- indicators --------------------------------------------------------------------------------
def indicators(session: Session, unit: OrgUnit, period: periods.Period, today: date | None = None) -> dict:
    """Every indicator of the plan for ``unit`` and ``period``, and the same for each child unit."""
    today = today or domain.local_date(datetime.now(timezone.utc))
    document = plan_for(session, unit.province_code, period.start.year) or untargeted(session, unit.province_code)
    group = "district" if unit.level == "province" else "commune"
    children = unit.children()
    keys = [c.code for c in children] or [unit.code]
    measured = _measure(session, unit, period, group)
    support = _support_lines(session, unit.province_code, period)
    over = period.end < today
    rows, child_rows = [], {k: [] for k in keys}
    for spec in document["indicators"]:
        values = measured.get(spec["id"], {})
        applies = not spec.get("applies_to") or period.kind in spec["applies_to"]
        target = spec.get("target") if applies else None
        margin = document.get("at_risk_margin", 10)
        if spec["id"] in SUPPORT_MEASURES:
            rows.append(_support_row(spec, support[spec["id"]], unit))
            for k in keys:
                child_rows[k].append(_support_row(spec, support[spec["id"]], org_unit(k)))
            continue
        total_n = sum(v[0] for v in values.values())
        total_d = sum(v[1] for v in values.values())
        row = _row(spec, total_n, total_d, target, margin, over)
        if spec.get("target_count") and applies and unit.level == "province":
            row["target_count"] = spec["target_count"]
        rows.append(row)
        for k in keys:
            n, d = values.get(k, (0, 0))
            child_rows[k].append(_row(spec, n, d, target, margin, over))
    return {
        "org_unit": unit.as_dict(), "period": {"code": period.code, "kind": period.kind,
                                                "start": period.start, "end": period.end, "over": over},
        "plan": {"id": document.get("id"), "title_vi": document.get("title_vi"), "title_en": document.get("title_en")},
        "indicators": rows,
        "children": [{"org_unit": c.as_dict(), "indicators": child_rows[c.code]} for c in children],
    }


def _row(spec: dict, numerator: int, denominator: int, target, margin: float, over: bool) -> dict:
    if spec["kind"] == COUNT:
        value = numerator
        denominator = None
    else:
        value = domain.percentage(numerator, denominator)
    return {"id": spec["id"], "section": spec.get("section"), "name_vi": spec["name_vi"], "name_en": spec["name_en"],
            "kind": spec["kind"], "numerator": numerator, "denominator": denominator, "value": value,
            "shown": None if value is None else str(value), "target": target,
            "status": domain.judge(value, target, margin, over)}


def _support_row(spec: dict, line: dict, unit: OrgUnit) -> dict:
    """A support count as published: hidden ("<5" or "x") when the province's table hides it."""
    if unit.level == "commune":
        count, hidden = None, False  # support data is by district, never by commune
    elif unit.level == "district":
        count, hidden = line["rows"].get(unit.code, 0), line["hidden"].get(unit.code, False)
    else:
        count, hidden = line["total"], line["total_hidden"]
    return {"id": spec["id"], "section": spec.get("section"), "name_vi": spec["name_vi"], "name_en": spec["name_en"],
            "kind": COUNT, "numerator": None if hidden else count, "denominator": None,
            "value": None if hidden else count, "shown": domain.shown(count, hidden), "target": spec.get("target"),
            "status": None, "suppressed": hidden}


def _operating(period: periods.Period):
    e = p_establishments.c
    return and_(e.opened_on <= period.end, or_(e.closed_on.is_(None), e.closed_on > period.end))


def _review_periods(period: periods.Period) -> list[str]:
    year = period.start.year
    if period.kind == "year":
        return [str(year), f"{year}S1", f"{year}S2"]
    if period.kind == "half_year":
        return [period.code]
    return [periods.half_year_of(period.start)]


def _within(query, unit: OrgUnit, district_col, commune_col):
    """``query`` limited to the rows of ``unit`` (the country: every row)."""
    if unit.level == "country":
        return query
    if unit.level == "province":
        return query.where(district_col.in_([d.code for d in units().districts_in(unit.code)]))
    if unit.level == "district":
        return query.where(district_col == unit.code)
    return query.where(commune_col == unit.code)


def _grouped(session, query, key_col, unit: OrgUnit, district_col, commune_col) -> dict:
    query = _within(query, unit, district_col, commune_col)
    return {row[0]: row[1] for row in session.execute(query.group_by(key_col))}


# -- the monthly rollup (rollup.py): counts per unit, month and measure -------------------------
@dataclass
class Rolled:
    """A unit's rollup for a period: each measure's sum over the period's months
    (``in_period``) and over every month up to its end (``to_end``)."""
    in_period: dict
    to_end: dict

    def count(self, measure: str) -> int:
        return self.in_period.get(measure, 0)

    def operating(self) -> int:
        """Establishments operating at the end of the period."""
        return self.to_end.get(OPENED, 0) - self.to_end.get(CLOSED, 0)


def _month(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}"


def _rolled(session: Session, codes: list[str], period: periods.Period) -> dict[str, Rolled]:
    """The rollup of each of ``codes`` for ``period``: one query over a few rows per unit and month."""
    r = r_monthly.c
    first, last = _month(period.start), _month(period.end)
    query = (select(r.unit_code, r.measure, func.sum(case((r.month >= first, r.value), else_=0)), func.sum(r.value))
             .where(r.unit_code.in_(codes), r.month <= last).group_by(r.unit_code, r.measure))
    out = {code: Rolled({}, {}) for code in codes}
    for code, measure, in_period, to_end in session.execute(query):
        out[code].in_period[measure] = int(in_period or 0)
        out[code].to_end[measure] = int(to_end or 0)
    return out


#: A unit's rollup rows up to a month. Built once: the dashboard's trend reads it on every call, and
#: building a statement and its cache key cost more than PostgreSQL's own work on it (docs/benchmarks.md).
_UNIT_MONTHS = (select(r_monthly.c.month, r_monthly.c.measure, r_monthly.c.value)
                .where(r_monthly.c.unit_code == bindparam("unit"), r_monthly.c.month <= bindparam("last"))
                .order_by(r_monthly.c.month))


def monthly(session: Session, unit: OrgUnit, year: int) -> list[dict]:
    """The unit's inspections by kind, establishments operating at each month's end and those
    inspected in the month, for the 12 months of ``year``, from the rollup (one query)."""
    before, months = defaultdict(int), {f"{year:04d}{m:02d}": defaultdict(int) for m in range(1, 13)}
    for month, measure, value in session.execute(_UNIT_MONTHS, {"unit": unit.code, "last": f"{year:04d}12"}).all():
        (months[month] if month in months else before)[measure] += value
    out, operating = [], before[OPENED] - before[CLOSED]
    for month, values in months.items():
        operating += values[OPENED] - values[CLOSED]
        out.append({"period": month, "operating": operating, "inspected": values[INSPECTED],
                    **{m[len(INSPECTIONS_PREFIX):]: v for m, v in values.items() if m.startswith(INSPECTIONS_PREFIX)}})
    return out


def _measure(session: Session, unit: OrgUnit, period: periods.Period, group: str) -> dict[str, dict]:
    """Numerator and denominator of every non-support indicator, per child unit."""
    def by(table):
        return table.c.district_code if group == "district" else table.c.commune_code

    def grouped(table, condition, count=None):
        query = select(by(table), count if count is not None else func.count()).where(condition)
        return _grouped(session, query, by(table), unit, table.c.district_code, table.c.commune_code)

    def ratio(numerators: dict, denominators: dict) -> dict:
        return {k: (numerators.get(k, 0), denominators.get(k, 0)) for k in set(numerators) | set(denominators)}

    e, i = p_establishments.c, p_inspections.c
    communes_per_child = defaultdict(int)
    admin = units()
    for code in unit.communes():
        communes_per_child[admin.district_of(code) if group == "district" else code] += 1
    out: dict[str, dict] = {}

    # II.1 and II.5: the communes' own (approved) reports, the latest in the period per commune.
    latest = _latest_reports(session, unit, period)
    communicated, media, healthy, registered = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(int)
    counted: dict[str, int] = {}
    for report in _approved_in(session, unit, period):
        key = report.district_code if group == "district" else report.commune_code
        media[key] += report.media_items
    for code, report in latest.items():
        key = report.district_code if group == "district" else code
        healthy[key] += bool(report.recognised_healthy)
        registered[key] += bool(report.registered_healthy)
        if report.establishments_counted is not None:
            counted[code] = report.establishments_counted
    for code in _communicated(session, unit, period):
        communicated[admin.district_of(code) if group == "district" else code] += 1
    out["communes_communication"] = ratio(communicated, communes_per_child)
    out["media_items"] = {k: (v, 0) for k, v in media.items()}
    out["communes_healthy"] = ratio(healthy, communes_per_child)
    out["communes_registered_healthy"] = ratio(registered, communes_per_child)

    # II.2: establishments in the register against what the communes counted; periodic reviews.
    # Establishments operating and inspections counted come from the monthly rollup.
    rolled = _rolled(session, [child.code for child in unit.children()] or [unit.code], period)
    operating = {k: v.operating() for k, v in rolled.items()}
    per_commune = {k: v.operating() for k, v in _rolled(session, sorted(counted), period).items()}
    reg_n, reg_d = defaultdict(int), defaultdict(int)
    for code, count in counted.items():
        key = admin.district_of(code) if group == "district" else code
        in_register = per_commune.get(code, 0)
        reg_n[key] += in_register
        reg_d[key] += max(count, in_register)
    out["establishments_registered"] = ratio(reg_n, reg_d)
    reviewed = exists().where(and_(p_reviews.c.establishment_id == e.id,
                                   p_reviews.c.period.in_(_review_periods(period))))
    out["establishments_reviewed"] = ratio(grouped(p_establishments, and_(_operating(period), reviewed)), operating)

    # II.3: inspections carried out; establishments inspected at least once in the period.
    for kind in ("specialised", "inter_agency"):
        out[f"inspections_{kind}"] = {k: (v.count(INSPECTIONS_PREFIX + kind), 0) for k, v in rolled.items()}
    if period.kind == "month":
        inspected_in = {k: v.count(INSPECTED) for k, v in rolled.items()}
    else:  # at least once in several months: not a sum of months, so from the rows
        done = and_(i.state == "completed", i.conducted_on >= period.start, i.conducted_on <= period.end)
        inspected = exists().where(and_(i.establishment_id == e.id, done))
        inspected_in = grouped(p_establishments, and_(_operating(period), inspected))
    out["establishments_inspected"] = ratio(inspected_in, operating)

    # II.4: hotspots open during the period and eliminated by its end; cases moving to trial.
    open_hotspots, eliminated = _hotspot_conditions(period.start, period.end)
    out["hotspots_eliminated"] = ratio(grouped(p_hotspots, and_(open_hotspots, eliminated)),
                                       grouped(p_hotspots, open_hotspots))
    active_cases, stages = _case_conditions(period.start, period.end)
    cases_total = grouped(p_cases, active_cases)
    for indicator, reached in stages.items():
        out[indicator] = ratio(grouped(p_cases, and_(active_cases, reached)), cases_total)
    return out


def _hotspot_conditions(start, end):
    """Hotspots open between ``start`` and ``end`` (dates or columns); and eliminated by the end."""
    h = p_hotspots.c
    open_hotspots = and_(h.detected_on <= end, or_(h.eliminated_on.is_(None), h.eliminated_on >= start))
    return open_hotspots, and_(h.eliminated_on.is_not(None), h.eliminated_on <= end)


def _case_conditions(start, end):
    """Cases active between ``start`` and ``end``; and, per indicator, having reached its stage by the end."""
    c = p_cases.c
    active = and_(c.opened_on <= end, or_(c.verdict_on.is_(None), c.verdict_on >= start),
                  or_(c.ended_on.is_(None), c.ended_on > end))
    return active, {indicator: and_(column.is_not(None), column <= end)
                    for indicator, column in (("cases_investigated", c.investigation_on),
                                              ("cases_prosecuted", c.prosecution_on), ("cases_tried", c.trial_on))}


def _hotspots_and_trials(session: Session, unit: OrgUnit, year: int) -> dict[str, dict]:
    """The unit's II.4 totals for each month of ``year``: (eliminated, open) hotspots and (tried,
    active) cases, one query per table over a table of the 12 months."""
    h, c = p_hotspots.c, p_cases.c
    months = union_all(*(select(literal(p.code).label("period"), literal(p.start, Date).label("start"),
                                literal(p.end, Date).label("end"))
                         for p in (periods.parse(f"{year:04d}{m:02d}") for m in range(1, 13)))).subquery("months")
    out = {p: {"hotspots_eliminated": (0, 0), "cases_tried": (0, 0)} for p in (f"{year:04d}{m:02d}" for m in range(1, 13))}
    open_hotspots, eliminated = _hotspot_conditions(months.c.start, months.c.end)
    active, stages = _case_conditions(months.c.start, months.c.end)
    for indicator, table, query in (
            ("hotspots_eliminated", h, select(months.c.period, func.count().filter(eliminated), func.count())
             .select_from(months.join(p_hotspots, open_hotspots))),
            ("cases_tried", c, select(months.c.period, func.count().filter(stages["cases_tried"]), func.count())
             .select_from(months.join(p_cases, active)))):
        for period, n, d in session.execute(_within(query, unit, table.district_code, table.commune_code)
                                            .group_by(months.c.period)):
            out[period][indicator] = (n, d)
    return out


def _reports_filter(query, unit: OrgUnit):
    r = commune_reports.c
    if unit.level == "district":
        return query.where(r.district_code == unit.code)
    if unit.level == "commune":
        return query.where(r.commune_code == unit.code)
    return query.where(r.province_code == unit.code)


def _approved_in(session: Session, unit: OrgUnit, period: periods.Period) -> list:
    r = commune_reports.c
    query = select(commune_reports).where(r.status == APPROVED, r.period_start >= period.start,
                                          r.period_end <= period.end)
    return list(session.execute(_reports_filter(query, unit)))


def _latest_reports(session: Session, unit: OrgUnit, period: periods.Period) -> dict:
    latest = {}
    for report in sorted(_approved_in(session, unit, period), key=lambda row: row.period_end):
        latest[report.commune_code] = report
    return latest


def _communicated(session: Session, unit: OrgUnit, period: periods.Period) -> set[str]:
    return {r.commune_code for r in _approved_in(session, unit, period) if r.activities_count > 0}


# -- support: counts by district, age band and sex, small counts hidden ------------------------
def _support_condition(measure: str, period: periods.Period):
    s = p_support.c
    within = and_(s.happened_on >= period.start, s.happened_on <= period.end)
    if measure == "people_supported":
        return and_(within, s.fact.in_(("opened", "service")))
    if measure in ("legal_aid", "health_care"):
        return and_(within, s.fact == "service", s.service_type == measure)
    if measure in ("vocational_training", "job_placement"):
        return and_(within, s.fact == "service", s.service_type == measure, s.completed.is_(True))
    return and_(within, s.fact == "closed", s.outcome == "reintegrated")


def _support_counts(session: Session, province: str, period: periods.Period, measure: str, dimension: str) -> dict:
    s = p_support.c
    districts = [d.code for d in units().districts_in(province)]
    query = (select(s.district_code, s[dimension], func.count(func.distinct(s.person_ref)))
             .where(_support_condition(measure, period), s.district_code.in_(districts))
             .group_by(s.district_code, s[dimension]))
    counts = defaultdict(dict)
    for district, value, count in session.execute(query):
        counts[district][value] = count
    return counts


def _support_totals(session: Session, province: str, period: periods.Period, measure: str) -> tuple[dict, int]:
    s = p_support.c
    districts = [d.code for d in units().districts_in(province)]
    condition = and_(_support_condition(measure, period), s.district_code.in_(districts))
    rows = {d: n for d, n in session.execute(select(s.district_code, func.count(func.distinct(s.person_ref)))
                                             .where(condition).group_by(s.district_code))}
    # A person counted in two districts (moved) counts once in the province.
    total = session.execute(select(func.count(func.distinct(s.person_ref))).where(condition)).scalar_one()
    return rows, total


def support_tables(session: Session, province: str, period: periods.Period, measure: str) -> dict:
    """The province's table of ``measure`` by district × sex and district × age band, protected together."""
    districts = sorted(d.code for d in units().districts_in(province))
    row_totals, grand = _support_totals(session, province, period, measure)
    totals = [row_totals.get(d, 0) for d in districts]
    grids = {}
    for dimension, values in BREAKDOWNS.items():
        counts = _support_counts(session, province, period, measure, dimension)
        grids[dimension] = [[counts.get(d, {}).get(v, 0) for v in values] for d in districts]
    cells, column_hidden, row_hidden, grand_hidden = domain.suppress_breakdowns(list(grids.values()), totals, grand)
    return {"districts": districts, "totals": totals, "grand": grand, "row_hidden": row_hidden,
            "grand_hidden": grand_hidden,
            "breakdowns": {dim: {"values": BREAKDOWNS[dim], "cells": grids[dim], "hidden": cells[i],
                                 "column_hidden": column_hidden[i]}
                           for i, dim in enumerate(grids)}}


def _support_lines(session: Session, province: str, period: periods.Period) -> dict:
    out = {}
    for measure in SUPPORT_MEASURES:
        table = support_tables(session, province, period, measure)
        out[measure] = {"rows": dict(zip(table["districts"], table["totals"])),
                        "hidden": dict(zip(table["districts"], table["row_hidden"])),
                        "total": table["grand"], "total_hidden": table["grand_hidden"]}
    return out


def support_table(session: Session, unit: OrgUnit, period: periods.Period, measure: str, by: str) -> dict:
    """What the API publishes: never a count from 1 to 4, never a cell recoverable by subtraction."""
    table = support_tables(session, unit.province_code, period, measure)
    breakdown = table["breakdowns"][by]
    names = units().districts
    rows = []
    for r, district in enumerate(table["districts"]):
        if unit.level != "province" and district != unit.district_code:
            continue
        rows.append({
            "district_code": district, "district_name": names[district].name,
            "cells": {v: domain.shown(breakdown["cells"][r][c], breakdown["hidden"][r][c])
                      for c, v in enumerate(breakdown["values"])},
            "total": domain.shown(table["totals"][r], table["row_hidden"][r]),
        })
    result = {"measure": measure, "by": by, "period": period.code, "columns": list(breakdown["values"]), "rows": rows}
    if unit.level == "province":
        columns = [sum(row[c] for row in breakdown["cells"]) for c in range(len(breakdown["values"]))]
        result["totals"] = {v: domain.shown(columns[c], breakdown["column_hidden"][c])
                            for c, v in enumerate(breakdown["values"])}
        result["total"] = domain.shown(table["grand"], table["grand_hidden"])
    return result


# -- trend by month ----------------------------------------------------------------------------
#: What moves month by month (commune reports are monthly or quarterly, so they are not here).
TREND = ("inspections_specialised", "inspections_inter_agency", "establishments_inspected", "hotspots_eliminated",
         "cases_tried")


def trend(session: Session, unit: OrgUnit, year: int) -> dict:
    """A few indicators month by month (the months of the year), for the dashboard's trend chart:
    inspections and establishments from the monthly rollup, hotspots and cases from their rows."""
    months, ratios_by_month = [], _hotspots_and_trials(session, unit, year)
    for counts in monthly(session, unit, year):
        period = periods.parse(counts["period"])
        ratios = ratios_by_month[period.code]
        months.append({
            "period": period.code,
            "inspections_specialised": counts.get("specialised", 0),
            "inspections_inter_agency": counts.get("inter_agency", 0),
            "establishments_inspected": domain.percentage(counts["inspected"], counts["operating"]),
            **{indicator: domain.percentage(n, d) for indicator, (n, d) in ratios.items()},
        })
    return {"org_unit": unit.as_dict(), "year": year, "months": months}


# -- commune reports ---------------------------------------------------------------------------
def report(session: Session, actor: Principal, report_id: str) -> CommuneReport:
    found = session.get(CommuneReport, str(report_id))
    if found is None or not actor.may_access_district(found.district_code):
        raise NotFound(f"no commune report {report_id}")
    return found


def reports(session: Session, actor: Principal, filters: dict, page: int, page_size: int) -> tuple[list, int]:
    r = commune_reports.c
    conditions = []
    if actor.district:
        conditions.append(r.district_code == actor.district)
    for name in ("district_code", "commune_code", "status"):
        if filters.get(name):
            conditions.append(r[name] == filters[name])
    if filters.get("period"):
        period = parse_period(filters["period"])
        conditions += [r.period_start >= period.start, r.period_end <= period.end]
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(commune_reports).where(where)).scalar_one()
    query = (select(CommuneReport).where(where)
             .order_by(*order_by(SORTABLE, filters.get("sort", "period"), r.id))
             .offset((page - 1) * page_size).limit(page_size))
    return list(session.execute(query).scalars()), total


def projection(session: Session) -> dict:
    row = session.execute(select(projection_state).where(projection_state.c.id == 1)).first()
    if row is None:
        return {"generation": 1, "consumer_group": "reporting-projections", "last_event_time": None,
                "last_applied_at": None, "lag_seconds": None, "rebuilt_at": None}
    lag = None
    if row.last_event_time and row.last_applied_at:
        lag = max(0.0, (row.last_applied_at - row.last_event_time).total_seconds())
    return {"generation": row.generation, "consumer_group": "reporting-projections",
            "replay_group": replay_group(row.generation, row.rebuilt_at) if row.rebuilt_at else None,
            "last_event_time": row.last_event_time, "last_applied_at": row.last_applied_at, "lag_seconds": lag,
            "rebuilt_at": row.rebuilt_at}
