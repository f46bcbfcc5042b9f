"""`chassis.db.insert_many`, `update_many` and `inserted_unless_present` on PostgreSQL, where the rows
go as one JSON text through json_to_recordset: the checks of tests/unit/test_db_many.py."""
from __future__ import annotations

import pytest

from chassis import db
from tests.unit.test_db_many import check_insert_and_update, check_inserted_unless_present, metadata

pytestmark = pytest.mark.infra


@pytest.fixture
def pg_sessions(new_database):
    engine = db.make_engine(new_database("many"))
    metadata.create_all(engine)
    yield db.make_session_factory(engine)
    engine.dispose()


def test_many_rows_keep_their_values_on_postgresql(pg_sessions):
    check_insert_and_update(pg_sessions)


def test_rows_already_present_are_left_and_not_returned_on_postgresql(pg_sessions):
    check_inserted_unless_present(pg_sessions)
