"""/cases/v1/cases: thin views that hand each request to a business action."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import POLICE, current_principal, roles_required
from chassis.web import container
from services.cases import handlers, views
from services.cases.domain import local_date
from services.cases.resources.cases.schemas import (
    CaseInput, CaseQuery, CaseSchema, OverdueCaseQuery, StageInput, SuspectInput, VictimsInput,
)
from services.cases.resources.tips.schemas import ENFORCERS

blp = Blueprint("cases", __name__, description=(
    "Vụ án — criminal cases under Penal Code articles 150, 151, 327, 328 and 329, from opening through "
    "investigation, prosecution and trial (mobile or not) to the verdict. Police and admin, in their district; "
    "suspects' identities for the police role only."))


def _created(case):
    return case, 201, {"Location": url_for("cases.Case", case_id=case.id)}


def _list(filters, pagination_parameters):
    items, total = container().read(views.search_cases, current_principal(), filters,
                                    pagination_parameters.page, pagination_parameters.page_size)
    pagination_parameters.item_count = total
    return items


@blp.route("/cases")
class Cases(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(CaseQuery, location="query", as_kwargs=True)
    @blp.response(200, CaseSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List cases (filter by district, commune, stage, article, tip, establishment, hotspot, mobile trial)"""
        return _list(filters, pagination_parameters)

    @roles_required(*ENFORCERS)
    @blp.arguments(CaseInput)
    @blp.response(201, CaseSchema)
    def post(self, details):
        """Open a case (khởi tố); a criminal tip it came from becomes handled"""
        c = container()
        return _created(handlers.open_case(c.uow(), current_principal(), details, c.config.provinces))


@blp.route("/cases/overdue")
class OverdueCases(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(OverdueCaseQuery, location="query", as_kwargs=True)
    @blp.response(200, CaseSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, on=None, **filters):
        """Cases whose current stage has outlasted its statutory time limit"""
        return _list({**filters, "overdue_on": on or local_date(handlers.now())}, pagination_parameters)


@blp.route("/cases/<uuid:case_id>")
class Case(MethodView):
    @roles_required(*ENFORCERS)
    @blp.etag
    @blp.response(200, CaseSchema)
    def get(self, case_id):
        """Read one case with its stages and victims' referral ids (and, for police, suspects' identities)"""
        return container().read(views.case, current_principal(), str(case_id))


@blp.route("/cases/<uuid:case_id>/stages")
class CaseStages(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(StageInput)
    @blp.response(201, CaseSchema)
    def post(self, move, case_id):
        """Move the case to its next stage, suspend or dismiss it with a reason, or correct a recorded stage"""
        return _created(handlers.change_stage(container().uow(), current_principal(), str(case_id), move))


@blp.route("/cases/<uuid:case_id>/suspects")
class CaseSuspects(MethodView):
    @roles_required(POLICE)
    @blp.arguments(SuspectInput)
    @blp.response(201, CaseSchema)
    def post(self, identity, case_id):
        """Record a suspect's identity (police only; never published)"""
        return _created(handlers.add_suspect(container().uow(), current_principal(), str(case_id), identity))


@blp.route("/cases/<uuid:case_id>/victims")
class CaseVictims(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(VictimsInput)
    @blp.response(201, CaseSchema)
    def post(self, victims, case_id):
        """Record victims identified: each is referred to support under a random id, never a name"""
        return _created(handlers.refer_victims(container().uow(), current_principal(), str(case_id),
                                               victims["count"], victims.get("identified_on"), victims["minor"]))
