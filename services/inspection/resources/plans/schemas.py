"""Request and response schemas of /inspection/v1/plans and their visit lists."""
from __future__ import annotations

from marshmallow import fields, validate

from chassis.api import Schema, sort_field
from chassis.auth import ADMIN, CULTURE_INSPECTOR, POLICE
from services.inspection import domain
from services.inspection.views import PLAN_SORTABLE

WRITERS = (ADMIN, POLICE, CULTURE_INSPECTOR)
COMMUNE = validate.Regexp(r"^\d{5}$", error="a commune code is 5 digits (GSO)")
DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")
PROVINCE = validate.Regexp(r"^\d{2}$", error="a province code is 2 digits (GSO)")


class PlanInput(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 300),
                         metadata={"example": "Kế hoạch kiểm tra liên ngành các cơ sở kinh doanh dịch vụ năm 2020"})
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS))
    agency = fields.String(required=True, validate=validate.OneOf(domain.AGENCIES))
    scope = fields.String(required=True, validate=validate.OneOf(domain.SCOPES))
    province_code = fields.String(validate=PROVINCE, metadata={"description": "For a province plan (default: 14)."})
    district_code = fields.String(validate=DISTRICT, metadata={"example": "116"})
    commune_codes = fields.List(fields.String(validate=COMMUNE), validate=validate.Length(max=300), load_default=list)
    period_start = fields.Date(required=True, metadata={"example": "2020-01-01"})
    period_end = fields.Date(required=True, metadata={"example": "2020-12-31"})
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class PlanSchema(PlanInput):
    district_code = fields.String(allow_none=True, metadata={"description": "None for a province plan."})
    id = fields.String(dump_only=True)
    created_by = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class PlanQuery(Schema):
    kind = fields.String(validate=validate.OneOf(domain.KINDS))
    agency = fields.String(validate=validate.OneOf(domain.AGENCIES))
    scope = fields.String(validate=validate.OneOf(domain.SCOPES))
    district_code = fields.String(validate=DISTRICT)
    active_on = fields.Date(metadata={"description": "Plans whose period includes this day."})
    period_from = fields.Date(metadata={"description": "Plans whose period ends on or after this day."})
    period_to = fields.Date(metadata={"description": "Plans whose period starts on or before this day."})
    sort = sort_field(*PLAN_SORTABLE, default="-period_start")


class PointsSchema(Schema):
    risk = fields.Integer(attribute="risk_points")
    time = fields.Integer(attribute="time_points")
    violations = fields.Integer(attribute="violation_points")
    tips = fields.Integer(attribute="tip_points")


class VisitSchema(Schema):
    """One line of a plan's visit list: short, for a phone."""

    rank = fields.Integer()
    score = fields.Integer(attribute="visit.score")
    points = fields.Nested(PointsSchema, attribute="visit")
    establishment_id = fields.String(attribute="visit.establishment.id")
    name = fields.String(attribute="visit.establishment.name")
    business_type = fields.String(attribute="visit.establishment.business_type")
    address = fields.String(attribute="visit.establishment.address")
    commune_code = fields.String(attribute="visit.establishment.commune_code")
    risk_level = fields.String(attribute="visit.establishment.risk_level")
    last_inspected_on = fields.Date(attribute="visit.establishment.last_inspected_on", allow_none=True)
    past_violations = fields.Integer(attribute="visit.establishment.violations_recorded")
    open_tips = fields.Integer(attribute="visit.open_tips")
    inspection_id = fields.String(allow_none=True)
    inspection_status = fields.String(allow_none=True)


class VisitQuery(Schema):
    commune_code = fields.String(validate=COMMUNE)
    pending = fields.Boolean(load_default=False, metadata={
        "description": "Only establishments this plan has not inspected or scheduled yet."})
