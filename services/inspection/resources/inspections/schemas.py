"""Request and response schemas of /inspection/v1/inspections and their results."""
from __future__ import annotations

from marshmallow import fields, validate

from chassis.api import Schema, sort_field
from services.inspection import domain
from services.inspection.resources.plans.schemas import COMMUNE, DISTRICT
from services.inspection.views import INSPECTION_SORTABLE



def user_ids(**kwargs) -> fields.List:
    return fields.List(fields.String(validate=validate.Length(1, 200)), validate=validate.Length(max=30), **kwargs)



class InspectionInput(Schema):
    establishment_id = fields.UUID(required=True)
    plan_id = fields.UUID(load_default=None, allow_none=True)
    kind = fields.String(validate=validate.OneOf(domain.KINDS), metadata={"description": "Default: the plan's."})
    agency = fields.String(validate=validate.OneOf(domain.AGENCIES), metadata={"description": "Default: the plan's."})
    team = user_ids(load_default=list, metadata={"description": "User ids of the team (default: the caller)."})
    scheduled_on = fields.Date(required=True)
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class InspectionPatch(Schema):
    """Only what is sent changes. status: ``in_progress`` (the team is there) or ``cancelled`` (with a reason)."""

    scheduled_on = fields.Date()
    team = user_ids()
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))
    status = fields.String(validate=validate.OneOf((domain.IN_PROGRESS, domain.CANCELLED)))
    cancel_reason = fields.String(validate=validate.Length(1, 2000))


class AnswerSchema(Schema):
    item = fields.String(required=True, validate=validate.Length(1, 20), metadata={"example": "KA-01"})
    answer = fields.String(required=True, validate=validate.OneOf(domain.ANSWERS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    compliant = fields.Boolean(dump_only=True)


class ViolationSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(1, 20), metadata={"example": "ANTT-05"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    legal_basis = fields.String(dump_only=True)


class SanctionSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(domain.SANCTIONS))
    violation_code = fields.String(required=True, validate=validate.Length(1, 20))
    amount_vnd = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0),
                                metadata={"description": "A fine's amount (fine only)."})
    days = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0),
                          metadata={"description": "A licence suspension's duration (licence_suspension only)."})


class ResultInput(Schema):
    conducted_on = fields.Date(required=True)
    checklist = fields.List(fields.Nested(AnswerSchema), load_default=list, validate=validate.Length(max=100))
    violations = fields.List(fields.Nested(ViolationSchema), load_default=list, validate=validate.Length(max=50))
    sanctions = fields.List(fields.Nested(SanctionSchema), load_default=list, validate=validate.Length(max=50))
    signs_of_prostitution = fields.Boolean(load_default=False)
    people_identified = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1000))
    people_consenting_to_referral = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1000))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    correction_reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000), metadata={
        "description": "Only to correct a recorded result: the earlier one is kept, this becomes the next revision."})


class ResultSchema(Schema):
    revision = fields.Integer()
    conducted_on = fields.Date()
    passed = fields.Boolean()
    checklist = fields.List(fields.Nested(AnswerSchema))
    violations = fields.List(fields.Nested(ViolationSchema))
    sanctions = fields.List(fields.Nested(SanctionSchema))
    fines_total_vnd = fields.Integer()
    signs_of_prostitution = fields.Boolean()
    people_identified = fields.Integer()
    people_consenting_to_referral = fields.Integer()
    risk_level = fields.String()
    notes = fields.String(allow_none=True)
    correction_reason = fields.String(allow_none=True)
    police_referral_id = fields.String(allow_none=True)
    support_referral_batch_id = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = fields.DateTime()


class ResultReceiptSchema(Schema):
    """What a submitted result answers: small, for a phone on a weak connection."""

    inspection_id = fields.String(attribute="id")
    status = fields.String()
    revision = fields.Integer(attribute="result.revision")
    passed = fields.Boolean(attribute="result.passed")
    risk_level = fields.String(attribute="result.risk_level")
    fines_total_vnd = fields.Integer(attribute="result.fines_total_vnd")
    reinspection_id = fields.String(allow_none=True)
    police_referral_id = fields.String(attribute="result.police_referral_id", allow_none=True)
    support_referral_batch_id = fields.String(attribute="result.support_referral_batch_id", allow_none=True)
    version = fields.Integer()


class InspectionSummarySchema(Schema):
    """A line of the list: what an inspector needs to pick the day's visits."""

    id = fields.String()
    establishment_id = fields.String()
    establishment_name = fields.String()
    business_type = fields.String()
    commune_code = fields.String()
    scheduled_on = fields.Date()
    status = fields.String()
    kind = fields.String()
    agency = fields.String()
    plan_id = fields.String(allow_none=True)
    passed = fields.Boolean(attribute="result.passed", allow_none=True)


class InspectionSchema(InspectionSummarySchema):
    district_code = fields.String()
    team = fields.List(fields.String())
    notes = fields.String(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    reinspection_of = fields.String(allow_none=True)
    reinspection_id = fields.String(allow_none=True)
    result = fields.Nested(ResultSchema, allow_none=True)
    corrected_results = fields.List(fields.Nested(ResultSchema), metadata={
        "description": "Earlier revisions of the result, as recorded, when it was corrected."})
    created_by = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    version = fields.Integer()


class InspectionQuery(Schema):
    establishment_id = fields.UUID()
    plan_id = fields.UUID()
    district_code = fields.String(validate=DISTRICT)
    commune_code = fields.String(validate=COMMUNE)
    status = fields.String(validate=validate.OneOf(domain.STATUSES))
    agency = fields.String(validate=validate.OneOf(domain.AGENCIES))
    kind = fields.String(validate=validate.OneOf(domain.KINDS))
    inspector = fields.String(validate=validate.Length(1, 200), metadata={"description": "A team member's user id."})
    mine = fields.Boolean(load_default=False, metadata={"description": "Only inspections whose team includes me."})
    today = fields.Boolean(load_default=False, metadata={
        "description": "Only inspections scheduled today (Vietnam time). mine=true&today=true: my inspections today."})
    scheduled_from = fields.Date(metadata={"description": "Scheduled on or after this day."})
    scheduled_to = fields.Date(metadata={"description": "Scheduled on or before this day."})
    sort = sort_field(*INSPECTION_SORTABLE, default="scheduled_on")
