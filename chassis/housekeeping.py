"""Housekeeping: the chassis's own tables keep only the rows they are there for.

Every service has three tables that grow with its traffic (`chassis.db.chassis_tables`):

* ``outbox``: a published row is on the broker (which keeps events for ever: reporting rebuilds
  replay the topics); it stays ``outbox_keep_days`` (7) for inspection, then goes;
* ``inbox``: a row says that a consumer applied an event, so that a redelivery of it is skipped.
  A redelivery comes soon after the event was applied (the consumer's offsets are committed after
  each batch; a relay resends what it sent without recording it as soon as it runs again), so a
  row goes ``inbox_keep_days`` (30) after it was applied. Rewinding a live consumer group by hand to
  events applied longer ago than that would apply them again (docs/deployment.md, "Housekeeping");
* ``idempotency_keys``: the answer to a POST with an ``Idempotency-Key``; a client retrying the
  same request ``idempotency_keep_days`` (7) later gets it replayed, after that the key is free.

The worker runs a pass at start and every ``housekeeping_interval`` seconds (an hour). Rows go in
chunks (5 000 by default), each in its own short transaction: no long lock, no burst of
WAL, and a pass stopped half-way (a deploy) leaves only rows the next pass deletes.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, tuple_

from chassis import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    table: str
    column: str  # the row's time: rows older than ``keep`` go
    keep: timedelta


def rules(config) -> list[Rule]:
    """What each of the chassis's tables keeps, from the service's configuration."""
    return [Rule("outbox", "published_at", timedelta(days=config.outbox_keep_days)),
            Rule("inbox", "applied_at", timedelta(days=config.inbox_keep_days)),
            Rule("idempotency_keys", "created_at", timedelta(days=config.idempotency_keep_days))]


class Housekeeping:
    def __init__(self, service: str, tables: dict, session_factory, rules: list[Rule], chunk: int = 5000):
        self.service = service
        self.tables = tables
        self.session_factory = session_factory
        self.rules = rules
        self.chunk = chunk

    def run_once(self, now: datetime | None = None, stop: threading.Event | None = None) -> dict[str, int]:
        """Delete what each rule no longer keeps; the rows deleted per table."""
        now = now or datetime.now(timezone.utc)
        deleted = {}
        for rule in self.rules:
            deleted[rule.table] = self._prune(self.tables[rule.table], rule.column, now - rule.keep, stop)
            if deleted[rule.table]:
                metrics.HOUSEKEEPING_DELETED.labels(self.service, rule.table).inc(deleted[rule.table])
        if any(deleted.values()):
            log.info("housekeeping deleted old rows", extra={"service": self.service, "deleted": deleted})
        return deleted

    def _prune(self, table, column: str, cutoff: datetime, stop: threading.Event | None) -> int:
        """Delete the rows whose ``column`` is before ``cutoff`` (NULL: never), a chunk a transaction."""
        key = list(table.primary_key.columns)
        # rows another worker's pass is deleting are skipped, not waited for (PostgreSQL)
        older = select(*key).where(table.c[column] < cutoff).limit(self.chunk).with_for_update(skip_locked=True)
        which = key[0].in_(older) if len(key) == 1 else tuple_(*key).in_(older)
        total = 0
        while stop is None or not stop.is_set():
            with self.session_factory() as session, session.begin():
                n = session.execute(delete(table).where(which)).rowcount
            total += n
            if n < self.chunk:
                break
        return total

    def run(self, stop: threading.Event, interval: float) -> None:
        """A pass now, then one every ``interval`` seconds until ``stop``; a failed pass (the
        database away) is logged and tried again at the next."""
        log.info("housekeeping started", extra={"service": self.service, "interval_s": interval})
        while not stop.is_set():
            try:
                self.run_once(stop=stop)
            except Exception:  # noqa: BLE001 - the database is away: the next pass tries again
                log.warning("housekeeping pass failed", exc_info=True, extra={"service": self.service})
            stop.wait(interval)
