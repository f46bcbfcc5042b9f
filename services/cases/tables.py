"""The cases service's tables and their mapping onto the domain classes (SQLAlchemy, imperative)."""
from __future__ import annotations

from sqlalchemy import (
    Boolean, Column, Date, ForeignKey, Integer, MetaData, String, Table, Text,
)
from sqlalchemy.orm import registry as orm_registry
from sqlalchemy.orm import relationship
from sqlalchemy.types import TypeDecorator

from chassis.db import ID, UTCDateTime, chassis_tables
from services.cases import domain

metadata = MetaData()
chassis_tables(metadata)


class CodeList(TypeDecorator):
    """A short list of codes or ids stored as ``,a,b,``: readable in any database, and
    ``column.contains(",327,")`` finds the rows holding one of them."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, str):
            return value
        return "," + ",".join(str(v) for v in value) + "," if value else ""

    def process_result_value(self, value, dialect):
        return [v for v in (value or "").split(",") if v]


def member(column, value: str):
    """The condition "``value`` is one of the codes in this `CodeList` column"."""
    return column.contains(f",{value},", autoescape=True)


#: The registry's establishments as its events describe them (no owner: the registry never publishes one).
establishments = Table(
    "establishments", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("business_type", String(40), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("district_code", String(3), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

tips = Table(
    "tips", metadata,
    Column("id", String(36), primary_key=True),
    Column("source", String(30), nullable=False, index=True),
    Column("received_at", UTCDateTime(), nullable=False, index=True),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("summary", Text, nullable=False),
    Column("establishment_id", String(36), index=True),
    Column("inspection_id", String(36), index=True),
    Column("referral_id", String(36), unique=True),
    Column("status", String(20), nullable=False, index=True),
    Column("verification_due_on", Date, nullable=False, index=True),
    Column("verification_started_at", UTCDateTime()),
    Column("verified_by", String(200)),
    Column("classification", String(20), index=True),
    Column("classification_note", Text),
    Column("classified_at", UTCDateTime()),
    Column("classified_by", String(200)),
    Column("handled_at", UTCDateTime()),
    Column("handling_note", Text),
    Column("case_id", String(36)),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
)

cases = Table(
    "cases", metadata,
    Column("id", String(36), primary_key=True),
    Column("case_number", String(100), nullable=False, unique=True),
    Column("case_number_key", String(100), nullable=False, index=True),
    Column("articles", CodeList(), nullable=False),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("summary", Text, nullable=False),
    Column("opened_on", Date, nullable=False, index=True),
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("tip_id", String(36), ForeignKey("tips.id"), index=True),
    Column("establishment_ids", CodeList(), nullable=False),
    Column("hotspot_ids", CodeList(), nullable=False),
    Column("suspects_count", Integer, nullable=False),
    Column("stage", String(20), nullable=False, index=True),
    Column("stage_on", Date, nullable=False),
    Column("stage_due_on", Date, index=True),
    Column("suspended_from", String(20)),
    Column("outcome_reason", Text),
    Column("court", String(300)),
    Column("trial_on", Date),
    Column("mobile_trial", Boolean, nullable=False),
    Column("verdict_on", Date),
    Column("sentence", Text),
    Column("operator_convicted", Boolean, nullable=False),
    Column("convicted_establishment_ids", CodeList(), nullable=False),
    Column("updated_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
)

stage_changes = Table(
    "stage_changes", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("stage", String(20), nullable=False),
    Column("previous_stage", String(20)),
    Column("on", Date, nullable=False),
    Column("due_on", Date),
    Column("reason", Text),
    Column("correction", Boolean, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

#: Identities of suspects: police eyes only, never in an event.
suspects = Table(
    "suspects", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("full_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("birth_year", Integer),
    Column("id_number", String(20)),
    Column("address", String(500)),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

#: Victims identified: a random referral id each, no name, nothing that identifies them.
victims = Table(
    "victims", metadata,
    Column("referral_id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("identified_on", Date, nullable=False),
    Column("minor", Boolean, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

hotspots = Table(
    "hotspots", metadata,
    Column("id", String(36), primary_key=True),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(30), nullable=False, index=True),
    Column("found_by", String(20), nullable=False),
    Column("detected_on", Date, nullable=False, index=True),
    Column("establishment_id", String(36), index=True),
    Column("tip_id", String(36), ForeignKey("tips.id")),
    Column("case_id", String(36), ForeignKey("cases.id")),
    Column("inspection_id", String(36)),
    Column("status", String(20), nullable=False, index=True),
    Column("status_on", Date, nullable=False),
    Column("eliminated_on", Date),
    Column("elimination_method", Text),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
)

hotspot_changes = Table(
    "hotspot_changes", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("hotspot_id", String(36), ForeignKey("hotspots.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("on", Date, nullable=False),
    Column("note", Text),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

mapper_registry = orm_registry(metadata=metadata)
_mapped = False


def start_mappers() -> None:
    """Map the domain classes onto the tables, once per process (called by the composition root)."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(domain.Establishment, establishments)
    mapper_registry.map_imperatively(domain.Tip, tips, version_id_col=tips.c.version)
    mapper_registry.map_imperatively(domain.StageChange, stage_changes)
    mapper_registry.map_imperatively(domain.Suspect, suspects)
    mapper_registry.map_imperatively(domain.Victim, victims)
    mapper_registry.map_imperatively(
        domain.Case, cases,
        version_id_col=cases.c.version,
        properties={
            "stages": relationship(domain.StageChange, order_by=stage_changes.c.id, lazy="selectin"),
            "suspects": relationship(domain.Suspect, order_by=suspects.c.id, lazy="selectin"),
            "victims": relationship(domain.Victim, order_by=victims.c.recorded_at, lazy="selectin"),
        },
    )
    mapper_registry.map_imperatively(domain.HotspotChange, hotspot_changes)
    mapper_registry.map_imperatively(
        domain.Hotspot, hotspots,
        version_id_col=hotspots.c.version,
        properties={"history": relationship(domain.HotspotChange, order_by=hotspot_changes.c.id, lazy="selectin")},
    )
    _mapped = True
