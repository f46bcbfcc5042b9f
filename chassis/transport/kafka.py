"""The Kafka transport (kafka-python): idempotent producer with acks=all, manual offset commits."""
from __future__ import annotations

import logging
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from chassis.transport import Message, Outgoing, TransportError

log = logging.getLogger(__name__)

#: Every topic keeps its events for ever: reporting rebuilds its projections by replaying them from the start.
KEEP_FOR_EVER = {"retention.ms": "-1", "retention.bytes": "-1"}


def unnamed_topics(client: KafkaConsumer, topics: list[str], wait: float) -> list[str]:
    """Wait up to ``wait`` seconds until the broker names the partitions of every one of ``topics``; return
    those it still does not. A consumer must know them before its first join: see `_Consumer._learn_partitions`."""
    deadline = time.monotonic() + wait
    while (unknown := [t for t in topics if not client.partitions_for_topic(t)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return unknown


class KafkaTransport:
    def __init__(self, bootstrap_servers: str, partitions: int, replication_factor: int = 1):
        self.bootstrap_servers = bootstrap_servers.split(",")
        self.partitions = partitions
        self.replication_factor = replication_factor

    def ensure_topics(self, names: list[str]) -> None:
        """Create the topics that are missing, keeping their events for ever (`KEEP_FOR_EVER`): reporting
        rebuilds its projections by replaying them from the start, whatever the broker's default retention.
        A topic already there with a finite retention is left as its operator set it, with a warning."""
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers, client_id="lanhmanh-admin",
                                     bootstrap_timeout_ms=10000)
        except KafkaError as exc:
            raise TransportError(f"cannot reach Kafka: {exc}") from exc
        try:
            existing = set(admin.list_topics())
            for name in names:
                if name in existing:
                    continue
                try:
                    admin.create_topics({name: {"num_partitions": self.partitions,
                                                "replication_factor": self.replication_factor,
                                                "configs": KEEP_FOR_EVER}}, wait_for_metadata=True)
                    log.info("created topic", extra={"topic": name, "partitions": self.partitions})
                except TopicAlreadyExistsError:
                    pass  # another process created it first
            self._warn_of_finite_retention(admin, sorted(existing & set(names)))
        except KafkaError as exc:
            raise TransportError(f"cannot create the topics: {exc}") from exc
        finally:
            admin.close()

    @staticmethod
    def _warn_of_finite_retention(admin: KafkaAdminClient, names: list[str]) -> None:
        if not names:
            return
        described = admin.describe_configs([ConfigResource("TOPIC", name, list(KEEP_FOR_EVER))
                                            for name in names], config_filter="all")
        for name, configs in described.get("topic", {}).items():
            finite = {key: c["value"] for key, c in configs.items() if c["value"] != KEEP_FOR_EVER[key]}
            if finite:
                log.warning("topic keeps its events for a limited time: a reporting rebuild replays only what is "
                            "left (set retention.ms and retention.bytes to -1, docs/deployment.md)",
                            extra={"topic": name, **{key.replace(".", "_"): v for key, v in finite.items()}})

    def producer(self) -> "_Producer":
        return _Producer(self.bootstrap_servers)

    def consumer(self, group: str, topics: list[str]) -> "_Consumer":
        return _Consumer(self.bootstrap_servers, group, topics)

    def ping(self) -> bool:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000, bootstrap_timeout_ms=3000,
                client_id="lanhmanh-ping",
            )
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def close(self) -> None:
        pass


class _Producer:
    """Connects on first use and again after a failure, so a broker that is down at start-up
    only delays publishing: the relay keeps the events in the outbox meanwhile."""

    def __init__(self, bootstrap_servers):
        self.bootstrap_servers = bootstrap_servers
        self._producer: KafkaProducer | None = None

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                max_in_flight_requests_per_connection=5,
                linger_ms=5,
                # the relay sends up to a thousand events at once: larger batches wake the client's
                # sender thread (a socket write each time) far less often than the default 16 KiB
                batch_size=256 * 1024,
                max_block_ms=5000,
                bootstrap_timeout_ms=5000,
                request_timeout_ms=10000,
                delivery_timeout_ms=30000,
                client_id="lanhmanh-relay",
            )
        return self._producer

    def send(self, messages: list[Outgoing], timeout: float) -> list[Exception | None]:
        try:
            producer = self._connect()
        except KafkaError as exc:
            return [exc] * len(messages)
        futures = []
        for m in messages:
            try:
                futures.append(
                    producer.send(m.topic, key=m.key.encode("utf-8"), value=m.value, headers=list(m.headers.items()))
                )
            except KafkaError as exc:  # metadata unavailable within max_block_ms: broker down
                futures.append(exc)
        try:
            producer.flush(timeout=timeout)
        except KafkaError as exc:
            log.warning("flush failed", extra={"error": str(exc)})
        results: list[Exception | None] = []
        for f in futures:
            if isinstance(f, Exception):
                results.append(f)
                continue
            try:
                f.get(timeout=0)
                results.append(None)
            except Exception as exc:  # noqa: BLE001 - any failure means "not acknowledged"
                results.append(exc)
        return results

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)


