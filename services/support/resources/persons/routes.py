"""/support/v1/persons: supported people. Lists and creations never show an identity; reading one
(GET or PATCH of a single person) is audited. Social workers (their district) and admins only."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, SOCIAL_WORKER, current_principal, roles_required
from chassis.web import container
from services.support import handlers, views
from services.support.resources.persons.schemas import (
    ConsentInput, MergeDecisionInput, PersonInput, PersonPatch, PersonQuery, PersonSchema, PersonSummarySchema,
    ReasonQuery, WithdrawalInput,
)

CASE_WORKERS = (ADMIN, SOCIAL_WORKER)

blp = Blueprint("persons", __name__, description=(
    "Người được hỗ trợ — supported people. Identity is encrypted at rest, shown only to social workers of "
    "the person's district and admins, and every read is audited."))


def _etag(person) -> dict:
    return {"id": person.id, "version": person.version}


@blp.route("/persons")
class Persons(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(PersonQuery, location="query", as_kwargs=True)
    @blp.response(200, PersonSummarySchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List people (pseudonymous: no identity), by district, status, consent"""
        items, total = container().read(views.search_persons, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*CASE_WORKERS)
    @blp.arguments(PersonInput)
    @blp.response(201, PersonSummarySchema)
    def post(self, details):
        """Record a first contact; the answer proposes merges with people who may be the same (no identity shown)"""
        c = container()
        person = handlers.register_person(c.uow(), current_principal(), details, c.config.provinces)
        return person, 201, {"Location": url_for("persons.Person", person_id=person.id)}


@blp.route("/persons/<uuid:person_id>")
class Person(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.etag
    @blp.arguments(ReasonQuery, location="query", as_kwargs=True)
    @blp.response(200, PersonSchema)
    def get(self, person_id, reason=None):
        """Read a person with their identity (audited; outside your district only with a reason, flagged)"""
        person, identity, break_glass = handlers.read_identity(container().uow(), current_principal(),
                                                               str(person_id), reason)
        blp.set_etag(_etag(person))
        return views.PersonView(person, identity, break_glass)

    @roles_required(*CASE_WORKERS)
    @blp.etag
    @blp.arguments(PersonPatch(partial=True))
    @blp.arguments(ReasonQuery, location="query", as_kwargs=True)
    @blp.response(200, PersonSchema)
    def patch(self, changes, person_id, reason=None):
        """Correct a person's identity or sex (needs If-Match; audited)"""
        c = container()
        person, identity = handlers.update_person(
            c.uow(), current_principal(), str(person_id), changes, reason, c.config.provinces,
            precondition=lambda found: blp.check_etag(_etag(found)))
        blp.set_etag(_etag(person))
        return views.PersonView(person, identity)


@blp.route("/persons/<uuid:person_id>/consents")
class Consents(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(ConsentInput)
    @blp.response(201, PersonSummarySchema)
    def post(self, consent, person_id):
        """Record the person's consent: date, services, who may be told (replaces an earlier one)"""
        return handlers.record_consent(container().uow(), current_principal(), str(person_id), consent)


@blp.route("/persons/<uuid:person_id>/consents/withdrawal")
class ConsentWithdrawal(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(WithdrawalInput)
    @blp.response(201, PersonSummarySchema)
    def post(self, withdrawal, person_id):
        """Withdraw consent: nothing more is recorded or published (the case may still be closed)"""
        return handlers.withdraw_consent(container().uow(), current_principal(), str(person_id),
                                         withdrawal.get("withdrawn_on"))


@blp.route("/persons/<uuid:person_id>/merge")
class Merge(MethodView):
    @roles_required(*CASE_WORKERS)
    @blp.arguments(MergeDecisionInput)
    @blp.response(201, PersonSummarySchema)
    def post(self, decision, person_id):
        """Confirm or reject a proposed duplicate; a confirmed merge moves the cases to the other record"""
        return handlers.decide_merge(container().uow(), current_principal(), str(person_id),
                                     str(decision["proposal_id"]), decision["confirm"])
