"""The reporting consumer's batch handlers (a run of inspection or establishment events written at once) leave
exactly what the one-event handler leaves applied to each event in turn: the projection rows and
the monthly rollup, on random sequences with duplicates, corrections and events out of order."""
from __future__ import annotations

import itertools
import random

import pytest
from sqlalchemy import select

from chassis.service import bootstrap
from services.reporting import handlers
from services.reporting.tables import p_establishments, p_inspections
from tests.conftest import make_config
from tests.unit.test_reporting_rollup import random_events, rollup_rows


@pytest.fixture
def two_reportings(services, tmp_path, embedded_transport):
    made = []
    for name in ("one_by_one", "in_runs"):
        (tmp_path / name).mkdir()
        container = bootstrap(services["reporting"], make_config("reporting", tmp_path / name), embedded_transport)
        container.migrate()
        made.append(container)
    yield made
    for container in made:
        container.dispose()


def apply_one_by_one(container, events) -> None:
    for event in events:
        with container.uow() as uow:
            handlers.PROJECTION_HANDLERS[event.type](uow, event)
            uow.commit()


def apply_in_runs(container, events) -> int:
    """As the consumer runner does with a poll: consecutive events whose types share a batch handler go to it
    together (a run may mix the types, e.g. an inspection scheduled, started and completed)."""
    batched = 0
    with container.uow() as uow:
        for _, run in itertools.groupby(events, key=lambda e: handlers.BATCH_HANDLERS.get(e.type, e.type)):
            run = list(run)
            if run[0].type in handlers.BATCH_HANDLERS and len(run) > 1:
                handlers.BATCH_HANDLERS[run[0].type](uow, run)
                batched += len(run)
            else:
                for event in run:
                    handlers.PROJECTION_HANDLERS[event.type](uow, event)
        uow.commit()
    return batched


def rows(container, table) -> list:
    with container.engine.connect() as conn:
        return conn.execute(select(table).order_by(table.c.id)).all()


def check_runs_leave_what_one_by_one_leaves(one_by_one, in_runs, seed: int) -> None:
    """Random events applied one by one to ``one_by_one`` and in runs to ``in_runs``: the same rows."""
    rng = random.Random(seed)
    events = random_events(rng, n_inspections=60)
    if seed % 2:  # long runs of one type, as a replay of one partition gives
        events.sort(key=lambda e: e.type)
    apply_one_by_one(one_by_one, events)
    assert apply_in_runs(in_runs, events) > 10  # the batch handler did apply runs
    for table in (p_inspections, p_establishments):
        assert rows(in_runs, table) == rows(one_by_one, table)
    with one_by_one.session_factory() as a, in_runs.session_factory() as b:
        assert rollup_rows(b) == rollup_rows(a)
        assert rollup_rows(a)  # not trivially equal


@pytest.mark.parametrize("seed", range(8))
def test_a_run_applied_at_once_leaves_what_one_by_one_leaves(two_reportings, seed):
    check_runs_leave_what_one_by_one_leaves(*two_reportings, seed)
