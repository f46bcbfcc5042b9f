"""Pooled connections on PostgreSQL: `Container.read` refuses writes, and reads and writes
survive a connection the server dropped.

Neither engine pings the server at checkout (one round trip less per request): a pooled connection
that the server closed — it restarted, or an administrator terminated it — is seen closed at
checkout from its socket and replaced (`chassis.db._closed_by_server`); a read that finds its
connection dead all the same runs once more on a new one. The client sees neither.
"""
import uuid

import pytest
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InternalError

from chassis.auth import Authenticator
from services.registry.tables import establishments
from tests.conftest import TEST_SECRET

BODY = {"name": "Nhà nghỉ Bình Minh", "business_type": "accommodation", "owner_name": "Cầm Thị Hoa",
        "address": "Bản Hài", "commune_code": "03646"}


@pytest.fixture
def api(pg_registry):
    app = pg_registry.create_app()
    app.testing = True
    jwt = Authenticator(TEST_SECRET, None, "lanhmanh").issue(f"u-{uuid.uuid4().hex[:6]}", ["police"])
    return app.test_client(), {"Authorization": f"Bearer {jwt}"}


def backend_pids(database: str, admin_url: str) -> set[int]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pids = set(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                                {"db": database}).scalars())
    admin.dispose()
    return pids


def terminate(pids: set[int], admin_url: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                     {"pids": sorted(pids)})
    admin.dispose()


def count(session):
    return session.execute(select(func.count()).select_from(establishments)).scalar_one()


def test_a_read_cannot_write_on_postgresql(pg_registry, api):
    client, headers = api
    assert client.post("/registry/v1/establishments", json=BODY, headers=headers).status_code == 201

    def delete_all(session):
        session.execute(delete(establishments))

    with pytest.raises(InternalError, match="read-only transaction"):
        pg_registry.read(delete_all)
    assert pg_registry.read(count) == 1


def test_a_get_after_its_connection_was_terminated_answers(pg_registry, api, pg_server_url):
    client, headers = api
    created = client.post("/registry/v1/establishments", json=BODY, headers=headers).get_json()
    url = f"/registry/v1/establishments/{created['id']}"
    assert client.get(url, headers=headers).status_code == 200  # the read pool now holds a connection
    pids = backend_pids(make_url(pg_registry.config.database_url).database, pg_server_url)
    assert pids  # the read pool's connection among them
    terminate(pids, pg_server_url)
    again = client.get(url, headers=headers)
    assert again.status_code == 200 and again.get_json()["name"] == "Nhà nghỉ Bình Minh"


def test_a_write_after_its_pooled_connections_were_terminated_is_acknowledged(pg_registry, api, pg_server_url):
    """No ping at checkout, and yet the POST after an administrator terminated every connection of
    the service is a 201 (not a 503): the dead connections are replaced before a statement is sent
    on them, and what was stored before is all there."""
    client, headers = api
    first = client.post("/registry/v1/establishments", json=BODY, headers=headers)
    assert first.status_code == 201
    database = make_url(pg_registry.config.database_url).database
    before = backend_pids(database, pg_server_url)
    assert before  # the write pool holds the connection the first POST used
    terminate(before, pg_server_url)

    again = client.post("/registry/v1/establishments", json={**BODY, "name": "Nhà nghỉ Hoa Ban"}, headers=headers)
    assert again.status_code == 201, again.get_json()
    assert not before & backend_pids(database, pg_server_url)  # served on a new connection
    names = client.get("/registry/v1/establishments", headers=headers).get_json()
    assert sorted(e["name"] for e in names) == ["Nhà nghỉ Bình Minh", "Nhà nghỉ Hoa Ban"]
