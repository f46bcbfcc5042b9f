"""The reporting consumer's batch handlers on PostgreSQL (their rows go through json_to_recordset):
a run applied at once leaves what one-by-one application leaves, as tests/unit/test_reporting_batch.py
checks on SQLite."""
from __future__ import annotations

import random

import pytest

from chassis.service import bootstrap
from services.reporting.tables import p_establishments, p_inspections
from tests.conftest import make_config
from tests.unit.test_reporting_batch import apply_in_runs, apply_one_by_one, rows
from tests.unit.test_reporting_rollup import random_events, rollup_rows

pytestmark = pytest.mark.infra


@pytest.fixture
def two_pg_reportings(services, tmp_path, new_database):
    made = []
    for name in ("one_by_one", "in_runs"):
        (tmp_path / name).mkdir()
        container = bootstrap(services["reporting"], make_config(
            "reporting", tmp_path / name, database_url=new_database(f"reporting_{name}")))
        container.migrate()
        made.append(container)
    yield made
    for container in made:
        container.dispose()


@pytest.mark.parametrize("seed", range(4))
def test_a_run_applied_at_once_leaves_what_one_by_one_leaves_on_postgresql(two_pg_reportings, seed):
    rng = random.Random(seed)
    events = random_events(rng, n_inspections=60)
    if seed % 2:
        events.sort(key=lambda e: e.type)
    one_by_one, in_runs = two_pg_reportings
    apply_one_by_one(one_by_one, events)
    assert apply_in_runs(in_runs, events) > 10
    for table in (p_inspections, p_establishments):
        assert rows(in_runs, table) == rows(one_by_one, table)
    with one_by_one.session_factory() as a, in_runs.session_factory() as b:
        assert rollup_rows(b) == rollup_rows(a)
        assert rollup_rows(a)
