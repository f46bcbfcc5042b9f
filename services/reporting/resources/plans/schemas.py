"""Schemas of /reporting/v1/plans: a plan and its targets, as data."""
from __future__ import annotations

from marshmallow import fields, validate

from chassis.api import Schema


class PlanIndicatorSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]{1,60}$"))
    section = fields.String(allow_none=True)
    name_vi = fields.String(required=True, validate=validate.Length(1, 300))
    name_en = fields.String(required=True, validate=validate.Length(1, 300))
    kind = fields.String(required=True, validate=validate.OneOf(("ratio", "count")))
    target = fields.Float(allow_none=True, validate=validate.Range(min=0))
    target_count = fields.Integer(allow_none=True, validate=validate.Range(min=0))
    applies_to = fields.List(fields.String(validate=validate.OneOf(("year", "half_year", "quarter", "month"))))
    source = fields.String(allow_none=True)
    suppress = fields.Boolean()


class PlanSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,100}$"),
                       metadata={"example": "33-KH-UBND-2020"})
    title_vi = fields.String(required=True, validate=validate.Length(1, 500))
    title_en = fields.String(validate=validate.Length(max=500))
    province_code = fields.String(required=True, validate=validate.Regexp(r"^\d{2}$"))
    year = fields.Integer(required=True, validate=validate.Range(2000, 2100))
    at_risk_margin = fields.Float(load_default=10, validate=validate.Range(0, 100), metadata={
        "description": "Percentage points below a target that still count as 'at risk' rather than 'missed'."})
    indicators = fields.List(fields.Nested(PlanIndicatorSchema), required=True, validate=validate.Length(min=1))
    version = fields.Integer(dump_only=True)


class PlanQuery(Schema):
    province_code = fields.String(validate=validate.Regexp(r"^\d{2}$"))
    year = fields.Integer()
