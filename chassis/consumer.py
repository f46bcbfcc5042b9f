"""The consumer runner: each event applied once, in one transaction with its inbox row.

For every message: parse the CloudEvent (unreadable → dead letter); look up the handler
for its type (unknown types are skipped: a consumer ignores what it does not know);
check the payload against its contract (invalid → dead letter); then, in one database
transaction, insert the inbox row ``(consumer, event id)`` and run the handler. Only
after that commit is the offset committed, so a redelivered event finds its inbox row
and is skipped. A handler that fails is retried with backoff; after ``max_attempts``
the event goes to the dead-letter topic with its error and the consumer moves on.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from marshmallow import ValidationError
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from chassis import envelope, logs, metrics
from chassis.transport import Consumer, Message, Outgoing, Producer, TransportError
from contracts import topics

log = logging.getLogger(__name__)

#: A handler applies one event through the unit of work it is given: handler(uow, event).
#: ``event.data`` is the JSON as sent; ``event.payload`` the same loaded through its contract (typed).
Handler = Callable[[object, envelope.ReceivedEvent], None]


@dataclass(frozen=True)
class ConsumerSpec:
    """What a service consumes: a name (also the consumer group) and a table from type to handler."""

    name: str
    handlers: dict[str, Handler]  # CloudEvents type -> handler
    topics: list[str] = field(default_factory=list)


class PoisonEvent(Exception):
    """An event that can never be applied: it goes to the dead letters at once."""


class ConsumerRunner:
    def __init__(self, service: str, spec: ConsumerSpec, inbox_table, uow_factory, consumer: Consumer,
                 dead_letters: Producer, max_attempts: int = 5, retry_backoff: float = 0.5):
        self.service = service
        self.spec = spec
        self.inbox = inbox_table
        self.uow_factory = uow_factory
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff

    # -- one message ---------------------------------------------------------------------
    def handle(self, message: Message, stop: threading.Event | None = None) -> str:
        """Apply one message; return what happened: applied, duplicate, ignored or dead-lettered."""
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
                event = dataclasses.replace(event, payload=event_type.schema().load(event.data))
        except ValidationError as exc:
            return self._dead_letter(message, PoisonEvent(f"payload breaks its contract: {exc.messages}"), event)
        logs.correlation_id.set(event.correlation_id or logs.new_correlation_id())
        logs.causation_id.set(event.id)
        try:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    return self._apply(handler, event)
                except PoisonEvent as exc:
                    return self._dead_letter(message, exc, event)
                except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
                    metrics.EVENTS_FAILED.labels(self.service, self.spec.name).inc()
                    log.warning("handler failed", exc_info=True, extra={
                        "consumer": self.spec.name, "event_id": event.id, "event_type": event.type, "attempt": attempt})
                    if attempt == self.max_attempts:
                        return self._dead_letter(message, exc, event)
                    delay = self.retry_backoff * 2 ** (attempt - 1)
                    if stop is not None and stop.wait(delay):
                        raise InterruptedError("stopping") from exc
                    elif stop is None:
                        time.sleep(delay)
        finally:
            logs.causation_id.set(None)
            logs.correlation_id.set(None)
        raise AssertionError("unreachable")

    def _apply(self, handler: Handler, event: envelope.ReceivedEvent) -> str:
        with self.uow_factory() as uow:
            try:
                uow.session.execute(insert(self.inbox).values(
                    consumer=self.spec.name, event_id=event.id, event_type=event.type,
                    applied_at=datetime.now(timezone.utc)))
                uow.session.flush()
            except IntegrityError:
                uow.rollback()
                metrics.EVENTS_DUPLICATE.labels(self.service, self.spec.name).inc()
                log.info("duplicate event skipped", extra={"consumer": self.spec.name, "event_id": event.id})
                return "duplicate"
            handler(uow, event)
            uow.commit()
        metrics.EVENTS_CONSUMED.labels(self.service, self.spec.name, event.type).inc()
        return "applied"

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
    def run_once(self, timeout: float = 0.5, max_records: int = 100, stop: threading.Event | None = None) -> int:
        """Apply one poll's messages, then commit the offset of the last one done in each partition.

        One commit per partition and poll, not per message: a crash in between redelivers what
        was applied since the last commit, and the inbox skips it.
        """
        messages = self.consumer.poll(timeout, max_records)
        done: dict[tuple[str, int], Message] = {}
        try:
            for i, message in enumerate(messages):
                try:
                    self.handle(message, stop)
                except Exception:
                    # Database or broker away, or stopping: re-read this message and the rest later.
                    for later in {(m.topic, m.partition): m for m in reversed(messages[i:])}.values():
                        self.consumer.seek(later)
                    raise
                done[(message.topic, message.partition)] = message
        finally:
            for message in done.values():
                self.consumer.commit(message)
        return len(messages)

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
