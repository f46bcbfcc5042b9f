"""A tiny consumer service used by the plumbing tests: it records every registry event it applies.

It is built with the same chassis parts as a real service (tables, unit of work,
consumer spec), so the tests exercise the real outbox, inbox and runner.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError

from chassis.consumer import ConsumerSpec, PoisonEvent
from chassis.db import chassis_tables
from chassis.service import Service
from contracts import topics
from contracts.events import registry as registry_events

metadata = MetaData()
chassis_tables(metadata)
applied = Table(
    "applied", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("name", String(300)),
)

#: Names that make the handler fail: "fail-always" every time, "fail-once:<n>" the first n times.
failures: dict[str, int] = {}
#: While true, the handler fails as when the database connection is lost.
database_away = {"now": False}
#: The process dies (SystemExit, which nothing catches) on the handler's n-th call from now.
dies_on_call = {"n": 0}


def record_registration(uow, event) -> None:
    name = event.data.get("name", "")
    if database_away["now"]:
        raise OperationalError("INSERT INTO applied ...", {}, ConnectionError("server closed the connection"))
    if name == "poison":
        raise PoisonEvent("this establishment can never be applied")
    if name == "fail-always" or failures.get(name, 0) > 0:
        failures[name] = failures.get(name, 0) - 1
        raise RuntimeError(f"handler failure for {name}")
    dies_on_call["n"] -= 1
    if dies_on_call["n"] == 0:
        raise SystemExit("killed in the middle of a batch")
    with uow:  # as the services' handlers do: open the unit of work and commit it
        uow.session.execute(insert(applied).values(event_id=event.id, subject=event.subject, name=name))
        uow.commit()


probe = Service(
    name="probe",
    title="test probe",
    description="records registry events",
    metadata=metadata,
    migrations=Path("/nonexistent"),
    consumers=[ConsumerSpec("probe-registrations", {
        registry_events.ESTABLISHMENT_REGISTERED.type: record_registration,
    }, [topics.REGISTRY_ESTABLISHMENTS])],
)


def applied_rows(container) -> list:
    with container.engine.connect() as conn:
        return conn.execute(select(applied).order_by(applied.c.id)).all()


def applied_count(container) -> int:
    with container.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(applied)).scalar_one()
