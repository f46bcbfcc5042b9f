"""Replaying dead letters after a fix.

A dead letter holds the consumer that gave up, its error, where the event was, and the
original event. `replay` puts the originals of one service's consumers back on their
topics with their keys; the fixed consumer applies them, and every other consumer, which
applied them already, skips them through its inbox. The replayer reads the dead-letter
topic in a consumer group of its own per service, so a letter is replayed once.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from chassis.transport import Outgoing, Transport
from contracts import topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Letter:
    consumer: str
    error: str
    topic: str
    key: str | None
    event_id: str | None
    original: str

    @classmethod
    def parse(cls, value: bytes) -> "Letter":
        body = json.loads(value)
        return cls(body["consumer"], body["error"], body["topic"], body.get("key"), body.get("event_id"),
                   body["original"])


def replay(transport: Transport, consumer_names: list[str], only: str | None = None, dry_run: bool = False,
           group: str = "dead-letter-replay", idle_polls: int = 3) -> list[Letter]:
    """Republish the dead letters of ``consumer_names`` (or only ``only``); return what was replayed."""
    reader = transport.consumer(group, [topics.DEAD_LETTERS])
    wanted = {only} if only else set(consumer_names)
    replayed: list[Letter] = []
    producer = transport.producer()
    idle = 0
    try:
        while idle < idle_polls:
            messages = reader.poll(1.0, 500)
            idle = 0 if messages else idle + 1
            for message in messages:
                try:
                    letter = Letter.parse(message.value)
                except (ValueError, KeyError):
                    log.warning("unreadable dead letter skipped", extra={"offset": message.offset})
                    letter = None
                if letter and letter.consumer in wanted:
                    if not dry_run:
                        key = letter.key or letter.event_id or "dead-letter"
                        results = producer.send([Outgoing(letter.topic, key, letter.original.encode("utf-8"))], 30)
                        if results[0] is not None:
                            reader.seek(message)
                            raise RuntimeError(f"replay failed: {results[0]}")
                    replayed.append(letter)
                if not dry_run:
                    reader.commit([message])
    finally:
        reader.close()
        producer.close()
    return replayed
