"""Request and response schemas of /support/v1/cases."""
from __future__ import annotations

from marshmallow import fields, validate

from chassis.api import Schema, sort_field
from contracts.events.support import OUTCOMES, SERVICE_TYPES
from services.support import domain
from services.support.handlers import now
from services.support.views import CASE_SORTABLE

DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")
TEXT = validate.Length(1, 300)


class CaseInput(Schema):
    person_id = fields.UUID(required=True, metadata={"description": "The person must have consented."})
    opened_on = fields.Date(metadata={"description": "Default: today."})


class GoalSchema(Schema):
    description = fields.String(required=True, validate=validate.Length(1, 1000))
    target_on = fields.Date(load_default=None, allow_none=True)
    achieved_on = fields.Date(load_default=None, allow_none=True)


class AssessmentPatch(Schema):
    """Needs assessment and case plan (PATCH with If-Match); goals replace the plan's goals."""

    needs = fields.List(fields.String(validate=validate.OneOf(domain.NEEDS)))
    assessment_notes = fields.String(allow_none=True, validate=validate.Length(max=4000))
    assessed_on = fields.Date()
    goals = fields.List(fields.Nested(GoalSchema))


class ServiceInput(Schema):
    service_type = fields.String(required=True, validate=validate.OneOf(SERVICE_TYPES))
    delivered_on = fields.Date(required=True)
    provider = fields.String(load_default=None, validate=TEXT, metadata={"description": "Organisation that delivered it."})
    health_kind = fields.String(load_default=None, validate=validate.OneOf(domain.HEALTH_KINDS), metadata={
        "description": "health_care: HIV/STI testing or treatment, harm reduction, general."})
    course = fields.String(load_default=None, validate=TEXT, metadata={"description": "vocational_training"})
    employer = fields.String(load_default=None, validate=TEXT, metadata={"description": "job_placement"})
    started_on = fields.Date(load_default=None, metadata={"description": "training or job start"})
    completed_on = fields.Date(load_default=None, metadata={"description": "training completion"})
    amount_vnd = fields.Integer(load_default=None, validate=validate.Range(0, 10_000_000_000),
                                metadata={"description": "loans, livelihood support"})
    notes = fields.String(load_default=None, validate=validate.Length(max=4000))


class ServiceSchema(ServiceInput):
    id = fields.String(dump_only=True)
    completed = fields.Boolean(dump_only=True)
    recorded_by = fields.String(dump_only=True)
    recorded_at = fields.DateTime(dump_only=True)


class CompletionInput(Schema):
    completed_on = fields.Date(required=True)


class TaskInput(Schema):
    title = fields.String(required=True, validate=TEXT, metadata={"example": "Thăm hỏi sau 3 tháng học nghề"})
    due_on = fields.Date(required=True)


class TaskDoneInput(Schema):
    done_on = fields.Date(load_default=None, metadata={"description": "Default: today."})


class TaskSchema(TaskInput):
    id = fields.String(dump_only=True)
    support_case_id = fields.String(dump_only=True)
    district_code = fields.String(dump_only=True)
    created_by = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    done_on = fields.Date(dump_only=True, allow_none=True)
    done_by = fields.String(dump_only=True, allow_none=True)
    overdue = fields.Method("_overdue", dump_only=True)

    def _overdue(self, obj):
        return obj.is_overdue(domain.local_date(now()))


class ClosureInput(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    closed_on = fields.Date(metadata={"description": "Default: today."})
    note = fields.String(load_default=None, validate=validate.Length(max=4000))


class CaseSchema(Schema):
    id = fields.String()
    person_id = fields.String()
    district_code = fields.String()
    status = fields.String()
    opened_on = fields.Date()
    opened_by = fields.String()
    needs = fields.List(fields.String())
    assessment_notes = fields.String(allow_none=True)
    assessed_on = fields.Date(allow_none=True)
    goals = fields.List(fields.Nested(GoalSchema))
    services = fields.List(fields.Nested(ServiceSchema))
    tasks = fields.List(fields.Nested(TaskSchema))
    closed_on = fields.Date(allow_none=True)
    outcome = fields.String(allow_none=True)
    closure_note = fields.String(allow_none=True)
    closed_by = fields.String(allow_none=True)
    updated_at = fields.DateTime()
    version = fields.Integer()


class WrittenServiceSchema(ServiceSchema):
    class Meta(Schema.Meta):
        exclude = ("notes",)


class WrittenTaskSchema(TaskSchema):
    class Meta(Schema.Meta):
        exclude = ("title",)


class WrittenCaseSchema(CaseSchema):
    """What a POST answers: the case without the free text (notes, goals, task titles). The chassis keeps
    a POST's answer, in clear, for its retries (Idempotency-Key), and free text may name someone.
    GET shows everything."""

    class Meta(Schema.Meta):
        exclude = ("assessment_notes", "closure_note", "goals")

    services = fields.List(fields.Nested(WrittenServiceSchema))
    tasks = fields.List(fields.Nested(WrittenTaskSchema))


class CaseQuery(Schema):
    status = fields.String(validate=validate.OneOf((domain.OPEN, domain.CLOSED)))
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    district_code = fields.String(validate=DISTRICT)
    person_id = fields.UUID()
    sort = sort_field(*CASE_SORTABLE, default="-opened_on")
