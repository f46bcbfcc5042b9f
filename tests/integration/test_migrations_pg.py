"""Every service's migrations build exactly the tables and indexes its code declares (PostgreSQL).

A missing migration means production runs without what the code relies on, e.g. the outbox's
partial index that keeps the relay's claim from reading every published row.
"""
import pytest

from chassis.service import installed
from tests.unit.test_migrations import migrated_differences


@pytest.mark.parametrize("name", installed())
def test_migrations_build_what_the_code_declares(services, new_database, name):
    assert migrated_differences(services[name], new_database(name)) == []
