"""/support/v1/referrals: referrals in (inspections, criminal cases, walk-ins, NGOs) and their decision."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, SOCIAL_WORKER, current_principal, roles_required
from chassis.web import container
from services.support import handlers, views
from services.support.resources.referrals.schemas import (
    DecisionInput, ReferralInput, ReferralQuery, ReferralSchema, WrittenReferralSchema,
)

CASE_WORKERS = (ADMIN, SOCIAL_WORKER)

blp = Blueprint("referrals", __name__, description=(
    "Chuyển gửi — referrals to social affairs: from inspections and criminal cases (by event, random ids), "
    "walk-ins and NGOs. Accept (opens or joins a support case) or decline with a reason."))


@blp.route("/referrals")
class Referrals(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(ReferralQuery, location="query", as_kwargs=True)
    @blp.response(200, ReferralSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List referrals (filter by status, source, district)"""
        items, total = container().read(views.search_referrals, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*CASE_WORKERS)
    @blp.arguments(ReferralInput)
    @blp.response(201, WrittenReferralSchema)
    def post(self, details):
        """Record a walk-in or an NGO's referral"""
        c = container()
        referral = handlers.receive_referral(c.uow(), current_principal(), details, c.config.provinces)
        return referral, 201, {"Location": url_for("referrals.Referral", referral_id=referral.id)}


@blp.route("/referrals/<uuid:referral_id>")
class Referral(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.etag
    @blp.response(200, ReferralSchema)
    def get(self, referral_id):
        """Read one referral"""
        return container().read(views.referral, current_principal(), str(referral_id))


@blp.route("/referrals/<uuid:referral_id>/decision")
class ReferralDecision(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(DecisionInput)
    @blp.response(201, WrittenReferralSchema)
    def post(self, decision, referral_id):
        """Accept (with the person, who has consented) or decline (with a reason)"""
        if decision.get("person_id"):
            decision = {**decision, "person_id": str(decision["person_id"])}
        return handlers.decide_referral(container().uow(), current_principal(), str(referral_id), decision)
