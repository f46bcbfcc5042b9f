"""Fixtures on the real PostgreSQL and Kafka started by `make test`."""
from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from chassis.consumer import ConsumerSpec
from chassis.service import bootstrap
from chassis.transport.kafka import KafkaTransport
from tests.conftest import TEST_SECRET, make_config, require_env
from tests.support import probe as probe_module

pytestmark = pytest.mark.infra


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return require_env("LANHMANH_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def kafka_servers() -> str:
    return require_env("KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture
def new_database(pg_server_url):
    """Make empty PostgreSQL databases (one per service, as in production); drop them afterwards."""
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    made = []

    def make(label: str) -> str:
        name = f"lm_{label}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)

    yield make
    with admin.connect() as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def kafka(kafka_servers):
    return KafkaTransport(kafka_servers, partitions=6)  # as in production: every test topic has 6


@pytest.fixture
def pg_registry(services, tmp_path, new_database, kafka):
    container = bootstrap(services["registry"], make_config(
        "registry", tmp_path, database_url=new_database("registry"), transport="kafka"), kafka)
    container.migrate()
    kafka.ensure_topics(container.topics())
    yield container
    container.dispose()


@pytest.fixture
def pg_probe(tmp_path, new_database, kafka):
    """The recording consumer on its own PostgreSQL database, in a consumer group of its own."""
    spec = probe_module.probe.consumers[0]
    service = dataclasses.replace(probe_module.probe, consumers=[
        ConsumerSpec(f"probe-{uuid.uuid4().hex[:8]}", spec.handlers, spec.topics)])
    container = bootstrap(service, make_config("probe", tmp_path, database_url=new_database("probe"),
                                               transport="kafka", consumer_max_attempts=3), kafka)
    probe_module.metadata.create_all(container.engine)
    probe_module.failures.clear()
    yield container
    container.dispose()


def wait_until(condition, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


__all__ = ["TEST_SECRET", "wait_until"]
