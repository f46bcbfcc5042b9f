"""The transactional outbox and its relay.

`add` writes an event into the ``outbox`` table through the caller's session, so the
event commits or rolls back with the change it describes: it flushes the session (the
change is written in the order it was made, as before the event), keeps the row on the
session, and the transaction's events are inserted together, in one statement, as it
commits (`attach`); a rollback drops them. The `Relay` publishes pending rows to the
transport and marks them published. It

* keeps per-key order: it only takes the oldest pending row of each key (the head),
  plus the rows behind the heads it has locked;
* is safe with several relays at once: heads are locked ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so two relays never hold the same key (SQLite serialises writers);
* never gives up: a row the broker did not acknowledge gets ``attempts + 1``, its error,
  and a ``next_attempt_at`` with capped exponential backoff, and is tried again until
  it goes through. Nothing is ever marked failed for good.

A crash between publishing and marking publishes the row again on restart: consumers
see a duplicate, which their inbox applies once.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import Integer, and_, bindparam, event, exists, func, insert, select, text, update
from sqlalchemy.orm import Session, SessionTransaction, aliased, sessionmaker

from chassis import envelope, logs, metrics
from chassis.db import among, insert_many, on_postgresql
from chassis.transport import Outgoing, Producer
from contracts.events import EventType

log = logging.getLogger(__name__)


FEW = 10  # events of one commit stored by an executemany; more, by `insert_many`
PENDING = "lanhmanh.outbox"  # the key of a session's events not inserted yet, in ``session.info``


def now() -> datetime:
    return datetime.now(timezone.utc)


class Outbox:
    def __init__(self, table, source: str, topics: frozenset[str]):
        self.table = table
        self.source = source
        self.topics = topics  # what the service declares it publishes; its relay runs only if any
        self._insert = insert(table)  # built once: run with each commit's rows

    def attach(self, session_factory: sessionmaker) -> None:
        """Insert the rows `add` kept on a session of ``session_factory`` as its transaction commits
        (one statement for them all: an inspection result's three events cost one round trip, not
        three), and forget them when it ends otherwise."""
        event.listen(session_factory, "before_commit", self._insert_pending)
        event.listen(session_factory, "after_transaction_end", self._forget_pending)

    def add(self, session: Session, event_type: EventType, subject: str, data: dict) -> str:
        if event_type.topic not in self.topics:
            raise ValueError(f"{self.source} does not declare that it publishes to {event_type.topic!r} "
                             "(its Service.publishes): the event would never leave the outbox")
        event_id, payload = envelope.build(
            event_type, str(subject), data, self.source,
            correlation_id=logs.correlation_id.get(), causation_id=logs.causation_id.get(),
        )
        session.flush()  # the change before its event, in the order it was made
        session.connection()  # the transaction has begun, so that its end, however it ends, is seen
        session.info.setdefault(PENDING, []).append({
            "event_id": event_id, "event_type": event_type.type, "topic": event_type.topic,
            "message_key": str(subject), "payload": payload.decode("utf-8"), "created_at": now(), "attempts": 0,
            "next_attempt_at": now()})
        return event_id

    def _insert_pending(self, session: Session) -> None:
        rows = session.info.pop(PENDING, None)
        if not rows:
            return
        if len(rows) <= FEW:  # a request's few events: one pipelined executemany, the cheapest to build
            session.execute(self._insert, rows)
        else:  # a consumer batch's many: one statement, one round trip (`insert_many`)
            session.execute(*insert_many(session, self.table, rows))

    def _forget_pending(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            session.info.pop(PENDING, None)


class Relay:
    def __init__(self, service: str, table, session_factory: sessionmaker, producer: Producer,
                 batch_size: int = 1000, max_backoff: float = 30.0, send_timeout: float = 30.0):
        self.service = service
        self.table = table
        self.session_factory = session_factory
        self.producer = producer
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.send_timeout = send_timeout
        self._heads = self._heads_statement()

    def _heads_statement(self):
        """The oldest pending row of each key that no other relay holds (SKIP LOCKED), in id order, up to
        ``:batch_size``; with whether a later row of its key is pending. Built once, run with each pass's values."""
        t = self.table
        earlier, later = aliased(t), aliased(t)
        is_head = ~exists().where(
            and_(earlier.c.message_key == t.c.message_key, earlier.c.id < t.c.id, earlier.c.published_at.is_(None))
        )
        followed = exists().where(
            and_(later.c.message_key == t.c.message_key, later.c.id > t.c.id, later.c.published_at.is_(None))
        )
        return (select(t, followed.label("followed"))
                .where(t.c.published_at.is_(None), t.c.next_attempt_at <= bindparam("now"), is_head)
                .order_by(t.c.id)
                .limit(bindparam("batch_size", type_=Integer))
                .with_for_update(skip_locked=True))

    def _claim(self, session: Session) -> list:
        """Lock up to ``batch_size`` pending rows whose keys no other relay holds, in order."""
        postgresql = on_postgresql(session)
        if postgresql:
            # Walk the pending rows' index in id order, whatever the statistics say: on an outbox
            # filled faster than autovacuum analyses it, the planner took ~100 000 pending rows for
            # ~100, read them all and sorted them (270 ms a claim instead of 3; docs/benchmarks.md).
            # Left off for the rest of the pass (the marking UPDATE sorts nothing) unless rows
            # behind the heads are looked up below.
            session.execute(text("SET LOCAL enable_sort = off"))
        heads = session.execute(self._heads, {"now": now(), "batch_size": self.batch_size}).all()
        if not any(h.followed for h in heads):
            return heads  # most often: no key has a second pending row, the heads are the batch
        if postgresql:
            session.execute(text("SET LOCAL enable_sort TO DEFAULT"))
        keys = [h.message_key for h in heads]
        t = self.table
        # Rows behind a locked head cannot be claimed by another relay: their head is pending.
        return session.execute(
            select(t)
            .where(t.c.published_at.is_(None), among(session, t.c.message_key, keys))
            .order_by(t.c.id)
            .limit(self.batch_size)
        ).all()

    def run_once(self) -> int:
        """Publish one batch; return how many rows were published."""
        with self.session_factory() as session, session.begin():
            rows = self._claim(session)
            if not rows:
                return 0
            results = self.producer.send(
                [Outgoing(r.topic, r.message_key, r.payload.encode("utf-8"),
                          {"content-type": envelope.CONTENT_TYPE.encode()}) for r in rows],
                timeout=self.send_timeout,
            )
            published, failed_keys = [], set()
            for row, error in zip(rows, results):
                if error is None and row.message_key not in failed_keys:
                    published.append(row.id)
                    metrics.EVENTS_PUBLISHED.labels(self.service, row.topic).inc()
                else:
                    failed_keys.add(row.message_key)  # later rows of this key wait for it
                    if error is not None:
                        self._postpone(session, row, error)
            if published:
                session.execute(update(self.table).where(among(session, self.table.c.id, published))
                                .values(published_at=now()))
            return len(published)

    def _postpone(self, session: Session, row, error: Exception) -> None:
        attempts = row.attempts + 1
        delay = min(self.max_backoff, 0.5 * 2 ** min(attempts, 16))
        metrics.RELAY_FAILURES.labels(self.service).inc()
        log.warning("outbox publish failed; will retry",
                    extra={"event_id": row.event_id, "attempts": attempts, "retry_in_s": delay, "error": str(error)})
        session.execute(
            update(self.table).where(self.table.c.id == row.id).values(
                attempts=attempts, last_error=str(error)[:2000], next_attempt_at=now() + timedelta(seconds=delay)
            )
        )

    def backlog(self) -> int:
        with self.session_factory() as session:
            return session.execute(
                select(func.count()).select_from(self.table).where(self.table.c.published_at.is_(None))
            ).scalar_one()

    def run(self, stop: threading.Event, poll_interval: float = 0.1, idle_interval: float = 0.4,
            backlog_every: float = 1.0) -> None:
        """Publish until ``stop``: at once again after a full batch, ``poll_interval`` after a short
        one; while passes find nothing the wait doubles up to ``idle_interval`` (an idle service
        then costs its database a few queries a second, not twenty)."""
        log.info("outbox relay started", extra={"service": self.service})
        failures, counted_at, idle = 0, 0.0, poll_interval
        while not stop.is_set():
            try:
                published = self.run_once()
                if time.monotonic() - counted_at >= backlog_every:  # a count(*), not after every pass
                    metrics.OUTBOX_BACKLOG.labels(self.service).set(self.backlog())
                    counted_at = time.monotonic()
                failures = 0
            except Exception:  # noqa: BLE001 - the database or broker is away: wait and retry
                failures += 1
                log.exception("outbox relay pass failed", extra={"service": self.service})
                stop.wait(min(self.max_backoff, 0.5 * 2 ** min(failures, 6)))
                continue
            if published:
                idle = poll_interval
                if published < self.batch_size:
                    stop.wait(poll_interval)
            else:
                stop.wait(idle)
                idle = min(idle_interval, idle * 2)
        log.info("outbox relay stopped", extra={"service": self.service})
