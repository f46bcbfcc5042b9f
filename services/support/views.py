"""Read-side queries of the support service. Lists never contain an identity: an identity is
opened only by `handlers.read_identity`, which writes the audit entry. Outside the caller's
district a referral, case or task does not exist for them (404)."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from chassis.api import order_by
from chassis.auth import Principal
from services.support.domain import (
    OPEN, AuditEntry, Identity, NotFound, Person, Referral, SupportCase, Task, local_date,
)
from services.support.handlers import now
from services.support.tables import audit_log, consents, persons, referrals, support_cases, tasks

PERSON_SORTABLE = {"registered_at": persons.c.registered_at, "first_contact_on": persons.c.first_contact_on}
REFERRAL_SORTABLE = {"received_at": referrals.c.received_at, "referred_on": referrals.c.referred_on}
CASE_SORTABLE = {"opened_on": support_cases.c.opened_on, "closed_on": support_cases.c.closed_on,
                 "updated_at": support_cases.c.updated_at}
TASK_SORTABLE = {"due_on": tasks.c.due_on, "created_at": tasks.c.created_at}
AUDIT_SORTABLE = {"at": audit_log.c.at}
DUE_SOON = timedelta(days=14)


class PersonView:
    """A person as the API shows them: the record, plus the identity when it was opened (and audited)."""

    def __init__(self, person: Person, identity: Identity | None = None, break_glass: bool = False):
        self._person, self.identity, self.break_glass = person, identity, break_glass

    def __getattr__(self, name):
        return getattr(self._person, name)

    @property
    def consent(self):
        return self._person.active_consent()


def _page(session: Session, entity, table, conditions: list, sort, page: int, page_size: int):
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(table).where(where)).scalar_one()
    query = select(entity).where(where).order_by(*sort).offset((page - 1) * page_size).limit(page_size)
    return list(session.execute(query).scalars()), total


def _scoped(actor: Principal, column, filters: dict) -> list:
    conditions = []
    if actor.district:
        conditions.append(column == actor.district)
    if filters.get("district_code"):
        conditions.append(column == filters["district_code"])
    return conditions


def search_persons(session: Session, actor: Principal, filters: dict, page: int, page_size: int):
    c = persons.c
    conditions = _scoped(actor, c.district_code, filters)
    if filters.get("status"):
        conditions.append(c.status == filters["status"])
    if "consent" in filters:
        active = exists().where(and_(consents.c.person_id == c.id, consents.c.ended_on.is_(None)))
        conditions.append(active if filters["consent"] else ~active)
    sort = order_by(PERSON_SORTABLE, filters.get("sort", "-registered_at"), c.id)
    return _page(session, Person, persons, conditions, sort, page, page_size)


def referral(session: Session, actor: Principal, referral_id: str) -> Referral:
    found = session.get(Referral, str(referral_id))
    if found is None or not actor.may_access_district(found.district_code):
        raise NotFound(f"no referral {referral_id}")
    return found


def search_referrals(session: Session, actor: Principal, filters: dict, page: int, page_size: int):
    c = referrals.c
    conditions = _scoped(actor, c.district_code, filters)
    for name in ("status", "source"):
        if filters.get(name):
            conditions.append(c[name] == filters[name])
    sort = order_by(REFERRAL_SORTABLE, filters.get("sort", "-received_at"), c.id)
    return _page(session, Referral, referrals, conditions, sort, page, page_size)


def support_case(session: Session, actor: Principal, case_id: str) -> SupportCase:
    found = session.get(SupportCase, str(case_id))
    if found is None or not actor.may_access_district(found.district_code):
        raise NotFound(f"no support case {case_id}")
    return found


def person_ref(session: Session, person_id: str) -> str | None:
    return session.execute(select(persons.c.person_ref).where(persons.c.id == person_id)).scalar_one_or_none()


def search_cases(session: Session, actor: Principal, filters: dict, page: int, page_size: int):
    c = support_cases.c
    conditions = _scoped(actor, c.district_code, filters)
    for name in ("status", "outcome", "person_id"):
        if filters.get(name):
            conditions.append(c[name] == str(filters[name]))
    sort = order_by(CASE_SORTABLE, filters.get("sort", "-opened_on"), c.id)
    return _page(session, SupportCase, support_cases, conditions, sort, page, page_size)


def search_tasks(session: Session, actor: Principal, filters: dict, page: int, page_size: int,
                 today: date | None = None):
    """Follow-up tasks: ``due`` (default: open, due within 14 days or overdue), ``overdue`` (open and
    past due), ``open``, ``done``. Tasks of closed cases are no longer due."""
    today = today or local_date(now())
    c = tasks.c
    conditions = _scoped(actor, c.district_code, filters)
    status = filters.get("status", "due")
    if status == "done":
        conditions.append(c.done_on.is_not(None))
    else:
        open_case = exists().where(and_(support_cases.c.id == c.support_case_id, support_cases.c.status == OPEN))
        conditions += [c.done_on.is_(None), open_case]
        if status == "overdue":
            conditions.append(c.due_on < today)
        elif status == "due":
            conditions.append(c.due_on <= today + DUE_SOON)
    if filters.get("support_case_id"):
        conditions.append(c.support_case_id == str(filters["support_case_id"]))
    sort = order_by(TASK_SORTABLE, filters.get("sort", "due_on"), c.id)
    return _page(session, Task, tasks, conditions, sort, page, page_size)


def search_audit(session: Session, filters: dict, page: int, page_size: int):
    c = audit_log.c
    conditions = []
    for name in ("person_id", "actor"):
        if filters.get(name):
            conditions.append(c[name] == str(filters[name]))
    if "break_glass" in filters:
        conditions.append(c.break_glass.is_(filters["break_glass"]))
    if filters.get("since"):
        conditions.append(c.at >= filters["since"])
    sort = order_by(AUDIT_SORTABLE, filters.get("sort", "-at"), c.id)
    return _page(session, AuditEntry, audit_log, conditions, sort, page, page_size)

