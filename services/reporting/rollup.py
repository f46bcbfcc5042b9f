"""The monthly rollup of the reporting projections (``r_monthly``): per organisation unit (a
commune, its district, its province and the country), month ('YYYYMM') and measure, the counts
the inspection and establishment indicators need, so that an indicator over a year reads a few
dozen rows instead of grouping a million.

Measures:

* ``inspections_<kind>``: inspections completed in the month (by the inspection's commune);
* ``establishments_opened`` / ``establishments_closed``: establishments that opened in the month,
  and that stopped operating in it (counted in the later of the opening and closing months), so
  that the establishments operating at the end of a month are the sum of opened − closed up to it;
* ``establishments_inspected``: establishments operating at the end of the month and inspected
  (a completed inspection) in it, by the establishment's commune.

The projection writes keep it (`Rollup.tracking` around every write of ``p_establishments`` and
``p_inspections``, in the same transaction, under the projections' lock) as the difference between what the rows contributed
before and after the write: a write that sets the same state (an event applied twice) adds
nothing, a change of state (scheduled → completed, a correction) moves each count exactly once.
`recompute` rebuilds it from the projection rows with INSERT ... SELECT ... GROUP BY (the
rebuild, the benchmark's loader).
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace

from sqlalchemy import String, and_, case, delete, func, insert, literal_column, or_, select, tuple_, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from chassis.db import among, insert_many, on_postgresql
from contracts.refdata import units
from services.reporting.tables import p_establishments, p_inspections, projection_state, r_districts, r_monthly

COUNTRY = "VN"
COMPLETED = "completed"
OPENED, CLOSED, INSPECTED = "establishments_opened", "establishments_closed", "establishments_inspected"
INSPECTIONS_PREFIX = "inspections_"

Fact = tuple[str, str, str, str]  # commune, district, month, measure
Key = tuple[str, str, str]  # unit, month, measure


class year_month(FunctionElement):
    """``'YYYYMM'`` of a date column, on PostgreSQL and on SQLite."""
    type = String()
    inherit_cache = True


@compiles(year_month)
def _year_month_postgresql(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYYMM')"


@compiles(year_month, "sqlite")
def _year_month_sqlite(element, compiler, **kw):
    return f"strftime('%Y%m', {compiler.process(element.clauses, **kw)})"


def month_of(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}"


# -- what one projection row contributes -------------------------------------------------------
def _completed(row) -> bool:
    """A completed inspection with its day: what the inspection measures count."""
    return row is not None and row.state == COMPLETED and row.conducted_on is not None


def inspection_facts(row) -> Counter:
    """A completed inspection counts once, in its month and commune."""
    if not _completed(row):
        return Counter()
    return Counter({(row.commune_code, row.district_code, month_of(row.conducted_on),
                     INSPECTIONS_PREFIX + row.kind): 1})


def establishment_facts(row, inspected_months) -> Counter:
    """An establishment: opened in its month, closed in the later of its two months, inspected in
    each month it was inspected in while operating at that month's end."""
    if row is None:
        return Counter()
    opened = month_of(row.opened_on)
    closed = month_of(row.closed_on) if row.closed_on is not None else None
    where = (row.commune_code, row.district_code)
    facts = Counter({(*where, opened, OPENED): 1})
    if closed is not None:
        facts[(*where, max(opened, closed), CLOSED)] += 1
    for month in inspected_months:
        if opened <= month and (closed is None or closed > month):
            facts[(*where, month, INSPECTED)] += 1
    return facts


def by_unit(facts: Counter) -> Counter:
    """Each commune's fact also counts for its district, its province and the country."""
    admin = units()
    out: Counter = Counter()
    for (commune, district, month, measure), n in facts.items():
        province = admin.province_of_district(district)
        for unit in (commune, district, province, COUNTRY):
            if unit is not None:
                out[(unit, month, measure)] += n
    return out


def difference(after: Counter, before: Counter) -> dict[Key, int]:
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    return {k: v for k, v in delta.items() if v}


def _facts(inspections, establishment_rows, months: dict[str, set[str]]) -> Counter:
    """What these inspection rows and these establishments' rows (with the months in which each
    had a completed inspection) contribute to the rollup."""
    facts: Counter = Counter()
    for row in inspections:
        facts.update(inspection_facts(row))
    for row in establishment_rows:
        facts.update(establishment_facts(row, months.get(row.id, set())))
    return facts


