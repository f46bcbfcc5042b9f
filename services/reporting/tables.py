"""The reporting service's tables: commune reports and plans (owned), projections of the
other services' events (rebuildable), and the projection's state. Mapping of the domain
classes onto them (SQLAlchemy, imperative)."""
from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
)
from sqlalchemy.orm import registry as orm_registry
from sqlalchemy.orm import relationship

from chassis.db import ID, UTCDateTime, chassis_tables
from services.reporting import domain

metadata = MetaData()
chassis_tables(metadata)

# -- owned: commune reports and plans ----------------------------------------------------------
commune_reports = Table(
    "commune_reports", metadata,
    Column("id", String(36), primary_key=True),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("province_code", String(2), nullable=False),
    Column("period", String(7), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("activities_count", Integer, nullable=False),
    Column("audience", Integer, nullable=False),
    Column("media_items", Integer, nullable=False),
    Column("establishments_counted", Integer),
    Column("registered_healthy", Boolean, nullable=False),
    Column("recognised_healthy", Boolean, nullable=False),
    Column("notes", Text),
    Column("status", String(12), nullable=False, index=True),
    Column("submitted_by", String(200)),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
    UniqueConstraint("commune_code", "period", name="uq_commune_report_period"),
)
Index("ix_commune_reports_window", commune_reports.c.period_start, commune_reports.c.period_end)

report_steps = Table(
    "commune_report_steps", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("report_id", String(36), ForeignKey("commune_reports.id"), nullable=False, index=True),
    Column("action", String(20), nullable=False),
    Column("status", String(12), nullable=False),
    Column("by", String(200), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("reason", Text),
)

plans = Table(
    "plans", metadata,
    Column("id", String(100), primary_key=True),
    Column("province_code", String(2), nullable=False),
    Column("year", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("province_code", "year", name="uq_plan_province_year"),
)

# -- projections (rebuilt from the topics; never a name, a suspect or a tip's content) ---------
projection_state = Table(
    "projection_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("last_event_time", UTCDateTime()),
    Column("last_applied_at", UTCDateTime()),
    Column("rebuilt_at", UTCDateTime()),
    Column("rebuilt_by", String(200)),
)

p_establishments = Table(
    "p_establishments", metadata,
    Column("id", String(36), primary_key=True),
    Column("commune_code", String(5), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("business_type", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("opened_on", Date, nullable=False),  # operating since (or registered on)
    Column("closed_on", Date),  # revoked or closed from this day
)

p_reviews = Table(
    "p_reviews", metadata,
    Column("establishment_id", String(36), primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("reviewed_on", Date, nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("district_code", String(3), nullable=False, index=True),
)

p_inspections = Table(
    "p_inspections", metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("agency", String(20), nullable=False),
    Column("commune_code", String(5), nullable=False),
    Column("district_code", String(3), nullable=False, index=True),
    Column("state", String(12), nullable=False),  # scheduled, started, completed, cancelled
    Column("conducted_on", Date, index=True),
    Column("passed", Boolean),
    Column("signs_of_prostitution", Boolean),
    Column("fines_total_vnd", Integer),
)

p_hotspots = Table(
    "p_hotspots", metadata,
    Column("id", String(36), primary_key=True),
    Column("commune_code", String(5), nullable=False),
    Column("district_code", String(3), nullable=False, index=True),
    Column("detected_on", Date),
    Column("eliminated_on", Date),
    Column("recurred_on", Date),
)

p_cases = Table(
    "p_cases", metadata,
    Column("id", String(36), primary_key=True),
    Column("commune_code", String(5), nullable=False),
    Column("district_code", String(3), nullable=False, index=True),
    Column("opened_on", Date),
    Column("stage", String(20), nullable=False),
    Column("investigation_on", Date),
    Column("prosecution_on", Date),
    Column("trial_on", Date),
    Column("verdict_on", Date),
    Column("ended_on", Date),  # suspended or dismissed
    Column("mobile_trial", Boolean, nullable=False, default=False),
)

p_tips = Table(
    "p_tips", metadata,
    Column("id", String(36), primary_key=True),
    Column("commune_code", String(5), nullable=False),
    Column("district_code", String(3), nullable=False, index=True),
    Column("received_on", Date),
    Column("classification", String(20)),
)

#: One row per support event (a fact); the pseudonymous ref only counts distinct people.
p_support = Table(
    "p_support", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("fact", String(12), nullable=False),  # opened, service, closed
    Column("person_ref", String(36), nullable=False),
    Column("district_code", String(3), nullable=False, index=True),
    Column("age_band", String(10), nullable=False),
    Column("sex", String(10), nullable=False),
    Column("service_type", String(30)),
    Column("completed", Boolean),
    Column("outcome", String(30)),
    Column("happened_on", Date, nullable=False, index=True),
)

#: The monthly rollup of p_inspections and p_establishments (rollup.py): per unit (commune,
#: district, province or "VN"), month ('YYYYMM') and measure, a count kept by the projection writes.
r_monthly = Table(
    "r_monthly", metadata,
    Column("unit_code", String(5), primary_key=True),
    Column("month", String(6), primary_key=True),
    Column("measure", String(60), primary_key=True),
    Column("value", Integer, nullable=False),
)

#: The province of each district (GSO, from contracts.refdata), for the rollup's recomputation in SQL.
r_districts = Table(
    "r_districts", metadata,
    Column("district_code", String(3), primary_key=True),
    Column("province_code", String(2), nullable=False),
)

PROJECTIONS = (p_establishments, p_reviews, p_inspections, p_hotspots, p_cases, p_tips, p_support, r_monthly)

mapper_registry = orm_registry(metadata=metadata)
_mapped = False


def start_mappers() -> None:
    """Map the domain classes onto the tables, once per process (called by the composition root)."""
    global _mapped
    if _mapped:
        return
    mapper_registry.map_imperatively(domain.ReportStep, report_steps)
    mapper_registry.map_imperatively(
        domain.CommuneReport, commune_reports,
        version_id_col=commune_reports.c.version,
        properties={"history": relationship(domain.ReportStep, order_by=report_steps.c.id, lazy="selectin")},
    )
    _mapped = True
