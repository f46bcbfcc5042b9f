"""/reporting/v1/plans: the plan's indicators and targets, as data (a new year's or another
province's plan is a new document, not new code)."""
from __future__ import annotations

from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, current_principal, roles_required
from chassis.web import container
from services.reporting import handlers, views
from services.reporting.domain import NotFound
from services.reporting.resources.plans.schemas import PlanQuery, PlanSchema

blp = Blueprint("plans", __name__, description=(
    "Kế hoạch và chỉ tiêu — the plan (33/KH-UBND 2020 for Sơn La) and its targets, editable as data."))


@blp.route("/plans")
class Plans(MethodView):
    @roles_required()
    @blp.arguments(PlanQuery, location="query", as_kwargs=True)
    @blp.response(200, PlanSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, province_code=None, year=None):
        """List the plans (filter by province and year)"""
        found = [p for p in container().read(views.plan_list)
                 if (province_code is None or p["province_code"] == province_code)
                 and (year is None or p["year"] == year)]
        pagination_parameters.item_count = len(found)
        start = (pagination_parameters.page - 1) * pagination_parameters.page_size
        return found[start:start + pagination_parameters.page_size]


@blp.route("/plans/<string:plan_id>")
class Plan(MethodView):
    @roles_required()
    @blp.etag
    @blp.response(200, PlanSchema)
    def get(self, plan_id):
        """Read a plan with its indicators and targets"""
        return container().read(views.plan, plan_id)

    @roles_required(ADMIN)
    @blp.etag
    @blp.arguments(PlanSchema)
    @blp.response(200, PlanSchema)
    def put(self, document, plan_id):
        """Replace a plan's targets (needs If-Match with the ETag of the last read)"""
        c = container()
        with c.session_factory() as session:
            try:
                current = views.plan(session, plan_id)
            except NotFound:  # a new year's or another province's plan
                current = None
        if current is not None:
            blp.check_etag(current, PlanSchema)
        return handlers.put_plan(c.uow(), current_principal(), plan_id, document,
                                 current["version"] if current else 0)
