"""`Container.read` on PostgreSQL: refuses writes, and survives a dropped connection.

The read engine pings nothing at checkout (one round trip less per GET); a read that finds its
pooled connection dead — the server restarted, or an administrator terminated it — runs once
more on a new connection, so the client never sees it.
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
    database = make_url(pg_registry.config.database_url).database
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database}).scalar_one()
    admin.dispose()
    assert killed >= 1
    again = client.get(url, headers=headers)
    assert again.status_code == 200 and again.get_json()["name"] == "Nhà nghỉ Bình Minh"
