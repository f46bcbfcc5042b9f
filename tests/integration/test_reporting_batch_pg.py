"""The reporting consumer's batch handlers on PostgreSQL (their rows go through json_to_recordset):
a run applied at once leaves what one-by-one application leaves, as tests/unit/test_reporting_batch.py
checks on SQLite."""
from __future__ import annotations

import pytest

from chassis.service import bootstrap
from tests.conftest import make_config
from tests.unit.test_reporting_batch import check_runs_leave_what_one_by_one_leaves

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
    check_runs_leave_what_one_by_one_leaves(*two_pg_reportings, seed)
