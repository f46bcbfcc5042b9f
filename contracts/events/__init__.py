"""The event catalogue: every event type that crosses a service boundary.

An event type is an explicit, versioned string (never a class name), e.g.
``vn.lanhmanh.registry.establishment.registered.v1``. Its payload (the CloudEvent
``data``) is described by a marshmallow schema. Consumers load payloads with
``unknown=EXCLUDE``: a field added in a later minor change is ignored, and a breaking
change gets a new version (``.v2``) published alongside the old one until every
consumer has moved. A consumer may declare the fields it reads of a type
(`chassis.consumer.ConsumerSpec.reads`): only those are then checked and handed to it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema

TYPE_PREFIX = "vn.lanhmanh."


class Payload(Schema):
    """Base of every event payload schema: unknown fields are ignored, not errors."""

    class Meta:
        unknown = EXCLUDE


@dataclass(frozen=True)
class EventType:
    name: str  # e.g. "registry.establishment.registered"
    version: int
    topic: str
    schema: type[Payload]
    description: str = ""

    @property
    def type(self) -> str:
        """The CloudEvents ``type`` attribute."""
        return f"{TYPE_PREFIX}{self.name}.v{self.version}"

    @property
    def dataschema(self) -> str:
        return f"urn:lanhmanh:event:{self.name}:v{self.version}"

    @functools.cached_property
    def contract(self) -> Payload:
        """The payload schema, made once: marshmallow schemas keep no state between calls."""
        return self.schema()

    def reader(self, fields: tuple[str, ...] | None = None) -> Payload:
        """The schema a consumer loads this type's payloads with: the whole contract, or only the
        ``fields`` it reads (a tolerant reader: what it does not read is neither checked nor kept)."""
        return self.contract if fields is None else _reader(self.schema, tuple(fields))


@functools.cache
def _reader(schema: type[Payload], fields: tuple[str, ...]) -> Payload:
    unknown = set(fields) - set(schema._declared_fields)
    if unknown:
        raise ValueError(f"{schema.__name__} has no fields {sorted(unknown)}")
    return schema(only=fields)


CATALOGUE: dict[str, EventType] = {}


def define(name: str, version: int, topic: str, schema: type[Payload], description: str = "") -> EventType:
    event_type = EventType(name, version, topic, schema, description)
    if event_type.type in CATALOGUE:
        raise ValueError(f"event type defined twice: {event_type.type}")
    CATALOGUE[event_type.type] = event_type
    return event_type


def lookup(ce_type: str) -> EventType | None:
    return CATALOGUE.get(ce_type)


def _load_all() -> None:
    """Import every module of this package: each one fills the catalogue with its `define` calls."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_load_all()
