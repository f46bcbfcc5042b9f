"""What a service declares about itself (`Service`) and the composition root (`bootstrap`).

A service module exports one `Service` descriptor (its blueprints, tables, migrations,
unit of work, consumers and error table) and registers it in the ``lanhmanh.services``
entry-point group. `bootstrap(service, config)` builds everything the service needs at
run time (engine, sessions, outbox, transport, authenticator) into a `Container`; the
web app, the worker, the CLI and the tests all start from it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError

from chassis import db
from chassis.auth import Authenticator
from chassis.config import Config
from chassis.consumer import ConsumerRunner, ConsumerSpec
from chassis.housekeeping import Housekeeping, rules
from chassis.outbox import Outbox, Relay
from chassis.transport import Transport, make_transport
from chassis.uow import UnitOfWork
from contracts import topics

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass
class Service:
    name: str
    title: str
    description: str
    metadata: MetaData
    migrations: Path
    blueprints: list = field(default_factory=list)
    uow_class: type[UnitOfWork] = UnitOfWork
    consumers: list[ConsumerSpec] = field(default_factory=list)
    publishes: list[str] = field(default_factory=list)  # topics
    errors: dict[type[Exception], int] = field(default_factory=dict)  # domain exception -> HTTP status
    demo: Callable[["Container"], int] | None = None
    #: Demo loaders run in this order (lower first): upstream services before those fed by their events.
    demo_order: int = 50
    setup: Callable[[], None] | None = None  # e.g. map domain classes onto tables; run by bootstrap
    #: A page for people (not the API docs), e.g. the reporting dashboard "/reporting/".
    ui: str | None = None
    #: Service-specific command-line commands (click), run as ``lanhmanh admin <service> <command>``;
    #: each is called with the service's `Container` as its first argument.
    commands: list = field(default_factory=list)
    version: str = "1.0.0"

    @cached_property
    def tables(self) -> dict:
        return {name: self.metadata.tables[name] for name in ("outbox", "inbox", "idempotency_keys")}


class Container:
    """Everything one service needs at run time, built once by `bootstrap`."""

    def __init__(self, service: Service, config: Config, transport: Transport | None = None):
        self.service = service
        self.config = config
        if service.setup:
            service.setup()
        self.engine = db.make_engine(config.database_url)
        self.session_factory = db.make_session_factory(self.engine)
        self.read_engine = db.make_read_engine(config.database_url)
        self.read_session_factory = db.make_session_factory(self.read_engine)
        self.outbox = Outbox(service.tables["outbox"], f"/lanhmanh/{service.name}", frozenset(service.publishes))
        self.outbox.attach(self.session_factory)
        self.authenticator = Authenticator.from_config(config)
        self._transport = transport

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = make_transport(self.config)
        return self._transport

    def uow(self) -> UnitOfWork:
        return self.service.uow_class(self.session_factory, self.outbox)

    def read(self, query: Callable[..., T], *args, **kwargs) -> T:
        """``query(session, *args, **kwargs)`` on a session that can only read (`db.make_read_engine`):
        what a GET answers from. A read that finds its pooled connection dropped (the database
        restarted) runs once more, on a new connection; if the database is still away, the error
        goes up (a 503 from the web app)."""
        for attempt in (1, 2):
            try:
                with self.read_session_factory() as session:
                    return query(session, *args, **kwargs)
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
                log.info("read found its database connection dropped; reading again on a new one")
        raise AssertionError("unreachable")

    def topics(self) -> list[str]:
        names = {*self.service.publishes, topics.DEAD_LETTERS}
        for spec in self.service.consumers:
            names.update(spec.topics)
        return sorted(names)

    def relay(self) -> Relay:
        return Relay(self.service.name, self.service.tables["outbox"], self.session_factory,
                     self.transport.producer(), batch_size=self.config.relay_batch_size,
                     max_backoff=self.config.relay_max_backoff)

    def housekeeping(self) -> Housekeeping:
        return Housekeeping(self.service.name, self.service.tables, self.session_factory, rules(self.config))

    def consumer_runners(self) -> list[ConsumerRunner]:
        return [self.runner_for(spec) for spec in self.service.consumers]

    def runner_for(self, spec: ConsumerSpec) -> ConsumerRunner:
        """A consumer runner for ``spec`` (a declared consumer, or e.g. a rebuild's one-off group)."""
        return ConsumerRunner(
            self.service.name, spec, self.service.tables["inbox"], self.uow,
            self.transport.consumer(self.config.consumer_group_prefix + spec.name, spec.topics),
            self.transport.producer(),
            max_attempts=self.config.consumer_max_attempts, retry_backoff=self.config.consumer_retry_backoff,
            batch_size=self.config.consumer_batch_size,
        )

    def create_app(self):
        from chassis.web import create_app

        return create_app(self)

    def migrate(self) -> None:
        from chassis import logs
        from chassis.migrations import upgrade

        with logs.working_for(self.service.name):
            upgrade(self.service, self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def bootstrap(service: Service, config: Config | None = None, transport: Transport | None = None) -> Container:
    return Container(service, config or Config.from_env(service.name), transport)


def discover(names: tuple[str, ...] | None = None) -> dict[str, Service]:
    """The installed services (or only ``names``), from the ``lanhmanh.services`` entry points.

    Only the services asked for are imported: a worker of one service does not load the others.
    """
    points = {ep.name: ep for ep in entry_points(group="lanhmanh.services")}
    unknown = sorted(set(names or ()) - set(points))
    if unknown:
        raise KeyError(f"unknown service(s) {', '.join(unknown)}; installed: {', '.join(sorted(points))}")
    return {name: points[name].load() for name in sorted(names or points)}


def installed() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="lanhmanh.services"))
