"""The inspection service's tables and their mapping onto the domain classes (SQLAlchemy, imperative)."""
from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, event,
)
from sqlalchemy.orm import registry as orm_registry
from sqlalchemy.orm import relationship

from chassis.db import ID, UTCDateTime, chassis_tables
from services.inspection import domain

metadata = MetaData()
chassis_tables(metadata)

# The local copy of the registry's establishments (fed by its events only; never the owner's name).
establishments = Table(
    "establishments", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("name_key", String(300), nullable=False, index=True),
    Column("business_type", String(40), nullable=False),
    Column("licence_number", String(100)),
    Column("address", String(500), nullable=False),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("employees", Integer),
    Column("operating_since", Date),
    Column("status", String(20), nullable=False),
    Column("risk_level", String(10), nullable=False),
    Column("last_inspected_on", Date),
    Column("violations_recorded", Integer, nullable=False, default=0),
    Column("synced_at", UTCDateTime()),
)

# Tips from the cases service (open until handled or found unfounded), by establishment.
tips = Table(
    "tips", metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), index=True),
    Column("commune_code", String(5), nullable=False),
    Column("district_code", String(3), nullable=False),
    Column("received_at", UTCDateTime()),
    Column("classification", String(20)),
    Column("handled_at", UTCDateTime()),
)

plans = Table(
    "plans", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(300), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("agency", String(20), nullable=False),
    Column("scope", String(10), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("district_code", String(3), index=True),
    Column("commune_codes", JSON, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("notes", Text),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

inspections = Table(
    "inspections", metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False, index=True),
    Column("establishment_name", String(300), nullable=False),
    Column("business_type", String(40), nullable=False),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("plan_id", String(36), ForeignKey("plans.id"), index=True),
    Column("kind", String(20), nullable=False),
    Column("agency", String(20), nullable=False, index=True),
    Column("scheduled_on", Date, nullable=False, index=True),
    Column("status", String(20), nullable=False, index=True),
    Column("notes", Text),
    Column("started_at", UTCDateTime()),
    Column("completed_at", UTCDateTime()),
    Column("cancelled_at", UTCDateTime()),
    Column("cancel_reason", Text),
    Column("reinspection_of", String(36)),
    Column("reinspection_id", String(36)),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
)

team_members = Table(
    "team_members", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("inspection_id", String(36), ForeignKey("inspections.id"), nullable=False),
    Column("user_id", String(200), nullable=False),
    UniqueConstraint("inspection_id", "user_id", name="uq_team_member"),
)
Index("ix_team_members_user", team_members.c.user_id, team_members.c.inspection_id)

# Results are written once: a correction is a new row with the next revision (see the guard below).
results = Table(
    "results", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("inspection_id", String(36), ForeignKey("inspections.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("conducted_on", Date, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("checklist", JSON, nullable=False),
    Column("violations", JSON, nullable=False),
    Column("sanctions", JSON, nullable=False),
    Column("signs_of_prostitution", Boolean, nullable=False),
    Column("people_identified", Integer, nullable=False),
    Column("people_consenting_to_referral", Integer, nullable=False),
    Column("risk_level", String(10), nullable=False),
    Column("notes", Text),
    Column("correction_reason", Text),
    Column("police_referral_id", String(36)),
    Column("support_referral_batch_id", String(36)),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    UniqueConstraint("inspection_id", "revision", name="uq_result_revision"),
)

mapper_registry = orm_registry(metadata=metadata)
_mapped = False


def _refuse_update(mapper, connection, target):
    raise domain.Conflict("a recorded result is never changed; record a correction instead", field="result")


def start_mappers() -> None:
    """Map the domain classes onto the tables, once per process (called by the composition root)."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(domain.Establishment, establishments)
    mapper_registry.map_imperatively(domain.Tip, tips)
    mapper_registry.map_imperatively(domain.Plan, plans)
    mapper_registry.map_imperatively(domain.TeamMember, team_members)
    mapper_registry.map_imperatively(domain.Result, results)
    mapper_registry.map_imperatively(
        domain.Inspection, inspections,
        version_id_col=inspections.c.version,
        properties={
            "members": relationship(domain.TeamMember, order_by=team_members.c.id, lazy="selectin",
                                    cascade="all, delete-orphan"),
            "results": relationship(domain.Result, order_by=results.c.revision, lazy="selectin"),
        },
    )
    event.listen(domain.Result, "before_update", _refuse_update)
    _mapped = True
