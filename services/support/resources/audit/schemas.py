"""Schemas of /support/v1/audit (read only)."""
from __future__ import annotations

from marshmallow import fields

from chassis.api import Schema, sort_field
from services.support.views import AUDIT_SORTABLE


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    actor_roles = fields.String()
    actor_district = fields.String(allow_none=True)
    person_id = fields.String()
    action = fields.String(metadata={"description": "read or update of the identity"})
    reason = fields.String()
    break_glass = fields.Boolean(metadata={"description": "Outside the reader's district (flagged)."})


class AuditQuery(Schema):
    person_id = fields.UUID()
    actor = fields.String()
    break_glass = fields.Boolean()
    since = fields.DateTime()
    sort = sort_field(*AUDIT_SORTABLE, default="-at")
