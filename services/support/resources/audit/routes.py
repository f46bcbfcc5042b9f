"""/support/v1/audit: who read whose identity, when and why. Admins only; read only (no write method)."""
from __future__ import annotations

from flask.views import MethodView

from chassis.api import Blueprint
from chassis.auth import ADMIN, roles_required
from chassis.web import container
from services.support import views
from services.support.resources.audit.schemas import AuditEntrySchema, AuditQuery

blp = Blueprint("audit", __name__, description=(
    "Nhật ký truy cập — the audit of every read of an identity; break-the-glass reads are flagged."))


@blp.route("/audit")
class Audit(MethodView):
    @roles_required(ADMIN)
    @blp.arguments(AuditQuery, location="query", as_kwargs=True)
    @blp.response(200, AuditEntrySchema(many=True))
    @blp.paginate_query()
    def get(self, pagination_parameters, **filters):
        """The audit log (filter by person, actor, break-the-glass, since)"""
        items, total = container().read(views.search_audit, filters, pagination_parameters.page,
                                        pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items
