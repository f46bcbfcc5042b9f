"""Read-side queries of the inspection service (lists, visit lists). Reads go straight to the tables:
no unit of work, no events."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from chassis.api import order_by
from chassis.auth import Principal
from services.inspection.domain import Establishment, Inspection, NotFound, Plan, Visit, rank_visits
from services.inspection.tables import establishments as e
from services.inspection.tables import inspections as t
from services.inspection.tables import plans as p
from services.inspection.tables import team_members, tips

INSPECTION_SORTABLE = {"scheduled_on": t.c.scheduled_on, "created_at": t.c.created_at, "status": t.c.status,
                       "establishment_name": t.c.establishment_name, "updated_at": t.c.updated_at}
PLAN_SORTABLE = {"period_start": p.c.period_start, "name": p.c.name, "created_at": p.c.created_at}


def _visible_plan(actor: Principal):
    """A district user sees the province's plans and their own district's."""
    return True if actor.district is None else or_(p.c.district_code.is_(None), p.c.district_code == actor.district)


def plan(session: Session, actor: Principal, plan_id: str) -> Plan:
    found = session.get(Plan, str(plan_id))
    if found is None or not (found.district_code is None or actor.may_access_district(found.district_code)):
        raise NotFound(f"no plan {plan_id}")
    return found


def search_plans(session: Session, actor: Principal, filters: dict, page: int, page_size: int) -> tuple[list, int]:
    conditions = [_visible_plan(actor)]
    for name in ("kind", "agency", "scope", "district_code"):
        if filters.get(name):
            conditions.append(p.c[name] == filters[name])
    if filters.get("active_on"):
        conditions += [p.c.period_start <= filters["active_on"], p.c.period_end >= filters["active_on"]]
    if filters.get("period_from"):
        conditions.append(p.c.period_end >= filters["period_from"])
    if filters.get("period_to"):
        conditions.append(p.c.period_start <= filters["period_to"])
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(p).where(where)).scalar_one()
    query = (select(Plan).where(where).order_by(*order_by(PLAN_SORTABLE, filters.get("sort", "-period_start"), p.c.id))
             .offset((page - 1) * page_size).limit(page_size))
    return list(session.execute(query).scalars()), total


@dataclass(frozen=True)
class VisitRow:
    rank: int
    visit: Visit
    inspection_id: str | None
    inspection_status: str | None


def visits(session: Session, actor: Principal, found: Plan, filters: dict, today: date, page: int,
           page_size: int) -> tuple[list[VisitRow], int]:
    """The plan's visit list, ranked by risk (domain.rank_visits), with this plan's inspection of each."""
    conditions = [e.c.province_code == found.province_code]
    if found.scope == "district":
        conditions.append(e.c.district_code == found.district_code)
    elif found.scope == "communes":
        conditions.append(e.c.commune_code.in_(found.commune_codes))
    if actor.district:
        conditions.append(e.c.district_code == actor.district)
    if filters.get("commune_code"):
        conditions.append(e.c.commune_code == filters["commune_code"])
    candidates = list(session.execute(select(Establishment).where(and_(*conditions))).scalars())
    open_tips = dict(session.execute(
        select(tips.c.establishment_id, func.count()).where(
            tips.c.establishment_id.is_not(None), tips.c.handled_at.is_(None),
            or_(tips.c.classification.is_(None), tips.c.classification != "unfounded"),
        ).group_by(tips.c.establishment_id)).all())
    in_plan = {row.establishment_id: (row.id, row.status) for row in session.execute(
        select(t.c.establishment_id, t.c.id, t.c.status).where(t.c.plan_id == found.id).order_by(t.c.created_at))}
    ranked = [VisitRow(i + 1, v, *in_plan.get(v.establishment.id, (None, None)))
              for i, v in enumerate(rank_visits(candidates, open_tips, found.ranking_date(today)))]
    if filters.get("pending"):
        ranked = [r for r in ranked if r.inspection_status not in ("planned", "in_progress", "completed")]
    start = (page - 1) * page_size
    return ranked[start:start + page_size], len(ranked)


def inspection(session: Session, actor: Principal, inspection_id: str) -> Inspection:
    found = session.get(Inspection, str(inspection_id))
    # Outside the caller's district an inspection does not exist for them.
    if found is None or not actor.may_access_district(found.district_code):
        raise NotFound(f"no inspection {inspection_id}")
    return found


def search_inspections(session: Session, actor: Principal, filters: dict, today: date, page: int,
                       page_size: int) -> tuple[list, int]:
    conditions = []
    if actor.district:
        conditions.append(t.c.district_code == actor.district)
    for name in ("establishment_id", "plan_id"):
        if filters.get(name):
            conditions.append(t.c[name] == str(filters[name]))
    for name in ("district_code", "commune_code", "status", "agency", "kind"):
        if filters.get(name):
            conditions.append(t.c[name] == filters[name])
    inspectors = [x for x in (filters.get("inspector"), actor.sub if filters.get("mine") else None) if x]
    for user_id in inspectors:
        conditions.append(exists().where(and_(team_members.c.inspection_id == t.c.id,
                                              team_members.c.user_id == user_id)))
    if filters.get("today"):
        conditions.append(t.c.scheduled_on == today)
    if filters.get("scheduled_from"):
        conditions.append(t.c.scheduled_on >= filters["scheduled_from"])
    if filters.get("scheduled_to"):
        conditions.append(t.c.scheduled_on <= filters["scheduled_to"])
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(t).where(where)).scalar_one()
    query = (select(Inspection).where(where)
             .order_by(*order_by(INSPECTION_SORTABLE, filters.get("sort", "scheduled_on"), t.c.id))
             .offset((page - 1) * page_size).limit(page_size))
    return list(session.execute(query).scalars()), total


def establishments_known(session: Session) -> int:
    return session.execute(select(func.count()).select_from(e)).scalar_one()
