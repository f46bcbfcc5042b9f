"""Fixtures shared by every test.

Unit and API tests run on SQLite and the embedded transport (what `make run` uses).
Integration and end-to-end tests use the real PostgreSQL and Kafka that `make test`
starts (`LANHMANH_TEST_DATABASE_URL`, `KAFKA_BOOTSTRAP_SERVERS`); when those are
missing they fail, they never skip.
"""
from __future__ import annotations

import os
import uuid

import pytest

from chassis.auth import Authenticator
from chassis.config import Config
from chassis.service import bootstrap, discover
from chassis.transport.embedded import EmbeddedTransport

TEST_SECRET = "test-secret-0123456789-abcdefghijklmnop"


@pytest.fixture(scope="session")
def services():
    return discover()


def make_config(service: str, tmp_path, **overrides) -> Config:
    settings = dict(
        service=service,
        database_url=f"sqlite:///{tmp_path}/{service}.db",
        embedded_log_url=f"sqlite:///{tmp_path}/events.db",
        jwt_secret=TEST_SECRET,
        consumer_retry_backoff=0.01,
        relay_poll_interval=0.05,
    )
    return Config(**{**settings, **overrides})


@pytest.fixture
def embedded_transport(tmp_path):
    return EmbeddedTransport(f"sqlite:///{tmp_path}/events.db", partitions=3)


@pytest.fixture
def registry(services, tmp_path, embedded_transport):
    """The registry service on a fresh SQLite database, migrated, with the embedded transport."""
    container = bootstrap(services["registry"], make_config("registry", tmp_path), embedded_transport)
    container.migrate()
    embedded_transport.ensure_topics(container.topics())
    yield container
    container.dispose()


@pytest.fixture
def client(registry):
    app = registry.create_app()
    app.testing = True
    return app.test_client()


@pytest.fixture
def token():
    """token("admin") or token("police", district="116"): a valid bearer header value."""
    authenticator = Authenticator(TEST_SECRET, None, "lanhmanh")

    def issue(*roles: str, district: str | None = None, sub: str | None = None) -> dict:
        jwt = authenticator.issue(sub or f"user-{uuid.uuid4().hex[:8]}", list(roles), district)
        return {"Authorization": f"Bearer {jwt}"}

    return issue


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the suite with `make test`, which starts PostgreSQL and Kafka")
    return value
