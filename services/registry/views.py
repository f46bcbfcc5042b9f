"""Read-side queries of the registry (lists, search, due for review). Reads go straight to
the tables: no unit of work, no events."""
from __future__ import annotations

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from chassis.api import order_by
from chassis.auth import Principal
from contracts import periods
from contracts.text import fold
from services.registry.domain import ACTIVE, SUSPENDED, Establishment, NotFound
from services.registry.tables import establishments as t
from services.registry.tables import reviews

SORTABLE = {"name": t.c.name_key, "registered_at": t.c.registered_at, "risk_level": t.c.risk_level,
            "commune_code": t.c.commune_code, "updated_at": t.c.updated_at}


def establishment(session: Session, actor: Principal, establishment_id: str) -> Establishment:
    found = session.get(Establishment, str(establishment_id))
    # Outside the caller's district an establishment does not exist for them.
    if found is None or not actor.may_access_district(found.district_code):
        raise NotFound(f"no establishment {establishment_id}")
    return found


def search(session: Session, actor: Principal, filters: dict, page: int, page_size: int) -> tuple[list, int]:
    conditions = []
    if actor.district:
        conditions.append(t.c.district_code == actor.district)
    if filters.get("q"):
        conditions.append(t.c.name_key.contains(fold(filters["q"]), autoescape=True))
    for name in ("district_code", "commune_code", "business_type", "status", "risk_level"):
        if filters.get(name):
            conditions.append(t.c[name] == filters[name])
    if filters.get("due_for_review"):
        period = periods.parse(filters["due_for_review"])
        conditions += [
            t.c.status.in_((ACTIVE, SUSPENDED)),
            t.c.operating_since <= period.end,
            ~exists().where(and_(reviews.c.establishment_id == t.c.id, reviews.c.period == period.code)),
        ]
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(t).where(where)).scalar_one()
    query = (
        select(Establishment).where(where)
        .order_by(*order_by(SORTABLE, filters.get("sort", "name"), t.c.id))
        .offset((page - 1) * page_size).limit(page_size)
    )
    return list(session.execute(query).scalars()), total
