"""/cases/v1/tips and /cases/v1/referrals: thin views that hand each request to a business action."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import CULTURE_INSPECTOR, current_principal, roles_required
from chassis.web import container
from services.cases import handlers, views
from services.cases.domain import local_date
from services.cases.resources.tips.schemas import (
    ENFORCERS, ClassificationInput, HandlingInput, OverdueTipQuery, ReferralStatusSchema, TipInput, TipQuery,
    TipSchema, VerificationInput,
)

blp = Blueprint("tips", __name__, description=(
    "Tin báo, tố giác về tội phạm — tips: received, verified, classified (criminal, administrative, unfounded) "
    "and handled within the statutory deadline. Police and admin, in their district."))


def _created(tip):
    return tip, 201, {"Location": url_for("tips.Tip", tip_id=tip.id)}


def _list(filters, pagination_parameters):
    items, total = container().read(views.search_tips, current_principal(), filters,
                                    pagination_parameters.page, pagination_parameters.page_size)
    pagination_parameters.item_count = total
    return items


@blp.route("/tips")
class Tips(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(TipQuery, location="query", as_kwargs=True)
    @blp.response(200, TipSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List tips (filter by district, commune, source, status, classification, establishment, inspection)"""
        return _list(filters, pagination_parameters)

    @roles_required(*ENFORCERS)
    @blp.arguments(TipInput)
    @blp.response(201, TipSchema)
    def post(self, details):
        """Receive a tip; its verification deadline follows from the configured time limit"""
        c = container()
        return _created(handlers.receive_tip(c.uow(), current_principal(), details, c.config.provinces))


@blp.route("/tips/overdue")
class OverdueTips(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(OverdueTipQuery, location="query", as_kwargs=True)
    @blp.response(200, TipSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, on=None, **filters):
        """Tips still received or verifying after their verification deadline"""
        return _list({**filters, "overdue_on": on or local_date(handlers.now())}, pagination_parameters)


@blp.route("/tips/<uuid:tip_id>")
class Tip(MethodView):
    @roles_required(*ENFORCERS)
    @blp.etag
    @blp.response(200, TipSchema)
    def get(self, tip_id):
        """Read one tip"""
        return container().read(views.tip, current_principal(), str(tip_id))


@blp.route("/tips/<uuid:tip_id>/verification")
class TipVerification(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(VerificationInput)
    @blp.response(201, TipSchema)
    def post(self, verification, tip_id):
        """Start verifying a received tip"""
        return _created(handlers.start_verification(container().uow(), current_principal(), str(tip_id),
                                                    verification.get("started_at")))


@blp.route("/tips/<uuid:tip_id>/classification")
class TipClassification(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(ClassificationInput)
    @blp.response(201, TipSchema)
    def post(self, classification, tip_id):
        """Classify a tip as criminal, administrative or unfounded"""
        return _created(handlers.classify_tip(container().uow(), current_principal(), str(tip_id),
                                              classification["classification"], classification.get("note"),
                                              classification.get("classified_at")))


@blp.route("/tips/<uuid:tip_id>/handling")
class TipHandling(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(HandlingInput)
    @blp.response(201, TipSchema)
    def post(self, handling, tip_id):
        """Record that a classified tip was handled (a criminal tip: by the case opened from it)"""
        return _created(handlers.handle_tip(container().uow(), current_principal(), str(tip_id), handling.get("note"),
                                            handling.get("handled_at"), handling.get("case_id")))


@blp.route("/referrals/<uuid:referral_id>")
class Referral(MethodView):
    @roles_required(*ENFORCERS, CULTURE_INSPECTOR)
    @blp.response(200, ReferralStatusSchema)
    def get(self, referral_id):
        """Whether the tip an inspection's police referral became was handled (all a culture inspector sees here)"""
        return container().read(views.referral_status, current_principal(), str(referral_id))
