"""The CloudEvents 1.0 structured-JSON envelope of every event."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timezone

import pytest

from chassis import envelope
from chassis.envelope import EnvelopeError
from contracts.events import registry as events

ESTABLISHMENT_ID = str(uuid.uuid4())
STATUS_CHANGED = {
    "establishment_id": ESTABLISHMENT_ID, "previous_status": "active", "status": "suspended",
    "reason": "no fire exit", "effective_on": date(2024, 8, 1), "commune_code": "03646", "district_code": "116",
}
SENT_AT = datetime(2024, 8, 1, 9, 30, tzinfo=timezone.utc)


def build(**overrides):
    arguments = {"event_type": events.ESTABLISHMENT_STATUS_CHANGED, "subject": ESTABLISHMENT_ID,
                 "data": STATUS_CHANGED, "source": "/lanhmanh/registry", "correlation_id": "corr-1",
                 "causation_id": "cause-1", "time": SENT_AT, **overrides}
    return envelope.build(**arguments)


def test_roundtrip_keeps_every_attribute():
    event_id, value = build()
    received = envelope.parse(value)
    assert received.id == event_id
    assert received.type == "vn.lanhmanh.registry.establishment.status_changed.v1"
    assert received.subject == ESTABLISHMENT_ID
    assert received.source == "/lanhmanh/registry"
    assert (received.correlation_id, received.causation_id) == ("corr-1", "cause-1")
    assert received.schema_version == "1"
    assert received.time == SENT_AT
    assert received.event_type is events.ESTABLISHMENT_STATUS_CHANGED


def test_roundtrip_keeps_the_data_as_json():
    _, value = build()
    assert envelope.parse(value).data == {**STATUS_CHANGED, "effective_on": "2024-08-01"}


def test_given_event_id_is_used():
    event_id, value = build(event_id="fixed-id")
    assert event_id == "fixed-id" and envelope.parse(value).id == "fixed-id"


def test_each_event_gets_its_own_id():
    assert build()[0] != build()[0]


def test_without_correlation_the_extensions_are_absent():
    _, value = build(correlation_id=None, causation_id=None)
    document = json.loads(value)
    assert "correlationid" not in document and "causationid" not in document
    assert envelope.parse(value).correlation_id is None


def test_envelope_is_a_cloudevents_1_0_structured_event():
    event_id, value = build()
    document = json.loads(value)
    assert document["specversion"] == "1.0"
    assert document["datacontenttype"] == "application/json"
    assert document["id"] == event_id
    assert document["type"] == events.ESTABLISHMENT_STATUS_CHANGED.type
    assert document["source"] == "/lanhmanh/registry"
    assert document["subject"] == ESTABLISHMENT_ID
    assert document["dataschema"] == "urn:lanhmanh:event:registry.establishment.status_changed:v1"
    assert document["schemaversion"] == "1"
    assert document["data"]["status"] == "suspended"
    assert datetime.fromisoformat(document["time"].replace("Z", "+00:00")) == SENT_AT


def test_payload_missing_a_required_field_is_refused_at_build():
    data = {k: v for k, v in STATUS_CHANGED.items() if k != "reason"}
    with pytest.raises(ValueError, match="reason"):
        build(data=data)


def test_payload_with_a_value_outside_the_contract_is_refused_at_build():
    with pytest.raises(ValueError, match="status"):
        build(data={**STATUS_CHANGED, "status": "banned"})


@pytest.mark.parametrize("value", [b"garbage", b"\xff\xfe\x00", b"[]", b"{}", b""], ids=repr)
def test_garbage_is_not_an_event(value):
    with pytest.raises(EnvelopeError):
        envelope.parse(value)


def _document() -> dict:
    return json.loads(build()[1])


def test_event_without_source_is_refused():
    document = _document()
    del document["source"]
    with pytest.raises(EnvelopeError):
        envelope.parse(json.dumps(document).encode())


@pytest.mark.parametrize("data", [[1, 2], "text", 42, None], ids=repr)
def test_event_whose_data_is_not_an_object_is_refused(data):
    document = {**_document(), "data": data}
    with pytest.raises(EnvelopeError):
        envelope.parse(json.dumps(document).encode())


def test_envelope_error_is_a_value_error():
    assert issubclass(EnvelopeError, ValueError)
