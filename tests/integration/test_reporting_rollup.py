"""The monthly rollup on PostgreSQL: the handlers' rollup equals the raw GROUP BY and its
recomputation (as on SQLite, tests/unit/test_reporting_rollup.py), also when two writers apply
the same events at the same time (a rebuild's replay racing the live consumer), and the
migration fills it from projections already there."""
from __future__ import annotations

import random
import threading

import pytest
from alembic import command
from sqlalchemy import select

from chassis.migrations import alembic_config
from chassis.service import bootstrap
from services.reporting import handlers, views
from services.reporting.tables import p_inspections
from tests.conftest import make_config
from tests.unit.test_reporting_rollup import YEARS, apply, random_events, raw_monthly, rollup_rows

pytestmark = pytest.mark.infra


@pytest.fixture
def pg_reporting(services, tmp_path, new_database):
    container = bootstrap(services["reporting"], make_config("reporting", tmp_path,
                                                             database_url=new_database("reporting_rollup")))
    container.migrate()
    yield container
    container.dispose()


def apply_retrying(container, event, attempts: int = 5) -> None:
    """As the consumer runner does: a transaction that lost a race (a unique key) is tried again."""
    for attempt in range(attempts):
        try:
            return apply(container, event)
        except Exception:  # noqa: BLE001 - IntegrityError on the projection's insert race
            if attempt == attempts - 1:
                raise


def check(container) -> None:
    with container.session_factory() as session:
        for code in ("VN", "14", "116", "03646", "01"):
            unit = views.org_unit(code)
            for year in YEARS:
                got = [{k: v for k, v in row.items() if v or k in ("period", "operating", "inspected")}
                       for row in views.monthly(session, unit, year)]
                assert got == raw_monthly(session, unit, year), (code, year)
        kept = rollup_rows(session)
    handlers.finish_rebuild(container.uow())
    with container.session_factory() as session:
        assert rollup_rows(session) == kept


@pytest.mark.parametrize("seed", range(2))
def test_the_rollup_equals_the_raw_group_by_on_postgresql(pg_reporting, seed):
    for event in random_events(random.Random(seed)):
        apply(pg_reporting, event)
    check(pg_reporting)


def test_two_writers_applying_the_same_events_at_once_count_each_once(pg_reporting):
    events = random_events(random.Random(7), n_establishments=4, n_inspections=40)
    errors = []

    def writer(order):
        try:
            for event in order:
                apply_retrying(pg_reporting, event)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(events,)),
               threading.Thread(target=writer, args=(random.Random(1).sample(events, len(events)),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    check(pg_reporting)


def test_the_migration_fills_the_rollup_of_projections_already_there(pg_reporting):
    for event in random_events(random.Random(3)):
        apply(pg_reporting, event)
    with pg_reporting.session_factory() as session:
        kept = rollup_rows(session)
        assert kept and session.execute(select(p_inspections)).first()
    with pg_reporting.engine.begin() as conn:  # back to just after 0002, by the later revisions' own downgrades
        command.downgrade(alembic_config(pg_reporting.service, conn), "0002")
    with pg_reporting.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM r_monthly")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        conn.exec_driver_sql("DROP TABLE r_monthly; DROP TABLE r_districts")
    pg_reporting.migrate()
    with pg_reporting.session_factory() as session:
        assert rollup_rows(session) == kept
