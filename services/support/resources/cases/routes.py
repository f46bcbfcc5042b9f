"""/support/v1/cases: support cases, their assessment and plan, services, follow-up tasks and closure."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, SOCIAL_WORKER, current_principal, roles_required
from chassis.web import container
from services.support import handlers, views
from services.support.resources.cases.schemas import (
    AssessmentPatch, CaseInput, CaseQuery, CaseSchema, ClosureInput, CompletionInput, ServiceInput, TaskDoneInput,
    TaskInput, WrittenCaseSchema,
)

CASE_WORKERS = (ADMIN, SOCIAL_WORKER)

blp = Blueprint("cases", __name__, description=(
    "Hồ sơ hỗ trợ — support cases: needs assessment, case plan, services delivered (legal aid, health care, "
    "vocational training, jobs, livelihood, follow-ups), follow-up tasks, closure with an outcome."))


def _created(case):
    return case, 201, {"Location": url_for("cases.Case", case_id=case.id)}


@blp.route("/cases")
class Cases(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(CaseQuery, location="query", as_kwargs=True)
    @blp.response(200, CaseSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List support cases (filter by status, outcome, district, person)"""
        items, total = container().read(views.search_cases, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*CASE_WORKERS)
    @blp.arguments(CaseInput)
    @blp.response(201, WrittenCaseSchema)
    def post(self, details):
        """Open a support case for a person who has consented"""
        return _created(handlers.open_case(container().uow(), current_principal(), str(details["person_id"]),
                                           details.get("opened_on")))


@blp.route("/cases/<uuid:case_id>")
class Case(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.etag
    @blp.response(200, CaseSchema)
    def get(self, case_id):
        """Read one support case with its plan, services and tasks"""
        return container().read(views.support_case, current_principal(), str(case_id))

    @roles_required(*CASE_WORKERS)
    @blp.etag
    @blp.arguments(AssessmentPatch)
    @blp.response(200, CaseSchema)
    def patch(self, changes, case_id):
        """Record the needs assessment and the case plan's goals (needs If-Match)"""
        return handlers.assess_case(container().uow(), current_principal(), str(case_id), changes,
                                    precondition=lambda found: blp.check_etag(found, CaseSchema))


@blp.route("/cases/<uuid:case_id>/services")
class Services(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(ServiceInput)
    @blp.response(201, WrittenCaseSchema)
    def post(self, details, case_id):
        """Record a service delivered (within the person's consent)"""
        return _created(handlers.deliver_service(container().uow(), current_principal(), str(case_id), details))


@blp.route("/cases/<uuid:case_id>/services/<uuid:service_id>/completion")
class ServiceCompletion(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(CompletionInput)
    @blp.response(201, WrittenCaseSchema)
    def post(self, completion, case_id, service_id):
        """Record the completion of a service (a training course)"""
        return _created(handlers.complete_service(container().uow(), current_principal(), str(case_id),
                                                  str(service_id), completion["completed_on"]))


@blp.route("/cases/<uuid:case_id>/tasks")
class Tasks(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(TaskInput)
    @blp.response(201, WrittenCaseSchema)
    def post(self, task, case_id):
        """Add a follow-up task with its due date"""
        return _created(handlers.add_task(container().uow(), current_principal(), str(case_id), task["title"],
                                          task["due_on"]))


@blp.route("/cases/<uuid:case_id>/tasks/<uuid:task_id>/completion")
class TaskCompletion(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(TaskDoneInput)
    @blp.response(201, WrittenCaseSchema)
    def post(self, done, case_id, task_id):
        """Mark a follow-up task done"""
        return _created(handlers.finish_task(container().uow(), current_principal(), str(case_id), str(task_id),
                                             done.get("done_on")))


@blp.route("/cases/<uuid:case_id>/closure")
class Closure(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(ClosureInput)
    @blp.response(201, WrittenCaseSchema)
    def post(self, closure, case_id):
        """Close the case with its outcome (reintegrated, moved away, declined further support, returned to sex work)"""
        return _created(handlers.close_case(container().uow(), current_principal(), str(case_id), closure))