def _as_written(existing: list, changes: dict[str, dict]) -> list:
    """The inspection rows as a write of ``changes`` leaves them (every column of p_inspections:
    the existing row's values, then the change's; a new row's unset columns NULL, as inserted)."""
    blank = dict.fromkeys(p_inspections.c.keys())
    rows = {row.id: {**blank, **row._mapping} for row in existing}
    return [SimpleNamespace(**{**rows.get(key, blank), "id": key, **values}) for key, values in changes.items()]


def _completed_month(row) -> tuple[str, str] | None:
    return (row.establishment_id, month_of(row.conducted_on)) if _completed(row) else None


def _months_grown(months: dict[str, set[str]], existing: list, written: list) -> dict[str, set[str]] | None:
    """The establishments' inspected months after the write, from those before it, when the write
    only adds to them (no inspection completed before leaves its month): None otherwise, for the
    months to be read again (another inspection may still hold the month it left)."""
    after = {row.id: _completed_month(row) for row in written}
    for row in existing:
        was = _completed_month(row)
        if was is not None and after.get(row.id) != was:
            return None
    grown = {k: set(v) for k, v in months.items()}
    for month in after.values():
        if month is not None:
            grown.setdefault(month[0], set()).add(month[1])
    return grown


# -- keeping it in step with the projection writes ----------------------------------------------
class Rollup:
    """The rollup's side of a projection write, in the writer's session (its transaction)."""

    def __init__(self, session: Session):
        self.session = session

    @contextmanager
    def tracking(self, table, key: dict, values: dict):
        """Around a write of ``table`` at ``key``: what its rows contributed before and after
        goes into the rollup as a difference. Other tables pass through. The caller holds the
        projections' lock (`serialise`): no other transaction writes in between."""
        if table is p_inspections or table is p_establishments:
            with self.tracking_many(table, {key["id"]: values}, self._rows(table, [key["id"]])):
                yield
        else:
            yield

    @contextmanager
    def tracking_many(self, table, changes: dict[str, dict], existing: list):
        """Around a write of many rows of ``table`` (id -> values; ``existing``: their rows before
        it, read under the projections' lock): the difference between what all of them (and the
        establishments they concern) contributed before and after, in a few queries whatever
        their number."""
        ids = list(changes)
        if table is p_inspections:
            establishments = {v.get("establishment_id") for v in changes.values()}
            establishments = (establishments | {row.establishment_id for row in existing}) - {None}
            # a write of inspections leaves the establishments' rows as they were: read once
            establishment_rows = self._rows(p_establishments, establishments)
            months = self._months(establishments)
            before = _facts(existing, establishment_rows, months)
            yield
            written = _as_written(existing, changes)
            grown = _months_grown(months, existing, written)
            after = _facts(written, establishment_rows, grown if grown is not None else self._months(establishments))
        elif table is p_establishments:
            months = self._months(ids)
            before = _facts([], existing, months)
            yield
            after = _facts([], self._rows(p_establishments, ids), months)
        else:
            raise ValueError(f"{table.name} is not written many at once")
        self.add(difference(by_unit(after), by_unit(before)))

    def _rows(self, table, ids) -> list:
        return self.session.execute(select(table).where(among(self.session, table.c.id, map(str, ids)))).all()

    def _months(self, establishment_ids) -> dict[str, set[str]]:
        """The months ('YYYYMM') in which each of these establishments had a completed inspection."""
        i = p_inspections.c
        month = year_month(i.conducted_on)
        query = (select(i.establishment_id, month).distinct()
                 .where(among(self.session, i.establishment_id, map(str, establishment_ids)), i.state == COMPLETED,
                        i.conducted_on.is_not(None)))
        months: dict[str, set[str]] = {}
        for establishment_id, m in self.session.execute(query):
            months.setdefault(establishment_id, set()).add(m)
        return months

    def add(self, delta: dict[Key, int]) -> None:
        """Add ``delta`` to the rollup's rows (created at zero when missing), in key order."""
        if not delta:
            return
        rows = [{"unit_code": u, "month": m, "measure": s, "value": v} for (u, m, s), v in sorted(delta.items())]
        statement, parameters = insert_many(self.session, r_monthly, rows)  # in key order
        statement = statement.on_conflict_do_update(
            index_elements=[r_monthly.c.unit_code, r_monthly.c.month, r_monthly.c.measure],
            set_={"value": r_monthly.c.value + statement.excluded.value})
        self.session.execute(statement, parameters)
        emptied = [k for k, v in delta.items() if v < 0]
        if emptied:  # a count back at zero leaves no row, as a recomputation would
            r = r_monthly.c
            self.session.execute(delete(r_monthly).where(
                r.value == 0, tuple_(r.unit_code, r.month, r.measure).in_(sorted(emptied))))


