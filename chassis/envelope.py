"""CloudEvents 1.0 in structured JSON mode: the one envelope of every event.

Attributes: ``specversion``, ``id``, ``source``, ``type`` (versioned), ``subject`` (the
aggregate id, also the Kafka message key), ``time``, ``datacontenttype``, ``dataschema``,
``data``, and the extensions ``schemaversion``, ``correlationid`` and ``causationid``.
Serialisation is the CloudEvents SDK's; this module only fills the attributes.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from contracts.events import EventType, lookup

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
_FORMAT = JSONFormat()


class EnvelopeError(ValueError):
    """The bytes are not a CloudEvent this system can read."""


@dataclass(frozen=True)
class ReceivedEvent:
    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    data: dict[str, Any]
    correlation_id: str | None
    causation_id: str | None
    schema_version: str | None
    #: ``data`` loaded through the contract's schema (dates, UUIDs...), set by the consumer runner.
    payload: dict[str, Any] | None = None

    @property
    def event_type(self) -> EventType | None:
        return lookup(self.type)


def build(
    event_type: EventType, subject: str, data: dict[str, Any], source: str,
    correlation_id: str | None = None, causation_id: str | None = None,
    event_id: str | None = None, time: datetime | None = None,
) -> tuple[str, bytes]:
    """Validate ``data`` against the contract and return ``(event id, structured JSON bytes)``."""
    schema = event_type.contract
    payload = schema.dump(data)
    errors = schema.validate(payload)
    if errors:
        raise ValueError(f"{event_type.type} payload breaks its contract: {errors}")
    attributes = {
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type.type,
        "subject": str(subject),
        "time": time or datetime.now(timezone.utc),
        "datacontenttype": "application/json",
        "dataschema": event_type.dataschema,
        "schemaversion": str(event_type.version),
    }
    if correlation_id:
        attributes["correlationid"] = correlation_id
    if causation_id:
        attributes["causationid"] = causation_id
    message = ce_kafka.to_structured(CloudEvent(attributes, payload), _FORMAT, key_mapper=lambda e: e.get_subject())
    return attributes["id"], message.value


def parse(value: bytes) -> ReceivedEvent:
    try:
        event = ce_kafka.from_structured(ce_kafka.KafkaMessage(headers={}, key=None, value=value), _FORMAT, CloudEvent)
    except Exception as exc:  # the SDK raises several kinds; all mean "not a CloudEvent"
        raise EnvelopeError(f"not a structured CloudEvent: {exc}") from exc
    data = event.get_data()
    if not isinstance(data, dict):
        raise EnvelopeError("CloudEvent data is not a JSON object")
    return ReceivedEvent(
        id=event.get_id(),
        type=event.get_type(),
        source=event.get_source(),
        subject=event.get_subject(),
        time=event.get_time(),
        data=data,
        correlation_id=event.get_extension("correlationid"),
        causation_id=event.get_extension("causationid"),
        schema_version=event.get_extension("schemaversion"),
    )
