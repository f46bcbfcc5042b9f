"""/inspection/v1/plans: inspection plans (campaigns) and their risk-ranked visit lists."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import current_principal, roles_required
from chassis.web import container
from services.inspection import handlers, views
from services.inspection.domain import local_date
from services.inspection.resources.plans.schemas import (
    WRITERS, PlanInput, PlanQuery, PlanSchema, VisitQuery, VisitSchema,
)

blp = Blueprint("plans", __name__, description=(
    "Kế hoạch kiểm tra — inspection plans (specialised or inter-agency) and their visit lists ranked by risk."))


@blp.route("/plans")
class Plans(MethodView):
    @roles_required(*WRITERS)
    @blp.arguments(PlanQuery, location="query", as_kwargs=True)
    @blp.response(200, PlanSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List plans (filter by kind, agency, scope, district, period)"""
        items, total = container().read(views.search_plans, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*WRITERS)
    @blp.arguments(PlanInput)
    @blp.response(201, PlanSchema)
    def post(self, details):
        """Create a plan over the province, a district or some communes, for a period"""
        c = container()
        plan = handlers.create_plan(c.uow(), current_principal(), details, c.config.provinces)
        return plan, 201, {"Location": url_for("plans.Plan", plan_id=plan.id)}


@blp.route("/plans/<uuid:plan_id>")
class Plan(MethodView):
    @roles_required(*WRITERS)
    @blp.etag
    @blp.response(200, PlanSchema)
    def get(self, plan_id):
        """Read one plan"""
        return container().read(views.plan, current_principal(), str(plan_id))


@blp.route("/plans/<uuid:plan_id>/visits")
class Visits(MethodView):
    @roles_required(*WRITERS)
    @blp.etag
    @blp.arguments(VisitQuery, location="query", as_kwargs=True)
    @blp.response(200, VisitSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, plan_id, **filters):
        """The plan's visit list: establishments in its scope, highest risk score first (see the README)"""
        today = local_date(datetime.now(timezone.utc))
        principal = current_principal()

        def visit_list(session):
            plan = views.plan(session, principal, str(plan_id))
            return views.visits(session, principal, plan, filters, today,
                                pagination_parameters.page, pagination_parameters.page_size)

        items, total = container().read(visit_list)
        pagination_parameters.item_count = total
        return items
