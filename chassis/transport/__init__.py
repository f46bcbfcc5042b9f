"""Event transports behind one interface: Kafka, and the embedded log for `make run`.

Both keep one order per key (the key picks the partition), keep committed offsets per
consumer group, and let a consumer seek back to re-read a message. Retries, the inbox
and dead letters are the consumer runner's work (`chassis.consumer`), so they behave
the same whichever transport carries the events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: str
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)


class TransportError(RuntimeError):
    """The transport could not do what was asked; the caller retries later."""


class Producer(Protocol):
    def send(self, messages: list[Outgoing], timeout: float) -> list[Exception | None]:
        """Send and wait for acknowledgement; one result per message, ``None`` meaning acknowledged."""

    def close(self) -> None: ...


class Consumer(Protocol):
    def poll(self, timeout: float, max_records: int) -> list[Message]: ...

    def commit(self, messages: list[Message]) -> None:
        """Record that each of ``messages`` (one per partition) and everything before it in its
        partition is done: all at once (one request to Kafka, one transaction embedded)."""

    def seek(self, message: Message) -> None:
        """Deliver ``message`` (and what follows it in its partition) again."""

    def lag(self) -> int | None: ...

    def close(self) -> None: ...


class Transport(Protocol):
    def ensure_topics(self, names: list[str]) -> None: ...

    def producer(self) -> Producer: ...

    def consumer(self, group: str, topics: list[str]) -> Consumer: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def make_transport(config) -> Transport:
    if config.transport == "kafka":
        from chassis.transport.kafka import KafkaTransport

        return KafkaTransport(config.kafka_bootstrap_servers, config.kafka_partitions, config.kafka_replication_factor)
    from chassis.transport.embedded import EmbeddedTransport

    return EmbeddedTransport.shared(config.embedded_log_url, config.kafka_partitions)