# -- recomputing it from the projections --------------------------------------------------------
def serialise(session: Session) -> None:
    """Hold the projections' lock until this transaction ends (PostgreSQL; SQLite has one writer):
    the projection_state row, FOR UPDATE. Every projection transaction already updates that row
    (the projection's clock), so they were serialised on it anyway; taking it before the first
    write makes it the first lock of each, so that no two writers (the live consumer and a
    rebuild's replay, or a rebuild emptying the tables) read a "before" the other then changes,
    and no cycle of locks can form between them."""
    if not on_postgresql(session):
        return
    if session.execute(select(projection_state.c.id).where(projection_state.c.id == 1).with_for_update()).first():
        return
    session.execute(insert(projection_state).values(id=1, generation=1))


def facts_query():
    """Every fact of the projections, grouped by commune, district, month and measure (SQL)."""
    i, e = p_inspections.c, p_establishments.c
    done = and_(i.state == COMPLETED, i.conducted_on.is_not(None))
    month = year_month(i.conducted_on)
    inspections = (select(i.commune_code, i.district_code, month.label("month"),
                          (literal_column(f"'{INSPECTIONS_PREFIX}'") + i.kind).label("measure"),
                          func.count().label("n"))
                   .where(done).group_by(i.commune_code, i.district_code, month, i.kind))
    opened_month = year_month(e.opened_on)
    opened = (select(e.commune_code, e.district_code, opened_month, literal_column(f"'{OPENED}'"), func.count())
              .group_by(e.commune_code, e.district_code, opened_month))
    closed_month = year_month(case((e.closed_on > e.opened_on, e.closed_on), else_=e.opened_on))
    closed = (select(e.commune_code, e.district_code, closed_month, literal_column(f"'{CLOSED}'"), func.count())
              .where(e.closed_on.is_not(None)).group_by(e.commune_code, e.district_code, closed_month))
    months = select(i.establishment_id, month.label("month")).where(done).distinct().subquery("inspected_months")
    inspected = (select(e.commune_code, e.district_code, months.c.month, literal_column(f"'{INSPECTED}'"),
                        func.count())
                 .join_from(months, p_establishments, e.id == months.c.establishment_id)
                 .where(opened_month <= months.c.month,
                        or_(e.closed_on.is_(None), year_month(e.closed_on) > months.c.month))
                 .group_by(e.commune_code, e.district_code, months.c.month))
    return union_all(inspections, opened, closed, inspected).subquery("facts")


def recompute(session: Session) -> int:
    """Empty the rollup and fill it again from the projection rows, set-based (one INSERT ...
    SELECT ... GROUP BY per level); return its row count. Call inside a transaction: it takes the
    projections' lock first (`serialise`), so that a projection write is either all before or all after."""
    serialise(session)
    session.execute(delete(r_districts))
    session.execute(insert(r_districts), [{"district_code": d.code, "province_code": d.parent_code}
                                          for d in units().districts.values()])
    session.execute(delete(r_monthly))
    facts = facts_query()
    f = facts.c
    total = func.sum(f.n)
    levels = [
        select(f.commune_code, f.month, f.measure, total).group_by(f.commune_code, f.month, f.measure),
        select(f.district_code, f.month, f.measure, total).group_by(f.district_code, f.month, f.measure),
        select(r_districts.c.province_code, f.month, f.measure, total)
        .join_from(facts, r_districts, r_districts.c.district_code == f.district_code)
        .group_by(r_districts.c.province_code, f.month, f.measure),
        select(literal_column(f"'{COUNTRY}'"), f.month, f.measure, total).group_by(f.month, f.measure),
    ]
    columns = ["unit_code", "month", "measure", "value"]
    for level in levels:
        session.execute(insert(r_monthly).from_select(columns, level))
    return session.execute(select(func.count()).select_from(r_monthly)).scalar_one()
