"""Query schema of /support/v1/tasks (the task schema is the one of the cases resource)."""
from __future__ import annotations

from marshmallow import fields, validate

from chassis.api import Schema, sort_field
from services.support.views import TASK_SORTABLE

DISTRICT = validate.Regexp(r"^\d{3}$", error="a district code is 3 digits (GSO)")


class TaskQuery(Schema):
    status = fields.String(load_default="due", validate=validate.OneOf(("due", "overdue", "open", "done")), metadata={
        "description": "due (default): open and due within 14 days, or overdue; overdue: past due; open; done"})
    district_code = fields.String(validate=DISTRICT)
    support_case_id = fields.UUID()
    sort = sort_field(*TASK_SORTABLE, default="due_on")
