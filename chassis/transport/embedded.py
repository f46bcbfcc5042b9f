"""The embedded transport: a durable, partitioned log in one SQLite file, for `make run`.

It keeps Kafka's semantics that the services rely on: a topic has partitions, the key
picks the partition (so one aggregate's events keep their order), each consumer group
has its committed offsets, a consumer can seek back, and messages survive a restart.
It does not balance partitions between several members of one group: in the embedded
mode every consumer group has a single member, in one process.
"""
from __future__ import annotations

import json
import threading
import zlib
from datetime import datetime, timezone

from sqlalchemy import (
    Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Text, and_, func, insert, select,
)
from sqlalchemy.exc import IntegrityError

from chassis.db import make_engine
from chassis.transport import Message, Outgoing

metadata = MetaData()
log_table = Table(
    "event_log", metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", Integer, primary_key=True),
    Column("key", String(200)),
    Column("value", LargeBinary, nullable=False),
    Column("headers", Text, nullable=False),
    Column("appended_at", DateTime(timezone=True), nullable=False),
)
topics_table = Table(
    "topics", metadata,
    Column("name", String(200), primary_key=True),
    Column("partitions", Integer, nullable=False),
)
offsets_table = Table(
    "consumer_offsets", metadata,
    Column("group_id", String(200), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", Integer, nullable=False),
)


def partition_for(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % partitions


class EmbeddedTransport:
    _shared: dict[str, "EmbeddedTransport"] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, url: str, partitions: int) -> "EmbeddedTransport":
        """One log per URL and process, so that every service of `make run` shares it."""
        with cls._shared_lock:
            if url not in cls._shared:
                cls._shared[url] = cls(url, partitions)
            return cls._shared[url]

    def __init__(self, url: str, partitions: int = 6):
        self.engine = make_engine(url)
        self.default_partitions = partitions
        self._append_lock = threading.Lock()
        self._appended = threading.Condition()
        metadata.create_all(self.engine)

    # -- the Transport interface -------------------------------------------------------
    def ensure_topics(self, names: list[str]) -> None:
        with self.engine.begin() as conn:
            known = {row.name for row in conn.execute(select(topics_table.c.name))}
            for name in names:
                if name not in known:
                    conn.execute(insert(topics_table).values(name=name, partitions=self.default_partitions))

    def partitions(self, topic: str) -> int:
        with self.engine.connect() as conn:
            n = conn.execute(select(topics_table.c.partitions).where(topics_table.c.name == topic)).scalar()
        if n is None:
            raise KeyError(f"unknown topic {topic!r}: topics are created explicitly at start-up")
        return n

    def producer(self) -> "_Producer":
        return _Producer(self)

    def consumer(self, group: str, topics: list[str]) -> "_Consumer":
        return _Consumer(self, group, topics)

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        pass

    # -- internals ---------------------------------------------------------------------
    def append(self, messages: list[Outgoing]) -> None:
        with self._append_lock, self.engine.begin() as conn:
            for m in messages:
                partition = partition_for(m.key, self.partitions(m.topic))
                next_offset = conn.execute(
                    select(func.coalesce(func.max(log_table.c.offset) + 1, 0)).where(
                        and_(log_table.c.topic == m.topic, log_table.c.partition == partition)
                    )
                ).scalar_one()
                conn.execute(
                    insert(log_table).values(
                        topic=m.topic, partition=partition, offset=next_offset, key=m.key, value=m.value,
                        headers=json.dumps({k: v.decode("latin-1") for k, v in m.headers.items()}),
                        appended_at=datetime.now(timezone.utc),
                    )
                )
        with self._appended:
            self._appended.notify_all()

    def wait_for_append(self, timeout: float) -> None:
        with self._appended:
            self._appended.wait(timeout)


class _Producer:
    def __init__(self, transport: EmbeddedTransport):
        self.transport = transport

    def send(self, messages: list[Outgoing], timeout: float) -> list[Exception | None]:
        try:
            self.transport.append(messages)
            return [None] * len(messages)
        except (IntegrityError, KeyError) as exc:
            return [exc] * len(messages)

    def close(self) -> None:
        pass


class _Consumer:
    def __init__(self, transport: EmbeddedTransport, group: str, topics: list[str]):
        self.transport = transport
        self.group = group
        self.topics = topics
        self.positions: dict[tuple[str, int], int] = {}
        for topic in topics:
            for p in range(transport.partitions(topic)):
                self.positions[(topic, p)] = self._committed(topic, p)

    def _committed(self, topic: str, partition: int) -> int:
        with self.transport.engine.connect() as conn:
            value = conn.execute(
                select(offsets_table.c.offset).where(
                    and_(offsets_table.c.group_id == self.group, offsets_table.c.topic == topic,
                         offsets_table.c.partition == partition)
                )
            ).scalar()
        return value or 0

    def _read(self, max_records: int) -> list[Message]:
        out: list[Message] = []
        with self.transport.engine.connect() as conn:
            for (topic, partition), position in self.positions.items():
                if len(out) >= max_records:
                    break
                rows = conn.execute(
                    select(log_table).where(
                        and_(log_table.c.topic == topic, log_table.c.partition == partition,
                             log_table.c.offset >= position)
                    ).order_by(log_table.c.offset).limit(max_records - len(out))
                ).all()
                for row in rows:
                    out.append(Message(
                        topic=topic, partition=partition, offset=row.offset, key=row.key, value=row.value,
                        headers={k: v.encode("latin-1") for k, v in json.loads(row.headers).items()},
                    ))
                if rows:
                    self.positions[(topic, partition)] = rows[-1].offset + 1
        return out

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        messages = self._read(max_records)
        if not messages:
            self.transport.wait_for_append(timeout)
            messages = self._read(max_records)
        return messages

    def commit(self, messages: list[Message]) -> None:
        if not messages:
            return
        with self.transport.engine.begin() as conn:
            for message in messages:
                key = dict(group_id=self.group, topic=message.topic, partition=message.partition)
                updated = conn.execute(
                    offsets_table.update().where(
                        and_(*(offsets_table.c[k] == v for k, v in key.items()))
                    ).values(offset=message.offset + 1)
                ).rowcount
                if not updated:
                    conn.execute(insert(offsets_table).values(offset=message.offset + 1, **key))

    def seek(self, message: Message) -> None:
        self.positions[(message.topic, message.partition)] = message.offset

    def lag(self) -> int | None:
        total = 0
        with self.transport.engine.connect() as conn:
            for (topic, partition), position in self.positions.items():
                end = conn.execute(
                    select(func.coalesce(func.max(log_table.c.offset) + 1, 0)).where(
                        and_(log_table.c.topic == topic, log_table.c.partition == partition)
                    )
                ).scalar_one()
                total += max(0, end - position)
        return total

    def close(self) -> None:
        pass
