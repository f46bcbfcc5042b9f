"""Read-side queries of the cases service (lists, overdue lists, the status of a referral).
Reads go straight to the tables: no unit of work, no events. Outside the caller's district
nothing exists for them."""
from __future__ import annotations

from datetime import date

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from chassis.api import order_by
from chassis.auth import Principal
from contracts.text import fold
from services.cases.domain import HANDLED, RECEIVED, VERIFYING, Case, Hotspot, NotFound, Tip
from services.cases.tables import cases as c
from services.cases.tables import hotspots as h
from services.cases.tables import member
from services.cases.tables import tips as t

TIP_SORTABLE = {"received_at": t.c.received_at, "verification_due_on": t.c.verification_due_on,
                "status": t.c.status, "commune_code": t.c.commune_code}
CASE_SORTABLE = {"opened_on": c.c.opened_on, "case_number": c.c.case_number_key, "stage": c.c.stage,
                 "stage_due_on": c.c.stage_due_on, "commune_code": c.c.commune_code}
HOTSPOT_SORTABLE = {"detected_on": h.c.detected_on, "status": h.c.status, "commune_code": h.c.commune_code}


def _one(session: Session, actor: Principal, kind, noun: str, item_id: str):
    found = session.get(kind, str(item_id))
    if found is None or not actor.may_access_district(found.district_code):
        raise NotFound(f"no {noun} {item_id}")
    return found


def tip(session: Session, actor: Principal, tip_id: str) -> Tip:
    return _one(session, actor, Tip, "tip", tip_id)


def case(session: Session, actor: Principal, case_id: str) -> Case:
    return _one(session, actor, Case, "case", case_id)


def hotspot(session: Session, actor: Principal, hotspot_id: str) -> Hotspot:
    return _one(session, actor, Hotspot, "hotspot", hotspot_id)


def referral_status(session: Session, actor: Principal, referral_id: str) -> dict:
    """Whether the tip an inspection's referral became has been handled: nothing more."""
    found = session.execute(select(Tip).where(Tip.referral_id == str(referral_id))).scalars().first()
    if found is None or not actor.may_access_district(found.district_code):
        raise NotFound(f"no tip from referral {referral_id}")
    return {"referral_id": found.referral_id, "inspection_id": found.inspection_id, "received": True,
            "handled": found.status == HANDLED}


def _page(session: Session, kind, table, conditions: list, sortable: dict, sort: str, page: int,
          page_size: int) -> tuple[list, int]:
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(table).where(where)).scalar_one()
    offset = (page - 1) * page_size
    if offset >= total:  # past the last page (and no 64-bit overflow for page=10**22)
        return [], total
    query = (select(kind).where(where).order_by(*order_by(sortable, sort, table.c.id))
             .offset(offset).limit(page_size))
    return list(session.execute(query).scalars()), total


def _scope(actor: Principal, table, filters: dict, names: tuple[str, ...]) -> list:
    conditions = [table.c.district_code == actor.district] if actor.district else []
    for name in names:
        if filters.get(name) is not None:
            value = filters[name]
            conditions.append(table.c[name] == (str(value) if not isinstance(value, (bool, date)) else value))
    return conditions


def search_tips(session: Session, actor: Principal, filters: dict, page: int, page_size: int) -> tuple[list, int]:
    conditions = _scope(actor, t, filters, ("district_code", "commune_code", "source", "status", "classification",
                                            "establishment_id", "inspection_id"))
    if filters.get("received_from"):
        conditions.append(t.c.received_at >= filters["received_from"])
    if filters.get("received_to"):
        conditions.append(t.c.received_at < filters["received_to"])
    if filters.get("overdue_on"):
        conditions += [t.c.status.in_((RECEIVED, VERIFYING)), t.c.verification_due_on < filters["overdue_on"]]
    return _page(session, Tip, t, conditions, TIP_SORTABLE, filters.get("sort", "-received_at"), page, page_size)


def search_cases(session: Session, actor: Principal, filters: dict, page: int, page_size: int) -> tuple[list, int]:
    conditions = _scope(actor, c, filters, ("district_code", "commune_code", "stage", "tip_id", "mobile_trial"))
    if filters.get("q"):
        conditions.append(c.c.case_number_key.contains(fold(filters["q"]), autoescape=True))
    if filters.get("article"):
        conditions.append(member(c.c.articles, filters["article"]))
    for name, column in (("establishment_id", c.c.establishment_ids), ("hotspot_id", c.c.hotspot_ids)):
        if filters.get(name):
            conditions.append(member(column, str(filters[name])))
    if filters.get("opened_from"):
        conditions.append(c.c.opened_on >= filters["opened_from"])
    if filters.get("opened_to"):
        conditions.append(c.c.opened_on <= filters["opened_to"])
    if filters.get("overdue_on"):
        conditions.append(c.c.stage_due_on < filters["overdue_on"])
    return _page(session, Case, c, conditions, CASE_SORTABLE, filters.get("sort", "-opened_on"), page, page_size)


def search_hotspots(session: Session, actor: Principal, filters: dict, page: int, page_size: int) -> tuple[list, int]:
    conditions = _scope(actor, h, filters, ("district_code", "commune_code", "status", "kind", "found_by",
                                            "establishment_id"))
    if filters.get("detected_from"):
        conditions.append(h.c.detected_on >= filters["detected_from"])
    if filters.get("detected_to"):
        conditions.append(h.c.detected_on <= filters["detected_to"])
    return _page(session, Hotspot, h, conditions, HOTSPOT_SORTABLE, filters.get("sort", "-detected_on"), page,
                 page_size)
