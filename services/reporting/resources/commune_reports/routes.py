"""/reporting/v1/commune-reports: what each commune reports, and its submit → approve (lock) → unlock workflow."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, current_principal, roles_required
from chassis.web import container
from services.reporting import handlers, views
from services.reporting.resources.commune_reports.schemas import (
    WRITERS, ReportInput, ReportQuery, ReportSchema, ReportValues, UnlockInput,
)

blp = Blueprint("commune_reports", __name__, description=(
    "Báo cáo của xã, phường, thị trấn — commune reports: communication activities, media items, establishments "
    "counted, healthy-commune registration and recognition. A commune submits, its district approves (the report "
    "locks), the province unlocks with a reason."))


def _located(report, status=200):
    return report, status, {"Location": url_for("commune_reports.CommuneReport", report_id=report.id)}


@blp.route("/commune-reports")
class CommuneReports(MethodView):
    @roles_required()
    @blp.arguments(ReportQuery, location="query", as_kwargs=True)
    @blp.response(200, ReportSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List commune reports (filter by district, commune, status, period)"""
        items, total = container().read(views.reports, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*WRITERS)
    @blp.arguments(ReportInput)
    @blp.response(201, ReportSchema)
    def post(self, values):
        """Start a commune's report for a month or a quarter (a draft)"""
        c = container()
        return _located(handlers.create_report(c.uow(), current_principal(), values, c.config.provinces), 201)


@blp.route("/commune-reports/<uuid:report_id>")
class CommuneReport(MethodView):
    @roles_required()
    @blp.etag
    @blp.response(200, ReportSchema)
    def get(self, report_id):
        """Read one report with its history"""
        return container().read(views.report, current_principal(), str(report_id))

    @roles_required(*WRITERS)
    @blp.etag
    @blp.arguments(ReportValues(partial=True))
    @blp.response(200, ReportSchema)
    def patch(self, values, report_id):
        """Correct a draft or unlocked report (needs If-Match)"""
        return handlers.update_report(container().uow(), current_principal(), str(report_id), values,
                                      precondition=lambda found: blp.check_etag(found, ReportSchema))


@blp.route("/commune-reports/<uuid:report_id>/submit")
class SubmitReport(MethodView):
    @roles_required(*WRITERS)
    @blp.response(200, ReportSchema)
    def post(self, report_id):
        """The commune submits its report to the district"""
        return _located(handlers.submit_report(container().uow(), current_principal(), str(report_id)))


@blp.route("/commune-reports/<uuid:report_id>/approve")
class ApproveReport(MethodView):
    @roles_required(*WRITERS)
    @blp.response(200, ReportSchema)
    def post(self, report_id):
        """The district approves a submitted report (not the person who submitted it); the report locks"""
        return _located(handlers.approve_report(container().uow(), current_principal(), str(report_id)))


@blp.route("/commune-reports/<uuid:report_id>/unlock")
class UnlockReport(MethodView):
    @roles_required(ADMIN)
    @blp.arguments(UnlockInput)
    @blp.response(200, ReportSchema)
    def post(self, body, report_id):
        """The province (the level above the district) unlocks an approved report for a correction, with a reason"""
        return _located(handlers.unlock_report(container().uow(), current_principal(), str(report_id),
                                               body["reason"]))
