"""The topics the services make on the real broker: kept for ever, so that a reporting rebuild replays all."""
from __future__ import annotations

import logging
import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource

pytestmark = pytest.mark.infra


@pytest.fixture
def admin(kafka_servers):
    client = KafkaAdminClient(bootstrap_servers=kafka_servers, client_id="test-topics")
    yield client
    client.close()


def retention(admin, topic: str) -> dict:
    described = admin.describe_configs([ConfigResource("TOPIC", topic, ["retention.ms", "retention.bytes"])], config_filter="all")
    return {key: config["value"] for key, config in described["topic"][topic].items()}


def test_a_topic_the_services_create_keeps_its_events_for_ever_whatever_the_brokers_default(kafka, admin):
    topic = f"lanhmanh.test.kept-{uuid.uuid4().hex[:8]}"
    kafka.ensure_topics([topic])
    assert retention(admin, topic) == {"retention.ms": "-1", "retention.bytes": "-1"}
    plain = f"lanhmanh.test.plain-{uuid.uuid4().hex[:8]}"  # what the broker's default would have given
    admin.create_topics({plain: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    assert retention(admin, plain)["retention.ms"] != "-1"


def test_a_topic_made_before_with_a_finite_retention_is_left_alone_and_named_in_a_warning(kafka, admin, caplog):
    topic = f"lanhmanh.test.older-{uuid.uuid4().hex[:8]}"
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1, "configs": {"retention.ms": "86400000"}}},
                        wait_for_metadata=True)
    with caplog.at_level(logging.WARNING, logger="chassis.transport.kafka"):
        kafka.ensure_topics([topic])
    assert retention(admin, topic)["retention.ms"] == "86400000"
    (warning,) = [r for r in caplog.records if getattr(r, "topic", None) == topic]
    assert "reporting rebuild" in warning.getMessage() and warning.retention_ms == "86400000"
