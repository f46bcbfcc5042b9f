"""Request and response schemas of /reporting/v1/commune-reports."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from chassis.api import Schema, sort_field
from chassis.auth import ADMIN, CULTURE_INSPECTOR, SOCIAL_WORKER
from contracts import periods
from contracts.refdata import units
from services.reporting import domain
from services.reporting.views import SORTABLE

#: Who files and approves commune reports: the communes' and districts' culture and social-affairs staff.
WRITERS = (ADMIN, CULTURE_INSPECTOR, SOCIAL_WORKER)
COMMUNE = validate.Regexp(r"^\d{5}$", error="a commune code is 5 digits (GSO)")
DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")
COUNT = validate.Range(min=0, max=1_000_000, error="must be a count from 0 to 1,000,000")


def _period(value: str) -> None:
    try:
        periods.parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class ReportValues(Schema):
    activities_count = fields.Integer(validate=COUNT, metadata={
        "description": "Prevention-communication activities held (hoạt động truyền thông)."})
    audience = fields.Integer(validate=COUNT, metadata={"description": "People reached by those activities."})
    media_items = fields.Integer(validate=COUNT, metadata={"description": "Media items published (tin, bài)."})
    establishments_counted = fields.Integer(allow_none=True, validate=COUNT, metadata={
        "description": "Conditional-business establishments the commune counted operating on its territory."})
    registered_healthy = fields.Boolean(metadata={"description": "Registered to become a healthy commune."})
    recognised_healthy = fields.Boolean(metadata={"description": "Recognised as healthy, without prostitution."})
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))


class ReportInput(ReportValues):
    commune_code = fields.String(required=True, validate=COMMUNE, metadata={"example": "03646"})
    period = fields.String(required=True, validate=_period, metadata={"example": "2020Q1",
                           "description": "A month (202001) or a quarter (2020Q1), DHIS2 notation."})


class UnlockInput(Schema):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class ReportStepSchema(Schema):
    action = fields.String()
    status = fields.String()
    by = fields.String()
    at = fields.DateTime()
    reason = fields.String(allow_none=True)


class ReportSchema(ReportValues):
    id = fields.String(dump_only=True)
    commune_code = fields.String()
    commune_name = fields.Method("_commune_name")
    district_code = fields.String()
    district_name = fields.Method("_district_name")
    period = fields.String()
    status = fields.String(metadata={"description": "draft, submitted, approved (locked) or unlocked"})
    locked = fields.Boolean()
    created_by = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    version = fields.Integer()
    history = fields.List(fields.Nested(ReportStepSchema))

    def _commune_name(self, obj):
        return units().communes[obj.commune_code].name

    def _district_name(self, obj):
        return units().districts[obj.district_code].name


class ReportQuery(Schema):
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    status = fields.String(validate=validate.OneOf(domain.REPORT_STATUSES))
    period = fields.String(validate=_period, metadata={"description": "Reports within this period (2020, 2020S1...)."})
    sort = sort_field(*SORTABLE, default="period")
