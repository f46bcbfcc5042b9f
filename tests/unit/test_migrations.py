"""Every service's migrations build exactly the tables and indexes its code declares (SQLite)."""
import pytest

from tests.support.schema import drift

SERVICES = ["registry", "inspection", "cases", "support", "reporting"]


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_build_what_the_code_declares(services, tmp_path, name):
    assert drift(services[name], f"sqlite:///{tmp_path}/{name}.db") == []
