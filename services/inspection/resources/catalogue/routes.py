"""/inspection/v1/checklists and /inspection/v1/violation-codes: the reference data, kept as data files.

They change with the law, not with each request: answers carry an ETag (a phone sends If-None-Match
and gets a bodiless 304) and may be cached for an hour."""
from __future__ import annotations

from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import roles_required
from contracts.text import fold
from services.inspection import domain
from services.inspection.resources.catalogue.schemas import (
    BUSINESS_TYPES, ChecklistQuery, ChecklistSchema, ViolationCodeQuery, ViolationCodeSchema,
)

blp = Blueprint("catalogue", __name__, description=(
    "Danh mục — checklists per business type and the catalogue of violations with their legal basis "
    "(Nghị định 167/2013/NĐ-CP, 144/2021/NĐ-CP)."))
CACHE = {"Cache-Control": "private, max-age=3600"}


def _page(items: list, pagination_parameters) -> list:
    pagination_parameters.item_count = len(items)
    start = (pagination_parameters.page - 1) * pagination_parameters.page_size
    return items[start:start + pagination_parameters.page_size]


@blp.route("/checklists")
class Checklists(MethodView):
    @roles_required()
    @blp.etag
    @blp.arguments(ChecklistQuery, location="query", as_kwargs=True)
    @blp.response(200, ChecklistSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, business_type=None):
        """The checklist of each business type (common questions first)"""
        types = [business_type] if business_type else list(BUSINESS_TYPES)
        items = [{"business_type": t, "items": domain.checklist(t)} for t in types]
        return _page(items, pagination_parameters), CACHE


@blp.route("/violation-codes")
class ViolationCodes(MethodView):
    @roles_required()
    @blp.etag
    @blp.arguments(ViolationCodeQuery, location="query", as_kwargs=True)
    @blp.response(200, ViolationCodeSchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """The violation catalogue: codes, titles, legal basis under each decree, fine ranges"""
        items = list(domain.violation_catalogue().values())
        if filters.get("q"):
            items = [v for v in items if fold(filters["q"]) in fold(f"{v['code']} {v['title']}")]
        if filters.get("group"):
            items = [v for v in items if v["group"] == filters["group"]]
        if "signs_of_prostitution" in filters:
            items = [v for v in items if v["signs_of_prostitution"] == filters["signs_of_prostitution"]]
        return _page(items, pagination_parameters), CACHE