class _Consumer:
    """Joins its group on first poll, once the broker has named every topic's partitions: a broker that is
    down at start-up, or a topic another service's worker is still creating, only delays consuming."""

    #: how long one poll waits for the broker to name every topic's partitions before reporting it
    PARTITIONS_WAIT = 5.0

    def __init__(self, bootstrap_servers, group: str, topics: list[str]):
        self.bootstrap_servers, self.group, self.topics = bootstrap_servers, group, topics
        self._client: KafkaConsumer | None = None
        self._partitions_known = False

    @property
    def _consumer(self) -> KafkaConsumer:
        if self._client is None:
            try:
                self._client = KafkaConsumer(
                    *self.topics,
                    bootstrap_servers=self.bootstrap_servers,
                    group_id=self.group,
                    client_id=self.group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_poll_interval_ms=300000,
                    session_timeout_ms=10000,
                    heartbeat_interval_ms=3000,
                    bootstrap_timeout_ms=5000,
                    # a group left without partitions some other way than the one `_learn_partitions`
                    # closes would see them at the next refresh: 30 s rather than kafka-python's 5 min
                    metadata_max_age_ms=30000,
                )
            except KafkaError as exc:
                raise TransportError(f"cannot reach Kafka: {exc}") from exc
        if not self._partitions_known:
            self._learn_partitions()
        return self._client

    def _learn_partitions(self) -> None:
        """Wait until the broker names every topic's partitions; only then may the first poll join the group.

        kafka-python may join before its first metadata answer, or on an answer that does not name a topic
        yet (one another service's worker is creating at that moment): the leader then assigns nobody the
        partitions it has not heard of, and when they turn up between that assignment and the join's end
        nothing notices until the next metadata refresh, five minutes later (KAFKA-3949, fixed upstream for
        patterns only). The kafka-python client stays unjoined, and is kept, until they are all known."""
        try:
            unknown = unnamed_topics(self._client, self.topics, self.PARTITIONS_WAIT)
        except KafkaError as exc:
            self._client.close(autocommit=False)  # the next poll starts again with a new client
            self._client = None
            raise TransportError(f"cannot read the topics' partitions: {exc}") from exc
        if unknown:
            raise TransportError(f"the broker does not name the partitions of {', '.join(unknown)} yet")
        self._partitions_known = True

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        except KafkaError as exc:
            raise TransportError(str(exc)) from exc
        out = []
        for tp, records in batches.items():
            for r in records:
                out.append(
                    Message(
                        topic=tp.topic, partition=tp.partition, offset=r.offset,
                        key=r.key.decode("utf-8") if r.key is not None else None,
                        value=r.value, headers={k: v for k, v in (r.headers or [])},
                    )
                )
        return out

    def commit(self, messages: list[Message]) -> None:
        offsets = {TopicPartition(m.topic, m.partition): OffsetAndMetadata(m.offset + 1, "", -1) for m in messages}
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
        except KafkaError as exc:
            raise TransportError(f"offset commit failed: {exc}") from exc

    def seek(self, message: Message) -> None:
        self._consumer.seek(TopicPartition(message.topic, message.partition), message.offset)

    def lag(self) -> int | None:
        """Messages behind the end of the assigned partitions; None while nothing is assigned yet."""
        if not self._partitions_known or not self._client.assignment():
            return None
        total = 0
        for tp in self._client.assignment():
            high = self._client.highwater(tp)
            if high is None:
                return None
            total += max(0, high - self._client.position(tp))
        return total

    def close(self) -> None:
        if self._client is not None:
            self._client.close(autocommit=False)
