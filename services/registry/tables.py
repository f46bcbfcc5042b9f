"""The registry's tables and their mapping onto the domain classes (SQLAlchemy, imperative)."""
from __future__ import annotations

from sqlalchemy import (
    Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
)
from sqlalchemy.orm import registry as orm_registry
from sqlalchemy.orm import relationship

from chassis.db import ID, UTCDateTime, chassis_tables
from services.registry import domain

metadata = MetaData()
chassis_tables(metadata)

establishments = Table(
    "establishments", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("name_key", String(300), nullable=False, index=True),
    Column("business_type", String(40), nullable=False, index=True),
    Column("licence_number", String(100), unique=True),
    Column("owner_name", String(200), nullable=False),
    Column("address", String(500), nullable=False),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("operating_since", Date, nullable=False),
    Column("employees", Integer),
    Column("risk_level", String(10), nullable=False, index=True),
    Column("status", String(20), nullable=False, index=True),
    Column("status_reason", Text),
    Column("registered_by", String(200), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
)

status_changes = Table(
    "status_changes", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("previous_status", String(20)),
    Column("reason", Text, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
)

reviews = Table(
    "reviews", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("period", String(6), nullable=False),
    Column("reviewed_on", Date, nullable=False),
    Column("outcome", String(30), nullable=False),
    Column("risk_level", String(10), nullable=False),
    Column("notes", Text),
    Column("reviewed_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("establishment_id", "period", name="uq_review_period"),
)
Index("ix_reviews_period", reviews.c.period, reviews.c.establishment_id)

mapper_registry = orm_registry(metadata=metadata)
_mapped = False


def start_mappers() -> None:
    """Map the domain classes onto the tables, once per process (called by the composition root)."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(domain.StatusChange, status_changes)
    mapper_registry.map_imperatively(domain.Review, reviews)
    mapper_registry.map_imperatively(
        domain.Establishment, establishments,
        version_id_col=establishments.c.version,
        properties={
            "status_history": relationship(domain.StatusChange, order_by=status_changes.c.id, lazy="selectin"),
            "reviews": relationship(domain.Review, order_by=reviews.c.period, lazy="selectin"),
        },
    )
    _mapped = True
