"""Every service's migrations build exactly the tables and indexes its code declares (SQLite)."""
import pytest

from chassis import db
from chassis.migrations import differences, upgrade
from chassis.service import installed


def migrated_differences(service, url: str) -> list:
    """Upgrade a fresh database at ``url`` to head; what it lacks or has too much of."""
    if service.setup:
        service.setup()
    engine = db.make_engine(url)
    try:
        upgrade(service, engine)
        return differences(service, engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", installed())
def test_migrations_build_what_the_code_declares(services, tmp_path, name):
    assert migrated_differences(services[name], f"sqlite:///{tmp_path}/{name}.db") == []
