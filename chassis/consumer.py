"""The consumer runner: each event applied once, in one transaction with its inbox row.

For every message: parse the CloudEvent (unreadable → dead letter); look up the handler
for its type (unknown types are skipped: a consumer ignores what it does not know);
check the payload against its contract (invalid → dead letter). Then the events of one
poll are applied **together**, in one database transaction: their inbox rows
``(consumer, event id)`` are inserted (an event whose row is there already was applied
before: a duplicate, skipped), their handlers run, in order, and everything commits at once (a run
of consecutive events whose types share a batch handler goes to it at once, if the spec has one).
Only after that commit are the offsets committed, so a redelivered event finds its inbox row and
is skipped.

If any handler of the batch fails, the batch is rolled back and its events are applied
again one at a time, each in its own transaction, so that one bad event cannot hold back
the others: a handler that fails is retried with backoff, and after ``max_attempts`` the
event goes to the dead-letter topic with its error and the consumer moves on. A database
that is away (connection lost, locked, restarting) is not the event's fault: nothing is
dead-lettered, the poll's messages are read again once the database is back.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from marshmallow import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from chassis import envelope, logs, metrics
from chassis.db import inserted_unless_present
from chassis.transport import Consumer, Message, Outgoing, Producer, TransportError
from contracts import topics
from contracts.events import lookup

log = logging.getLogger(__name__)

#: A handler applies one event through the unit of work it is given: handler(uow, event).
#: ``event.data`` is the JSON as sent; ``event.payload`` the same loaded through its contract (typed).
#: Handlers never commit: the runner commits the inbox rows and the handlers' effects together.
Handler = Callable[[object, envelope.ReceivedEvent], None]

#: Failures of the database itself, not of the event: wait for it, never dead-letter.
DATABASE_AWAY = (OperationalError, InterfaceError)


#: Applies a run of consecutive events at once, of the types it is given for (one or several: the
#: run may mix them, in the order they came): batch_handler(uow, events). It must leave exactly
#: what the types' handlers leave when applied to each event in order (it is a faster
#: way to the same state, used when a poll is applied together; one at a time, the handler is used).
BatchHandler = Callable[[object, list[envelope.ReceivedEvent]], None]

#: Loads into the unit of work, at once, what the handlers of ``events`` will look up one by one, and
#: returns it: preload(uow, events). It changes nothing; each event is then applied by its own handler
#: (for handlers that publish or change the state of what they find, where a batch handler would have
#: to repeat them). Called once per poll applied together, with that poll's events of its types; what
#: it returns is kept until the poll commits (a session's identity map holds its objects weakly).
Preload = Callable[[object, list[envelope.ReceivedEvent]], object]


@dataclass(frozen=True)
class ConsumerSpec:
    """What a service consumes: a name (also the consumer group) and a table from type to handler
    (and, for the types worth it, a handler of many events at once)."""

    name: str
    handlers: dict[str, Handler]  # CloudEvents type -> handler
    topics: list[str] = field(default_factory=list)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)
    #: Types of which the handlers read only some fields (tolerant reader): those alone are checked
    #: against the contract and kept in ``event.data`` and ``event.payload``; a handler reading any
    #: other fails (KeyError) in the tests, not silently on unchecked data. Others: the whole contract.
    reads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Types whose handlers look up what they change: one query for a poll's events, not one each.
    preload: dict[str, Preload] = field(default_factory=dict)

    def __post_init__(self):
        for name, fields in self.reads.items():  # a type or a field the catalogue lacks: refused at start
            event_type = lookup(name)
            if event_type is None:
                raise ValueError(f"consumer {self.name} reads fields of an unknown event type {name}")
            event_type.reader(fields)


class PoisonEvent(Exception):
    """An event that can never be applied: it goes to the dead letters at once."""


@dataclass(frozen=True)
class _Ready:
    """A message whose event has a handler and a valid payload: ready to apply."""

    message: Message
    event: envelope.ReceivedEvent
    handler: Handler


class ConsumerRunner:
    def __init__(self, service: str, spec: ConsumerSpec, inbox_table, uow_factory, consumer: Consumer,
                 dead_letters: Producer, max_attempts: int = 5, retry_backoff: float = 0.5,
                 batch_size: int = 1000):
        self.service = service
        self.spec = spec
        self.inbox = inbox_table
        self.uow_factory = uow_factory
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.batch_size = batch_size

    # -- reading a message ---------------------------------------------------------------
    def _route(self, message: Message) -> _Ready | str:
        """The event and its handler, or what became of a message that cannot be applied."""
        try:
            event = envelope.parse(message.value)
        except envelope.EnvelopeError as exc:
            return self._dead_letter(message, exc, None)
        handler = self.spec.handlers.get(event.type)
        if handler is None:
            return "ignored"
        try:
            event_type = event.event_type
            if event_type is not None:
                fields = self.spec.reads.get(event.type)
                data = event.data if fields is None else {k: event.data[k] for k in fields if k in event.data}
                event = dataclasses.replace(event, data=data, payload=event_type.reader(fields).load(data))
        except ValidationError as exc:
            return self._dead_letter(message, PoisonEvent(f"payload breaks its contract: {exc.messages}"), event)
        return _Ready(message, event, handler)

    # -- one message, in a transaction of its own -----------------------------------------
    def handle(self, message: Message, stop: threading.Event | None = None) -> str:
        """Apply one message; return what happened: applied, duplicate, ignored or dead-lettered."""
        ready = self._route(message)
        return ready if isinstance(ready, str) else self._handle_alone(ready, stop)

    def _handle_alone(self, ready: _Ready, stop: threading.Event | None) -> str:
        for attempt in range(1, self.max_attempts + 1):
            try:
                with _traced(ready.event):
                    return self._apply_alone(ready)
            except PoisonEvent as exc:
                return self._dead_letter(ready.message, exc, ready.event)
            except DATABASE_AWAY:
                raise
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                metrics.EVENTS_FAILED.labels(self.service, self.spec.name).inc()
                log.warning("handler failed", exc_info=True, extra={
                    "consumer": self.spec.name, "event_id": ready.event.id, "event_type": ready.event.type,
                    "attempt": attempt})
                if attempt == self.max_attempts:
                    return self._dead_letter(ready.message, exc, ready.event)
                delay = self.retry_backoff * 2 ** (attempt - 1)
                if stop is not None and stop.wait(delay):
                    raise InterruptedError("stopping") from exc
                elif stop is None:
                    time.sleep(delay)
        raise AssertionError("unreachable")

    def _apply_alone(self, ready: _Ready) -> str:
        event = ready.event
        with self.uow_factory() as uow:
            if not self._fresh(uow, [event]):
                self._duplicate(event)
                return "duplicate"
            ready.handler(uow, event)
            uow.commit()
        metrics.EVENTS_CONSUMED.labels(self.service, self.spec.name, event.type).inc()
        return "applied"

    # -- a poll's events, in one transaction ----------------------------------------------
    def _apply_together(self, batch: list[_Ready]) -> None:
        """Apply ``batch`` in one transaction, skipping events already in the inbox; raise if any fails."""
        with self.uow_factory() as uow:
            # the inbox rows first: those that go in are the events not applied before (one
            # statement, probing the inbox's key, however long the inbox has grown)
            new = self._fresh(uow, [r.event for r in batch])
            fresh, duplicates = [], []
            for ready in batch:
                if ready.event.id in new:
                    new.discard(ready.event.id)  # a second copy in the same poll is a duplicate
                    fresh.append(ready)
                else:
                    duplicates.append(ready.event)
            preloaded = self._preload(uow, fresh)
            for _, run in itertools.groupby(fresh, key=self._batch_key):
                run = list(run)
                batch_handler = self.spec.batch_handlers.get(run[0].event.type)
                if batch_handler is not None and len(run) > 1:
                    batch_handler(uow, [r.event for r in run])
                    continue
                for ready in run:
                    with _traced(ready.event):
                        ready.handler(uow, ready.event)
            uow.commit()
            del preloaded  # kept alive until the commit
        for event in duplicates:  # counted once committed: a failed batch is applied again one by one
            self._duplicate(event)
        for event_type, n in collections.Counter(ready.event.type for ready in fresh).items():
            metrics.EVENTS_CONSUMED.labels(self.service, self.spec.name, event_type).inc(n)

    def _preload(self, uow, batch: list[_Ready]) -> list:
        by_loader: dict[Preload, list[envelope.ReceivedEvent]] = {}
        for ready in batch:
            loader = self.spec.preload.get(ready.event.type)
            if loader is not None:
                by_loader.setdefault(loader, []).append(ready.event)
        return [loader(uow, events) for loader, events in by_loader.items()]

    def _batch_key(self, ready: _Ready):
        """Consecutive events with this key go to one batch handler together: the handler, or the type."""
        return self.spec.batch_handlers.get(ready.event.type, ready.event.type)

    def _fresh(self, uow, events: list[envelope.ReceivedEvent]) -> set[str]:
        """Insert the events' inbox rows unless there already; the ids of those that went in
        (the events not applied before), in one statement probing the inbox's key."""
        applied_at = datetime.now(timezone.utc)
        rows = {e.id: {"consumer": self.spec.name, "event_id": e.id, "event_type": e.type, "applied_at": applied_at}
                for e in events}
        return set(inserted_unless_present(uow.session, self.inbox, list(rows.values()), self.inbox.c.event_id))

    def _duplicate(self, event: envelope.ReceivedEvent) -> None:
        metrics.EVENTS_DUPLICATE.labels(self.service, self.spec.name).inc()
        log.info("duplicate event skipped", extra={"consumer": self.spec.name, "event_id": event.id})

    def _dead_letter(self, message: Message, error: Exception, event: envelope.ReceivedEvent | None) -> str:
        body = {
            "consumer": self.spec.name,
            "service": self.service,
            "error": f"{type(error).__name__}: {error}"[:4000],
            "topic": message.topic, "partition": message.partition, "offset": message.offset,
            "key": message.key,
            "event_id": event.id if event else None,
            "event_type": event.type if event else None,
            "dead_lettered_at": datetime.now(timezone.utc).isoformat(),
            "original": message.value.decode("utf-8", errors="replace"),
        }
        results = self.dead_letters.send([Outgoing(
            topics.DEAD_LETTERS, message.key or f"{message.topic}-{message.partition}",
            json.dumps(body, ensure_ascii=False).encode("utf-8"),
            {"lanhmanh-consumer": self.spec.name.encode(), "lanhmanh-error": type(error).__name__.encode()},
        )], timeout=30)
        if results[0] is not None:
            raise TransportError(f"dead-letter publish failed: {results[0]}")
        metrics.EVENTS_DEAD_LETTERED.labels(self.service, self.spec.name).inc()
        log.error("event dead-lettered", extra={
            "consumer": self.spec.name, "topic": message.topic, "offset": message.offset, "error": body["error"]})
        return "dead-lettered"

    # -- the loop ------------------------------------------------------------------------
    def run_once(self, timeout: float = 0.5, max_records: int | None = None,
                 stop: threading.Event | None = None) -> int:
        """Apply one poll's messages, then commit the offset of the last one in each partition.

        The poll's events are applied in one transaction; if that fails, one at a time. One
        offset commit per partition and poll: a crash in between redelivers what was applied
        since the last commit, and the inbox skips it.
        """
        messages = self.consumer.poll(timeout, max_records or self.batch_size)
        done: dict[tuple[str, int], Message] = {}
        try:
            routed = [self._routed_or_seek(messages, i) for i in range(len(messages))]
            batch = [r for r in routed if isinstance(r, _Ready)]
            if self._try_together(batch, messages):
                done = {(m.topic, m.partition): m for m in messages}
                return len(messages)
            for i, (message, outcome) in enumerate(zip(messages, routed)):
                if isinstance(outcome, _Ready):
                    self._alone_or_seek(outcome, messages, i, stop)
                done[(message.topic, message.partition)] = message
        finally:
            self.consumer.commit(list(done.values()))  # every partition's offset in one request
        return len(messages)

    def _routed_or_seek(self, messages: list[Message], i: int) -> _Ready | str:
        try:
            return self._route(messages[i])
        except Exception:
            self._read_again(messages)  # the dead-letter topic is away: read the whole poll again
            raise

    def _try_together(self, batch: list[_Ready], messages: list[Message]) -> bool:
        """Apply the batch in one transaction; False if a handler failed (apply them one by one)."""
        if not batch:
            return True
        try:
            self._apply_together(batch)
            return True
        except DATABASE_AWAY:
            self._read_again(messages)
            raise
        except Exception:  # noqa: BLE001 - find the failing event by applying them one at a time
            log.info("batch failed; applying its events one at a time", exc_info=True,
                     extra={"consumer": self.spec.name, "events": len(batch)})
            return False

    def _alone_or_seek(self, ready: _Ready, messages: list[Message], i: int, stop) -> None:
        try:
            self._handle_alone(ready, stop)
        except Exception:
            # Database or broker away, or stopping: re-read this message and the rest later.
            self._read_again(messages[i:])
            raise

    def _read_again(self, messages: list[Message]) -> None:
        """Seek each partition back to its first message in ``messages``."""
        for first in {(m.topic, m.partition): m for m in reversed(messages)}.values():
            self.consumer.seek(first)

    def run(self, stop: threading.Event) -> None:
        log.info("consumer started", extra={"consumer": self.spec.name, "topics": self.spec.topics})
        failures = 0
        while not stop.is_set():
            try:
                self.run_once(stop=stop)
                lag = self.consumer.lag()
                if lag is not None:
                    metrics.CONSUMER_LAG.labels(self.service, self.spec.name).set(lag)
                failures = 0
            except InterruptedError:
                break
            except Exception:  # noqa: BLE001 - wait for the database or broker to come back
                failures += 1
                log.exception("consumer pass failed", extra={"consumer": self.spec.name})
                stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
        self.consumer.close()
        log.info("consumer stopped", extra={"consumer": self.spec.name})


class _traced:
    """Log lines and events written while applying ``event`` carry its correlation and causation ids."""

    def __init__(self, event: envelope.ReceivedEvent):
        self.event = event

    def __enter__(self):
        logs.correlation_id.set(self.event.correlation_id or logs.new_correlation_id())
        logs.causation_id.set(self.event.id)

    def __exit__(self, *exc_info):
        logs.causation_id.set(None)
        logs.correlation_id.set(None)
