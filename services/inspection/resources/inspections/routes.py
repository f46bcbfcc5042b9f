"""/inspection/v1/inspections: thin views that hand each request to a business action."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import current_principal, roles_required
from chassis.web import container
from services.inspection import handlers, views
from services.inspection.domain import local_date
from services.inspection.resources.inspections.schemas import (
    InspectionInput, InspectionPatch, InspectionQuery, InspectionSchema, InspectionSummarySchema, ResultInput,
    ResultReceiptSchema,
)
from services.inspection.resources.plans.schemas import WRITERS

blp = Blueprint("inspections", __name__, description=(
    "Kiểm tra cơ sở — inspections: planned → in progress → completed or cancelled; results in one call."))


def _location(inspection) -> dict:
    return {"Location": url_for("inspections.Inspection", inspection_id=inspection.id)}


@blp.route("/inspections")
class Inspections(MethodView):
    @roles_required(*WRITERS)
    @blp.arguments(InspectionQuery, location="query", as_kwargs=True)
    @blp.response(200, InspectionSummarySchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List inspections (by establishment, plan, district, commune, status, agency, inspector, dates; mine today)"""
        today = local_date(datetime.now(timezone.utc))
        items, total = container().read(views.search_inspections, current_principal(), filters, today,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*WRITERS)
    @blp.arguments(InspectionInput)
    @blp.response(201, InspectionSchema)
    def post(self, details):
        """Schedule an inspection of an establishment (422 if the registry's copy does not know it)"""
        inspection = handlers.schedule_inspection(container().uow(), current_principal(), details)
        return inspection, 201, _location(inspection)


@blp.route("/inspections/<uuid:inspection_id>")
class Inspection(MethodView):
    @roles_required(*WRITERS)
    @blp.etag
    @blp.response(200, InspectionSchema)
    def get(self, inspection_id):
        """Read one inspection, with its result (and earlier revisions when it was corrected)"""
        return container().read(views.inspection, current_principal(), str(inspection_id))

    @roles_required(*WRITERS)
    @blp.etag
    @blp.arguments(InspectionPatch)
    @blp.response(200, InspectionSchema)
    def patch(self, changes, inspection_id):
        """Reschedule, change the team or notes, start (status=in_progress) or cancel (needs If-Match)"""
        return handlers.update_inspection(
            container().uow(), current_principal(), str(inspection_id), changes,
            precondition=lambda found: blp.check_etag(found, InspectionSchema),
        )


@blp.route("/inspections/<uuid:inspection_id>/result")
class InspectionResult(MethodView):
    @roles_required(*WRITERS)
    @blp.arguments(ResultInput)
    @blp.response(201, ResultReceiptSchema)
    def post(self, draft, inspection_id):
        """Record the result in one call (send Idempotency-Key); correct it with correction_reason"""
        inspection = handlers.record_result(container().uow(), current_principal(), str(inspection_id), draft)
        return inspection, 201, _location(inspection)
