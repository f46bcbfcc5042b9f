"""Where the reporting service's unit of work finds commune reports, plans and projections."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from chassis.db import among, insert_many, update_many
from chassis.uow import UnitOfWork
from services.reporting import rollup
from services.reporting.domain import CommuneReport, NotFound
from services.reporting.rollup import Rollup
from services.reporting.tables import PROJECTIONS, plans, projection_state

#: The plans that ship with the service (data, not code): the first read of a plan copies it in.
PLAN_FILES = Path(__file__).with_name("plans")


class CommuneReportRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, report: CommuneReport) -> None:
        self.session.add(report)

    def get(self, report_id: str) -> CommuneReport:
        found = self.session.get(CommuneReport, str(report_id))
        if found is None:
            raise NotFound(f"no commune report {report_id}")
        return found

    def overlapping(self, commune_code: str, start, end) -> CommuneReport | None:
        query = select(CommuneReport).where(
            CommuneReport.commune_code == commune_code, CommuneReport.period_start <= end,
            CommuneReport.period_end >= start)
        return self.session.execute(query.limit(1)).scalars().first()


class PlanRepository:
    def __init__(self, session: Session):
        self.session = session

    def get(self, plan_id: str) -> dict:
        row = self.session.execute(select(plans).where(plans.c.id == plan_id)).first()
        if row is None:
            shipped = shipped_plans().get(plan_id)
            if shipped is None:
                raise NotFound(f"no plan {plan_id}")
            return {**shipped, "version": 0}
        return {**row.document, "version": row.version}

    def save(self, document: dict, expected_version: int, by: str, at: datetime) -> int:
        values = dict(province_code=document["province_code"], year=document["year"], document=document,
                      updated_by=by, updated_at=at)
        if expected_version == 0:
            self.session.execute(insert(plans).values(id=document["id"], version=1, **values))
            return 1
        done = self.session.execute(update(plans).where(
            and_(plans.c.id == document["id"], plans.c.version == expected_version)
        ).values(version=expected_version + 1, **values)).rowcount
        if not done:
            raise StaleDataError("the plan was changed by someone else")
        return expected_version + 1


def shipped_plans() -> dict[str, dict]:
    found = {}
    for path in sorted(PLAN_FILES.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        found[document["id"]] = document
    return found


class Projections:
    """Writes of the projections: every write sets state (never adds to a counter), so a
    replayed event leaves the same rows. The monthly rollup follows each write of the
    establishments and inspections as a difference between before and after (rollup.py), in the
    same transaction, so it moves only when the rows do."""

    def __init__(self, session: Session):
        self.session = session
        self.rollup = Rollup(session)
        self._serialised = None

    def _serialise(self) -> None:
        """The projections' lock, once per transaction, before its first write (rollup.serialise)."""
        transaction = self.session.get_transaction()
        if transaction is None or transaction is not self._serialised:
            rollup.serialise(self.session)
            self._serialised = self.session.get_transaction()

    def upsert(self, table, key: dict, values: dict) -> None:
        where = and_(*(table.c[k] == v for k, v in key.items()))
        self._serialise()
        with self.rollup.tracking(table, key, values):
            if self.session.execute(select(*(table.c[k] for k in key)).where(where)).first():
                if values:
                    self.session.execute(update(table).where(where).values(**values))
            else:
                self.session.execute(insert(table).values(**key, **values))

    def change(self, table, key: dict, values: dict) -> bool:
        where = and_(*(table.c[k] == v for k, v in key.items()))
        self._serialise()
        with self.rollup.tracking(table, key, values):
            return bool(self.session.execute(update(table).where(where).values(**values)).rowcount)

    def upsert_many(self, table, changes: dict[str, dict], existing: list | None = None) -> None:
        """`upsert` of many rows keyed by ``id`` (each id's values already merged in event order),
        in one statement per shape of row: new rows inserted, existing ones updated. ``existing``:
        the rows of these ids as `rows` read them in this transaction (read here if not given)."""
        if existing is None:
            existing = self.rows(table, list(changes))
        with self.rollup.tracking_many(table, changes, existing):
            found = {row.id for row in existing}
            for rows in _by_shape({k: v for k, v in changes.items() if k not in found}).values():
                self.session.execute(*insert_many(self.session, table, [{"id": k, **v} for k, v in rows]))
            for rows in _by_shape({k: v for k, v in changes.items() if k in found}).values():
                update_many(self.session, table, [{"id": k, **v} for k, v in rows])

    def recompute_rollup(self) -> int:
        """The rollup again from the projection rows (after a rebuild's replay)."""
        return rollup.recompute(self.session)

    def rows(self, table, ids: list[str]) -> list:
        """The rows of these ids, read for a write to come: under the projections' lock, so that
        they are still the rows when the write (and its rollup difference) is made."""
        self._serialise()
        return self.session.execute(select(table).where(among(self.session, table.c.id, ids))).all()

    def row(self, table, key: dict):
        return self.session.execute(select(table).where(and_(*(table.c[k] == v for k, v in key.items())))).first()

    def state(self):
        row = self.session.execute(select(projection_state).where(projection_state.c.id == 1)).first()
        if row is None:
            self.session.execute(insert(projection_state).values(id=1, generation=1))
            row = self.session.execute(select(projection_state).where(projection_state.c.id == 1)).first()
        return row

    def touch(self, event_time: datetime | None, applied_at: datetime) -> None:
        self.state()
        self.session.execute(update(projection_state).where(projection_state.c.id == 1).values(
            last_event_time=event_time, last_applied_at=applied_at))

    def truncate(self, generation: int, by: str, at: datetime) -> None:
        self.state()
        self._serialise()
        for table in PROJECTIONS:
            self.session.execute(delete(table))
        self.session.execute(update(projection_state).where(projection_state.c.id == 1).values(
            generation=generation, rebuilt_at=at, rebuilt_by=by, last_event_time=None, last_applied_at=None))


def _by_shape(changes: dict[str, dict]) -> dict[tuple, list]:
    """Rows grouped by the columns they set (one column list per statement)."""
    shapes: dict[tuple, list] = {}
    for key, values in changes.items():
        shapes.setdefault(tuple(sorted(values)), []).append((key, values))
    return shapes


class ReportingUnitOfWork(UnitOfWork):
    def _start(self) -> None:
        self.reports = CommuneReportRepository(self.session)
        self.plans = PlanRepository(self.session)
        self.projections = Projections(self.session)
