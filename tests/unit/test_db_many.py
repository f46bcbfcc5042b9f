"""`chassis.db.insert_many`, `update_many` and `inserted_unless_present`: many rows in one statement
(json_to_recordset on PostgreSQL, an executemany on SQLite) keep every value as it was given:
Vietnamese text, dates, time-zoned timestamps, booleans, integers, NULLs. The same checks run on
PostgreSQL in tests/integration/test_db_many_pg.py."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import BigInteger, Boolean, Column, Date, Integer, MetaData, String, Table, select

from chassis import db

metadata = MetaData()
things = Table(
    "things", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("opened_on", Date),
    Column("seen_at", db.UTCDateTime()),
    Column("open", Boolean),
    Column("count", Integer),
    Column("big", BigInteger),
)
ICT = timezone(timedelta(hours=7))
ROWS = [
    {"id": "a", "name": "Quán karaoke Hoa Ban – Chiềng Lề", "opened_on": date(2024, 2, 29),
     "seen_at": datetime(2024, 3, 1, 8, 30, 15, 123456, tzinfo=ICT), "open": True, "count": 3, "big": 2 ** 40},
    {"id": "b", "name": 'Nhà nghỉ "Sơn La" \\ 100%', "opened_on": None, "seen_at": None, "open": False,
     "count": -1, "big": None},
    {"id": "c", "name": "", "opened_on": date(1999, 12, 31), "seen_at": datetime(2020, 1, 1, tzinfo=timezone.utc),
     "open": None, "count": None, "big": 0},
]


def stored(session) -> dict[str, dict]:
    return {row.id: dict(row._mapping) for row in session.execute(select(things).order_by(things.c.id))}


def check_insert_and_update(session_factory) -> None:
    with session_factory() as session, session.begin():
        session.execute(*db.insert_many(session, things, ROWS))
    with session_factory() as session:
        got = stored(session)
    assert got == {row["id"]: row for row in ROWS}  # timestamps compare as instants
    assert got["a"]["seen_at"].utcoffset() == timedelta(0)  # stored and read back in UTC

    changes = [{"id": "a", "name": "Quán karaoke Hoa Ban (đã đóng)", "open": False, "count": None},
               {"id": "c", "name": "Cơ sở mới", "open": True, "count": 7}]
    with session_factory() as session, session.begin():
        db.update_many(session, things, changes)
    with session_factory() as session:
        after = stored(session)
    assert after["a"] == {**got["a"], **changes[0]} and after["c"] == {**got["c"], **changes[1]}
    assert after["b"] == got["b"]  # a row not named is left as it was

    naive = {**ROWS[0], "id": "d", "seen_at": datetime(2024, 3, 1, 8, 30)}
    with session_factory() as session, session.begin(), pytest.raises(Exception, match="naive"):
        session.execute(*db.insert_many(session, things, [naive]))  # as one row's insert refuses it


def check_inserted_unless_present(session_factory) -> None:
    with session_factory() as session, session.begin():
        session.execute(*db.insert_many(session, things, ROWS[:1]))
    again = [{**ROWS[0], "name": "không ghi đè"}, ROWS[1]]
    with session_factory() as session, session.begin():
        went_in = db.inserted_unless_present(session, things, again, things.c.id)
    assert went_in == ["b"]
    with session_factory() as session:
        assert stored(session)["a"]["name"] == ROWS[0]["name"]


@pytest.fixture
def sqlite_sessions(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/many.db")
    metadata.create_all(engine)
    yield db.make_session_factory(engine)
    engine.dispose()


def test_many_rows_keep_their_values_on_sqlite(sqlite_sessions):
    check_insert_and_update(sqlite_sessions)


def test_rows_already_present_are_left_and_not_returned_on_sqlite(sqlite_sessions):
    check_inserted_unless_present(sqlite_sessions)


def test_a_value_json_cannot_carry_is_refused_by_name():
    with pytest.raises(TypeError, match="bytes"):
        db._json_value(b"\x00")
