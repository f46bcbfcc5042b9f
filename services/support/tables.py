"""The support service's tables and their mapping onto the domain classes (SQLAlchemy, imperative).

No column holds an identity in clear: ``persons.sealed_identity`` is a Fernet token,
``person_match_keys.digest`` a keyed hash, and the free text case workers write is `SealedText`. ``district_code``, sex and the age band at first
contact are kept in clear: they are what the events already carry.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, Column, Date, ForeignKey, Index, Integer, MetaData, String, Table, Text,
)
from sqlalchemy.orm import registry as orm_registry
from sqlalchemy.orm import foreign, relationship
from sqlalchemy.types import TypeDecorator

from chassis.db import ID, UTCDateTime, chassis_tables
from services.support import domain, vault

metadata = MetaData()
chassis_tables(metadata)


class SealedText(TypeDecorator):
    """Free text a case worker writes may name someone: it is encrypted at rest like an identity
    (a Fernet token in a TEXT column; the vault's keys, rotated by `handlers.rotate_keys`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else vault.current().seal_text(value)

    def process_result_value(self, value, dialect):
        return None if value is None else vault.current().open_text(value)

persons = Table(
    "persons", metadata,
    Column("id", String(36), primary_key=True),
    Column("person_ref", String(36), nullable=False, unique=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("sex", String(10), nullable=False),
    Column("age_band", String(10), nullable=False),
    Column("sealed_identity", Text),  # Fernet token (MultiFernet: newest key first); NULL once erased
    Column("first_contact_on", Date, nullable=False),
    Column("registered_by", String(200), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime()),
    Column("status", String(10), nullable=False, index=True),
    Column("merged_into", String(36), ForeignKey("persons.id")),
    Column("erased_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
)

person_match_keys = Table(
    "person_match_keys", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("digest", String(64), nullable=False, index=True),  # HMAC-SHA256, hex
)

merge_proposals = Table(
    "merge_proposals", metadata,
    Column("id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("candidate_id", String(36), ForeignKey("persons.id"), nullable=False),
    Column("matched_on", String(20), nullable=False),
    Column("proposed_at", UTCDateTime(), nullable=False),
    Column("status", String(10), nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", UTCDateTime()),
)

consents = Table(
    "consents", metadata,
    Column("id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("given_on", Date, nullable=False),
    Column("services", JSON, nullable=False),
    Column("share_with", JSON, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("ended_on", Date),
    Column("ended_because", String(20)),
)

referrals = Table(
    "referrals", metadata,
    Column("id", String(36), primary_key=True),
    Column("source", String(20), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("commune_code", String(5)),
    Column("referred_on", Date, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("source_ref", String(36)),
    Column("batch_id", String(36)),
    Column("organisation", String(200)),
    Column("received_by", String(200)),
    Column("status", String(10), nullable=False, index=True),
    Column("decision_reason", SealedText()),
    Column("decided_by", String(200)),
    Column("decided_at", UTCDateTime()),
    Column("decided_on", Date),
    Column("person_id", String(36), ForeignKey("persons.id")),
    Column("support_case_id", String(36), ForeignKey("support_cases.id")),
    Column("version", Integer, nullable=False),
)

support_cases = Table(
    "support_cases", metadata,
    Column("id", String(36), primary_key=True),
    Column("person_id", String(36), ForeignKey("persons.id"), nullable=False, index=True),
    Column("district_code", String(3), nullable=False, index=True),
    Column("opened_on", Date, nullable=False),
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("needs", JSON, nullable=False),
    Column("assessment_notes", SealedText()),
    Column("assessed_on", Date),
    Column("closed_on", Date),
    Column("outcome", String(30)),
    Column("closure_note", SealedText()),
    Column("closed_by", String(200)),
    Column("updated_at", UTCDateTime()),
    Column("version", Integer, nullable=False),
)

goals = Table(
    "case_goals", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("support_case_id", String(36), ForeignKey("support_cases.id"), nullable=False, index=True),
    Column("description", SealedText(), nullable=False),
    Column("target_on", Date),
    Column("achieved_on", Date),
)

services = Table(
    "services_delivered", metadata,
    Column("id", String(36), primary_key=True),
    Column("support_case_id", String(36), ForeignKey("support_cases.id"), nullable=False, index=True),
    Column("service_type", String(30), nullable=False, index=True),
    Column("delivered_on", Date, nullable=False),
    Column("provider", String(200)),
    Column("health_kind", String(20)),
    Column("course", String(200)),
    Column("employer", String(200)),
    Column("started_on", Date),
    Column("completed_on", Date),
    Column("amount_vnd", Integer),
    Column("notes", SealedText()),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
)

tasks = Table(
    "tasks", metadata,
    Column("id", String(36), primary_key=True),
    Column("support_case_id", String(36), ForeignKey("support_cases.id"), nullable=False, index=True),
    Column("district_code", String(3), nullable=False),
    Column("title", SealedText(), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("done_on", Date),
    Column("done_by", String(200)),
)
Index("ix_tasks_open_due", tasks.c.district_code, tasks.c.done_on, tasks.c.due_on)

audit_log = Table(
    "audit_log", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor", String(200), nullable=False, index=True),
    Column("actor_roles", String(200), nullable=False),
    Column("actor_district", String(3)),
    Column("person_id", String(36), nullable=False, index=True),
    Column("action", String(10), nullable=False),
    Column("reason", SealedText(), nullable=False),
    Column("break_glass", Boolean, nullable=False),
)

#: Every column of sealed free text, for key rotation.
SEALED_TEXT = [(table, column) for table in metadata.tables.values() for column in table.columns
               if isinstance(column.type, SealedText)]

mapper_registry = orm_registry(metadata=metadata)
_mapped = False


def start_mappers() -> None:
    """Map the domain classes onto the tables, once per process (called by the composition root)."""
    global _mapped
    if _mapped:
        return
    m = mapper_registry.map_imperatively
    m(domain.MatchKey, person_match_keys)
    m(domain.MergeProposal, merge_proposals)
    m(domain.Consent, consents)
    m(domain.Person, persons, version_id_col=persons.c.version, properties={
        "consents": relationship(domain.Consent, order_by=consents.c.recorded_at, lazy="selectin",
                                 cascade="all, delete-orphan"),
        "match_keys": relationship(domain.MatchKey, lazy="selectin", cascade="all, delete-orphan"),
        "merge_proposals": relationship(domain.MergeProposal, lazy="selectin", cascade="all, delete-orphan",
                                        foreign_keys=[merge_proposals.c.person_id],
                                        order_by=merge_proposals.c.proposed_at),
        "merged_from": relationship(domain.Person, primaryjoin=persons.c.id == foreign(persons.c.merged_into),
                                    lazy="selectin", join_depth=1, viewonly=True, order_by=persons.c.registered_at),
    })
    m(domain.Referral, referrals, version_id_col=referrals.c.version)
    m(domain.Goal, goals)
    m(domain.ServiceDelivery, services)
    m(domain.Task, tasks)
    m(domain.SupportCase, support_cases, version_id_col=support_cases.c.version, properties={
        "goals": relationship(domain.Goal, order_by=goals.c.id, lazy="selectin", cascade="all, delete-orphan"),
        "services": relationship(domain.ServiceDelivery, order_by=(services.c.delivered_on, services.c.recorded_at),
                                 lazy="selectin", cascade="all, delete-orphan"),
        "tasks": relationship(domain.Task, order_by=(tasks.c.due_on, tasks.c.created_at), lazy="selectin",
                              cascade="all, delete-orphan"),
    })
    m(domain.AuditEntry, audit_log)
    _mapped = True
