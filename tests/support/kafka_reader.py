"""A plain kafka-python reader of a topic, for tests that look at what is on the wire."""
from __future__ import annotations

import uuid

from kafka import KafkaConsumer

from chassis.transport.kafka import unnamed_topics


def topic_reader(servers: str, topic: str, prefix: str = "reader") -> KafkaConsumer:
    """A consumer in a group of its own, reading ``topic`` from its start. It waits for the topic's
    partitions before its first poll: otherwise kafka-python can join the group on metadata that does
    not name them and be assigned nothing until its next metadata refresh, five minutes later (as in
    chassis/transport/kafka.py)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=servers, group_id=f"{prefix}-{uuid.uuid4().hex[:8]}",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    assert not unnamed_topics(consumer, [topic], 30.0), f"the broker has not named the partitions of {topic} in 30 s"
    return consumer
