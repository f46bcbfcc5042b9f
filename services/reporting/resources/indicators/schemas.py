"""Schemas of /reporting/v1/indicators, org units, support tables and exports."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from chassis.api import Schema
from contracts import periods
from services.reporting.views import BREAKDOWNS, SUPPORT_MEASURES

ORG_UNIT = validate.Regexp(r"^(\d{2}|\d{3}|\d{5})$", error="a GSO code: province (2 digits), district (3), commune (5)")


def _period(value: str) -> None:
    try:
        periods.parse(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _report_period(value: str) -> None:
    _period(value)
    if periods.parse(value).kind not in ("half_year", "year"):
        raise ValidationError("the official report is half-yearly (2020S1) or yearly (2020)")


class IndicatorQuery(Schema):
    org_unit = fields.String(validate=ORG_UNIT, metadata={
        "example": "14", "description": "Province, district or commune (default: yours, or the province)."})
    period = fields.String(required=True, validate=_period, metadata={
        "example": "2020S1", "description": "2020, 2020S1, 2020Q1 or 202001 (DHIS2 notation)."})


class OfficialReportQuery(Schema):
    org_unit = fields.String(validate=ORG_UNIT, metadata={"example": "14"})


class TrendQuery(Schema):
    org_unit = fields.String(validate=ORG_UNIT)
    year = fields.Integer(required=True, validate=validate.Range(2000, 2100), metadata={"example": 2020})


class SupportQuery(IndicatorQuery):
    measure = fields.String(load_default="people_supported", validate=validate.OneOf(SUPPORT_MEASURES))
    by = fields.String(load_default="sex", validate=validate.OneOf(tuple(BREAKDOWNS)))


class OrgUnitQuery(Schema):
    parent = fields.String(validate=ORG_UNIT, metadata={"description": "Children of this unit (default: yours)."})


class OrgUnitSchema(Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    district_code = fields.String(allow_none=True)
    province_code = fields.String()


class IndicatorSchema(Schema):
    id = fields.String()
    section = fields.String(allow_none=True)
    name_vi = fields.String()
    name_en = fields.String()
    kind = fields.String(metadata={"description": "ratio (value in %) or count"})
    numerator = fields.Integer(allow_none=True)
    denominator = fields.Integer(allow_none=True)
    value = fields.Float(allow_none=True)
    shown = fields.String(allow_none=True, metadata={"description": "The value as published: \"<5\" for 1–4, "
                                                     "\"x\" for a cell hidden to protect another."})
    target = fields.Float(allow_none=True)
    target_count = fields.Integer()
    status = fields.String(allow_none=True, metadata={"description": "met, at_risk or missed"})
    suppressed = fields.Boolean()


class PeriodSchema(Schema):
    code = fields.String()
    kind = fields.String()
    start = fields.Date()
    end = fields.Date()
    over = fields.Boolean()


class ChildSchema(Schema):
    org_unit = fields.Nested(OrgUnitSchema)
    indicators = fields.List(fields.Nested(IndicatorSchema))


class PlanRefSchema(Schema):
    id = fields.String(allow_none=True)
    title_vi = fields.String(allow_none=True)
    title_en = fields.String(allow_none=True)


class IndicatorTableSchema(Schema):
    org_unit = fields.Nested(OrgUnitSchema)
    period = fields.Nested(PeriodSchema)
    plan = fields.Nested(PlanRefSchema)
    indicators = fields.List(fields.Nested(IndicatorSchema))
    children = fields.List(fields.Nested(ChildSchema))


class SupportRowSchema(Schema):
    district_code = fields.String()
    district_name = fields.String()
    cells = fields.Dict(keys=fields.String(), values=fields.String())
    total = fields.String()


class SupportTableSchema(Schema):
    measure = fields.String()
    by = fields.String()
    period = fields.String()
    columns = fields.List(fields.String())
    rows = fields.List(fields.Nested(SupportRowSchema))
    totals = fields.Dict(keys=fields.String(), values=fields.String())
    total = fields.String()


class TrendSchema(Schema):
    org_unit = fields.Nested(OrgUnitSchema)
    year = fields.Integer()
    months = fields.List(fields.Dict())
