"""A service made ready for schemathesis: in-process, on SQLite, cheap per request, with a little history.

The conformance fuzz (tests/unit/test_api_conformance.py) sends thousands of requests per service,
so what a request costs outside the service's own code matters:

* SQLite commits without fsync (``PRAGMA synchronous=OFF``) — WAL's default fsyncs every commit
  (~3 ms on the CI disk), which would be most of a request's time; a fuzz database is thrown away,
  so durability buys nothing. Only the fuzz's engines are changed: `make run` keeps its defaults.
* A few real events on the log, applied by the service's own consumers: a rebuild of the reporting
  projections replays them instead of waiting out its quiet period on an empty log (10 s a call),
  and the consuming services start with a known establishment instead of none.
"""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from chassis import envelope
from chassis.service import Container, bootstrap, discover
from chassis.transport import Outgoing
from chassis.transport.embedded import EmbeddedTransport
from contracts.events import registry
from tests.conftest import make_config

SEED_COMMUNE, SEED_DISTRICT = "03646", "116"  # Phường Chiềng Lề, Thành phố Sơn La


class RequestCount(Counter):
    """Generated requests sent, by service: the fuzz asserts its own size, so that a generation that
    silently collapses (a schema that turns unsatisfiable, a setting that stops it early) fails."""


def fuzz_container(name: str, tmp: Path) -> Container:
    """The service ``name`` on fresh SQLite files under ``tmp``, migrated, fsync off, history seeded."""
    transport = EmbeddedTransport(f"sqlite:///{tmp}/events.db", partitions=3)
    container = bootstrap(discover((name,))[name], make_config(name, tmp), transport)
    container.migrate()
    transport.ensure_topics(container.topics())
    for engine in (container.engine, transport.engine):
        without_fsync(engine)
    seed_history(container)
    return container


def without_fsync(engine: Engine) -> None:
    """Every connection the engine opens from now on commits without waiting for the disk."""

    @event.listens_for(engine, "connect")
    def _no_fsync(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    engine.dispose()  # the connections migrate() opened were made before the listener


def seed_history(container: Container, establishments: int = 3) -> None:
    """Put a few registered establishments on the log and let the service's consumers apply them."""
    messages = [Outgoing(registry.ESTABLISHMENT_REGISTERED.topic, str(eid), registered(eid))
                for eid in (uuid.uuid4() for _ in range(establishments))]
    container.transport.producer().send(messages, 5)
    for runner in container.consumer_runners():
        while runner.run_once(timeout=0.01, max_records=500):
            pass
        runner.consumer.close()


def registered(establishment_id: uuid.UUID) -> bytes:
    """A valid ``registry.establishment.registered`` event, as the registry would publish it."""
    _, value = envelope.build(registry.ESTABLISHMENT_REGISTERED, str(establishment_id), {
        "establishment_id": establishment_id, "name": "Nhà nghỉ Bình Minh", "business_type": "accommodation",
        "address": "Bản Hài", "commune_code": SEED_COMMUNE, "district_code": SEED_DISTRICT,
        "province_code": "14", "status": "active", "risk_level": "medium", "operating_since": date(2019, 1, 1),
        "registered_at": datetime(2019, 1, 1, tzinfo=timezone.utc)}, "/lanhmanh/registry")
    return value
