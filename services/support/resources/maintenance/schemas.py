"""Schemas of /support/v1/maintenance."""
from __future__ import annotations

from marshmallow import fields

from chassis.api import Schema


class RotationResult(Schema):
    rekeyed = fields.Integer(metadata={"description": "Identities re-encrypted with the newest key."})
    texts = fields.Integer(metadata={"description": "Sealed free texts (notes, reasons...) re-encrypted."})


class RetentionResult(Schema):
    erased = fields.Integer(metadata={"description": "Identities erased (cases closed beyond the retention period)."})
    retention_days = fields.Integer()
