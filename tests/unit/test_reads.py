"""GETs answer from `Container.read`: a session that sees every committed write and cannot write.

The read engine runs in autocommit (no BEGIN/ROLLBACK round trips) and the database itself
refuses writes through it (SQLite ``query_only`` here; PostgreSQL in tests/integration/test_reads_pg.py).
"""
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError

from services.registry.tables import establishments

BODY = {"name": "Karaoke Hoa Hồng", "business_type": "karaoke", "owner_name": "Lò Văn Minh",
        "address": "Tổ 2", "commune_code": "03646"}


def count(session):
    return session.execute(select(func.count()).select_from(establishments)).scalar_one()


def test_a_get_sees_what_a_post_just_committed(client, token):
    headers = token("police")
    created = client.post("/registry/v1/establishments", json=BODY, headers=headers)
    assert created.status_code == 201
    found = client.get(f"/registry/v1/establishments/{created.get_json()['id']}", headers=headers)
    assert found.status_code == 200 and found.get_json()["name"] == "Karaoke Hoa Hồng"
    listed = client.get("/registry/v1/establishments?commune_code=03646", headers=headers)
    assert [e["id"] for e in listed.get_json()] == [created.get_json()["id"]]


def test_a_read_cannot_write(registry, client, token):
    assert client.post("/registry/v1/establishments", json=BODY, headers=token("police")).status_code == 201

    def delete_all(session):
        session.execute(delete(establishments))
        session.commit()

    with pytest.raises(OperationalError, match="readonly"):
        registry.read(delete_all)
    assert registry.read(count) == 1
