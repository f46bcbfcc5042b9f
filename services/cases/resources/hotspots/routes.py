"""/cases/v1/hotspots: thin views that hand each request to a business action."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import current_principal, roles_required
from chassis.web import container
from services.cases import handlers, views
from services.cases.resources.hotspots.schemas import (
    EliminationInput, HotspotInput, HotspotQuery, HotspotSchema, RecurrenceInput,
)
from services.cases.resources.tips.schemas import ENFORCERS

blp = Blueprint("hotspots", __name__, description=(
    "Tụ điểm mại dâm — hotspots: detected (in a public place or inside an establishment), eliminated (when, how), "
    "recurred. Police and admin, in their district."))


def _created(hotspot):
    return hotspot, 201, {"Location": url_for("hotspots.Hotspot", hotspot_id=hotspot.id)}


@blp.route("/hotspots")
class Hotspots(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(HotspotQuery, location="query", as_kwargs=True)
    @blp.response(200, HotspotSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """List hotspots (filter by district, commune, status, kind, how found, establishment, detection date)"""
        items, total = container().read(views.search_hotspots, current_principal(), filters,
                                        pagination_parameters.page, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @roles_required(*ENFORCERS)
    @blp.arguments(HotspotInput)
    @blp.response(201, HotspotSchema)
    def post(self, details):
        """Record a hotspot that was detected"""
        c = container()
        return _created(handlers.detect_hotspot(c.uow(), current_principal(), details, c.config.provinces))


@blp.route("/hotspots/<uuid:hotspot_id>")
class Hotspot(MethodView):
    @roles_required(*ENFORCERS)
    @blp.etag
    @blp.response(200, HotspotSchema)
    def get(self, hotspot_id):
        """Read one hotspot with its history"""
        return container().read(views.hotspot, current_principal(), str(hotspot_id))


@blp.route("/hotspots/<uuid:hotspot_id>/elimination")
class HotspotElimination(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(EliminationInput)
    @blp.response(201, HotspotSchema)
    def post(self, elimination, hotspot_id):
        """Record that the hotspot was eliminated (triệt xóa): when and how"""
        return _created(handlers.eliminate_hotspot(container().uow(), current_principal(), str(hotspot_id),
                                                   elimination.get("on"), elimination["how"]))


@blp.route("/hotspots/<uuid:hotspot_id>/recurrence")
class HotspotRecurrence(MethodView):
    @roles_required(*ENFORCERS)
    @blp.arguments(RecurrenceInput)
    @blp.response(201, HotspotSchema)
    def post(self, recurrence, hotspot_id):
        """Record that an eliminated hotspot came back"""
        return _created(handlers.report_recurrence(container().uow(), current_principal(), str(hotspot_id),
                                                   recurrence.get("on"), recurrence.get("note")))
