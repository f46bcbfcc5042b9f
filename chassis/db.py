"""Database engines, sessions and the chassis's own tables.

Every service database holds, beside the service's tables, three chassis tables that
the service's first migration creates: ``outbox`` (events waiting for the relay),
``inbox`` (events a consumer has applied) and ``idempotency_keys`` (responses to
retried POSTs). Engines are made by the composition root, never at import time.
"""
from __future__ import annotations

import decimal
import json
import select as selectors
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text, any_, bindparam,
    cast, create_engine, event, func, select, text, update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class UTCDateTime(TypeDecorator):
    """A timestamp stored and returned in UTC, with its time zone, on PostgreSQL and SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a time zone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def chassis_tables(metadata: MetaData) -> dict[str, Table]:
    """Declare the outbox, inbox and idempotency tables on a service's metadata."""
    outbox = Table(
        "outbox", metadata,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("event_type", String(200), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("message_key", String(200), nullable=False),
        Column("payload", Text, nullable=False),  # the structured-mode CloudEvent, JSON
        Column("created_at", UTCDateTime(), nullable=False),
        Column("published_at", UTCDateTime()),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime(), nullable=False),
        Column("last_error", Text),
    )
    Index(
        "ix_outbox_pending_key", outbox.c.message_key, outbox.c.id,
        postgresql_where=outbox.c.published_at.is_(None),
        sqlite_where=outbox.c.published_at.is_(None),
    )
    # The relay walks pending rows in id order; without this index that walk passes over every
    # published row still in the table (100 ms per claim at 100 000 rows, most of the relay's time).
    Index(
        "ix_outbox_pending", outbox.c.id,
        postgresql_where=outbox.c.published_at.is_(None),
        sqlite_where=outbox.c.published_at.is_(None),
    )
    Index("ix_outbox_published_at", outbox.c.published_at)  # housekeeping: published rows by age
    inbox = Table(
        "inbox", metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("applied_at", UTCDateTime(), nullable=False),
    )
    # Neither this table nor idempotency_keys has an index on its time for the housekeeping's hourly
    # delete: the two cost 8-10 % of the registry's POST throughput under wrk (docs/benchmarks.md);
    # the delete scans tables that the housekeeping itself keeps to 30 and 7 days.
    idempotency = Table(
        "idempotency_keys", metadata,
        Column("principal", String(200), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("completed", Boolean, nullable=False, default=False),
        Column("status_code", Integer),
        Column("headers", Text),
        Column("body", Text),
        Column("created_at", UTCDateTime(), nullable=False),
    )
    return {"outbox": outbox, "inbox": inbox, "idempotency_keys": idempotency}


def insert_unless_present(session: Session, table: Table):
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` for the database behind ``session``
    (PostgreSQL or SQLite); add ``.returning(...)`` to learn which rows went in."""
    dialect = postgresql if on_postgresql(session) else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def inserted_unless_present(session: Session, table: Table, rows: list[dict], returning) -> list:
    """`insert_unless_present` of many rows (each with the same columns); ``returning`` of the rows
    that went in (see `insert_many`)."""
    if not rows:
        return []
    statement, parameters = insert_many(session, table, rows)
    return list(session.execute(statement.on_conflict_do_nothing().returning(returning), parameters).scalars())


def insert_many(session: Session, table: Table, rows: list[dict]) -> tuple:
    """``(statement, parameters)``: an INSERT of ``rows`` (each with the same columns) into ``table``,
    for the database behind ``session``, to run as ``session.execute(statement, parameters)``; add
    ``.on_conflict_do_nothing()``, ``.on_conflict_do_update(...)`` or ``.returning(...)`` first if
    needed. On PostgreSQL the rows go as one JSON text (``INSERT ... SELECT ... FROM
    json_to_recordset(...)``, see `_recordset`): one short statement however many rows, where an
    executemany is a text holding every row's parameters (with RETURNING) or a statement per row,
    each dumped, sent and answered (see `among`). On SQLite an executemany of the rows."""
    if not on_postgresql(session):
        return sqlite.insert(table), rows
    columns, source = _recordset(session, table, rows)
    return postgresql.insert(table).from_select(columns, select(*(source.c[c] for c in columns))), None


def update_many(session: Session, table: Table, rows: list[dict], key: str = "id") -> None:
    """UPDATE the rows of ``table`` whose ``key`` is each row's ``key``, setting the row's other
    columns (every row with the same columns, each key once). On PostgreSQL one ``UPDATE ... FROM
    json_to_recordset(...)`` (see `insert_many`); on SQLite an executemany."""
    if not rows:
        return
    if not on_postgresql(session):
        statement = (update(table).where(table.c[key] == bindparam("_key"))
                     .values({c: bindparam(c) for c in rows[0] if c != key}))
        session.execute(statement, [{**row, "_key": row[key]} for row in rows])
        return
    columns, source = _recordset(session, table, rows)
    session.execute(update(table).where(table.c[key] == source.c[key])
                    .values({c: source.c[c] for c in columns if c != key}))


def _recordset(session: Session, table: Table, rows: list[dict]):
    """The rows as ``json_to_recordset(:rows) AS anon(column type, ...)`` (PostgreSQL): one JSON
    text, dumped in C, where one array per column was dumped an element at a time in Python (a
    regular-expression search per element to quote it: a tenth of a consumer's time under
    cProfile). Each value goes through its column type's own bind processing first (e.g.
    `UTCDateTime`, which refuses a naive time)."""
    columns = list(rows[0])
    dialect = session.get_bind().dialect
    processors = [(c, table.c[c].type.bind_processor(dialect)) for c in columns]
    records = [{c: (process(row[c]) if process is not None else row[c]) for c, process in processors} for row in rows]
    source = func.json_to_recordset(cast(bindparam(None, json.dumps(records, default=_json_value), type_=Text), postgresql.JSON))
    return columns, source.table_valued(*(table.c[c] for c in columns)).render_derived(with_types=True)


def _json_value(value):
    if isinstance(value, (date, datetime)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not written through json_to_recordset")


def on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def among(session: Session, column, values) -> ColumnElement:
    """``column IN values``, for a long list of values: on PostgreSQL ``column = ANY(:array)``, one
    parameter, so that the statement's text is the same whatever the number of values. An expanded
    ``IN`` is a new text for each count, longer than psycopg caches (4 KiB): SQLAlchemy renders and
    psycopg parses it again at every call (~8 ms for 1 000 ids, a fifth of a consumer's batch)."""
    values = list(values)
    if on_postgresql(session):
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def make_engine(url: str, **kwargs) -> Engine:
    """The engine of a service's writes (and of its workers): a transaction per unit of work, each
    pooled connection checked, without a round trip, when checked out (`_closed_by_server`): a
    database restart costs no request."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, (), **kwargs)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _closed_by_server)
    return engine


def make_read_engine(url: str) -> Engine:
    """The engine of a service's answers to reads (GET): the database refuses any write through
    it (``default_transaction_read_only``; SQLite ``query_only``), and it runs in autocommit,
    each statement on its own, as a READ COMMITTED transaction's statements would see the data
    anyway, without the BEGIN and ROLLBACK round trips. Its connections are checked at checkout
    as the write engine's are; and `chassis.service.Container.read` runs a read again on a fresh
    connection when the one it had was found dropped all the same (a read is safe to repeat)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, ("PRAGMA query_only=ON",), isolation_level="AUTOCOMMIT")
    engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=10)
    event.listen(engine, "checkout", _closed_by_server)

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_connection.commit()

    return engine


def _closed_by_server(dbapi_connection, _record, _proxy) -> None:
    """Pool checkout: refuse a pooled PostgreSQL connection that the server has closed, so that the
    pool replaces it before any statement is sent on it.

    An idle connection has nothing to read: the server speaks only when asked. When PostgreSQL
    stops, restarts or terminates the backend (``pg_terminate_backend``, ``idle_session_timeout``)
    it sends its FATAL message and closes the socket, which then polls readable. A zero-timeout
    ``select`` sees that for the cost of a system call, where SQLAlchemy's ``pool_pre_ping`` spends
    a round trip to the server on every checkout (the same check as go-sql-driver/mysql's
    ``connCheck``). A connection lost without the server closing it (a network cut) is found by
    neither before its first statement. Raising `DisconnectionError` makes the pool discard the
    connection and check out a fresh one."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the pooled connection is closed")
    try:
        readable, _, _ = selectors.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError) as exc:
        raise DisconnectionError(f"the pooled connection's socket is unusable: {exc}") from exc
    if readable:
        raise DisconnectionError("the server closed the pooled connection")


def _sqlite_engine(url: str, pragmas: tuple[str, ...], **kwargs) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=30000", *pragmas):
            cursor.execute(pragma)
        cursor.close()

    return engine


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - readiness reports any failure as "not ready"
        return False
