"""/registry/v1/establishments: thin views that hand each request to a business action."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import current_principal, roles_required
from chassis.web import container
from services.registry import handlers, views
from services.registry.resources.establishments.schemas import (
    EstablishmentInput, EstablishmentPatch, EstablishmentQuery, EstablishmentSchema, WRITERS,
    ReviewSchema, StatusChangeInput,
)

blp = Blueprint("establishments", __name__, description=(
    "Cơ sở kinh doanh dịch vụ có điều kiện — the register of conditional-business establishments "
    "(karaoke, dance halls, massage, saunas, accommodation, bars...)."))


def _created(establishment):
    return establishment, 201, {"Location": url_for("establishments.Establishment", establishment_id=establishment.id)}


@blp.route("/establishments")
class Establishments(MethodView):
    @roles_required()
    @blp.arguments(EstablishmentQuery, location="query", as_kwargs=True)
    @blp.response(200, EstablishmentSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List and search establishments (filter by district, commune, type, status, risk, due for review)"""
        items, total = container().read(views.search, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*WRITERS)
    @blp.arguments(EstablishmentInput)
    @blp.response(201, EstablishmentSchema)
    def post(self, details):
        """Register an establishment"""
        c = container()
        return _created(handlers.register_establishment(c.uow(), current_principal(), details, c.config.provinces))


@blp.route("/establishments/<uuid:establishment_id>")
class Establishment(MethodView):
    @roles_required()
    @blp.etag
    @blp.response(200, EstablishmentSchema)
    def get(self, establishment_id):
        """Read one establishment, with its status history and reviews"""
        return container().read(views.establishment, current_principal(), str(establishment_id))

    @roles_required(*WRITERS)
    @blp.etag
    @blp.arguments(EstablishmentPatch(partial=True))
    @blp.response(200, EstablishmentSchema)
    def patch(self, changes, establishment_id):
        """Change registered details (needs If-Match with the ETag of the last read)"""
        c = container()
        return handlers.update_establishment(
            c.uow(), current_principal(), str(establishment_id), changes, c.config.provinces,
            precondition=lambda found: blp.check_etag(found, EstablishmentSchema),
        )


@blp.route("/establishments/<uuid:establishment_id>/status")
class EstablishmentStatus(MethodView):
    @roles_required(*WRITERS)
    @blp.arguments(StatusChangeInput)
    @blp.response(201, EstablishmentSchema)
    def post(self, change, establishment_id):
        """Suspend, revoke, close or re-activate an establishment, with the reason"""
        return _created(handlers.change_status(
            container().uow(), current_principal(), str(establishment_id),
            change["status"], change["reason"], change.get("effective_on"),
        ))


@blp.route("/establishments/<uuid:establishment_id>/reviews")
class EstablishmentReviews(MethodView):
    @roles_required(*WRITERS)
    @blp.arguments(ReviewSchema)
    @blp.response(201, EstablishmentSchema)
    def post(self, review, establishment_id):
        """Record the periodic (half-year or year) review of an establishment"""
        return _created(handlers.record_review(container().uow(), current_principal(), str(establishment_id), review))
